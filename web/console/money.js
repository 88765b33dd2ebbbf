// Credits as the API writes them: Decimal strings with two decimals ("-15.00"). Never a JS Number:
// amounts are parsed into BigInt hundredths, compared and formatted from there.

const AMOUNT = /^-?[0-9]+(\.[0-9]{1,2})?$/;

/** Whether `text` is an amount the API accepts ("100", "12.5", "-3.25"). */
export function isAmount(text) {
  return AMOUNT.test(String(text).trim());
}

/** "12.5" → 1250n; null when `text` is not an amount. */
export function toCents(text) {
  const value = String(text).trim();
  if (!AMOUNT.test(value)) return null;
  const negative = value.startsWith("-");
  const [whole, fraction = ""] = value.replace("-", "").split(".");
  const cents = BigInt(whole) * 100n + BigInt((fraction + "00").slice(0, 2));
  return negative ? -cents : cents;
}

/** 1250n → "12.50", -1500n → "-15.00". */
export function formatCents(cents) {
  const negative = cents < 0n;
  const absolute = negative ? -cents : cents;
  const fraction = String(absolute % 100n).padStart(2, "0");
  return `${negative ? "-" : ""}${absolute / 100n}.${fraction}`;
}

/** The API's form of a typed amount ("100" → "100.00"); null when it is not one. */
export function normalize(text) {
  const cents = toCents(text);
  return cents === null ? null : formatCents(cents);
}

/** -1, 0 or 1 as `a` is below, equal to or above `b` (both Decimal strings). */
export function compare(a, b) {
  const x = toCents(a);
  const y = toCents(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The state of a balance: "negative" below zero, "low" below the threshold, else "ok". */
export function balanceState(balance, threshold) {
  if (balance == null) return "unknown";
  if (compare(balance, "0") < 0) return "negative";
  if (threshold != null && compare(balance, threshold) < 0) return "low";
  return "ok";
}

/** A signed amount for a ledger table: "+100.00", "-40.00". */
export function signed(amount) {
  return compare(amount, "0") > 0 ? `+${amount}` : amount;
}

// Credits as the API writes them: Decimal strings with two decimals ("-15.00"). Never a JS Number:
// amounts are shown by rewriting the string, typed amounts are read back into the API's string
// form, and comparisons go through BigInt hundredths.
//
// Shown: grouped with commas, a real minus sign (U+2212), always two decimals: "−765,432.11".
// Typed: "1,000", "1 000.50", "1000", "+5", "−5" (U+2212 or a hyphen); at most two decimals.

const AMOUNT = /^-?[0-9]+(\.[0-9]{1,2})?$/;
/** The minus sign shown; typed amounts may use it, a hyphen-minus or an en dash. */
export const MINUS = "\u2212";
/** Every amount's absolute value stays below 10^12 credits (API.md), i.e. 10^14 hundredths. */
const LIMIT_CENTS = 10n ** 14n;

/** Whether `text` is an amount in the API's own form ("100", "12.5", "-3.25"). */
export function isAmount(text) {
  return AMOUNT.test(String(text).trim());
}

/** "12.5" → 1250n; null when `text` is not an amount in the API's form. */
export function toCents(text) {
  const value = String(text).trim();
  if (!AMOUNT.test(value)) return null;
  const negative = value.startsWith("-");
  const [whole, fraction = ""] = value.replace("-", "").split(".");
  const cents = BigInt(whole) * 100n + BigInt((fraction + "00").slice(0, 2));
  return negative ? -cents : cents;
}

/** 1250n → "12.50", -1500n → "-15.00": the API's form. */
export function formatCents(cents) {
  const negative = cents < 0n;
  const absolute = negative ? -cents : cents;
  const fraction = String(absolute % 100n).padStart(2, "0");
  return `${negative ? "-" : ""}${absolute / 100n}.${fraction}`;
}

/** The API's form of an amount in its own form ("100" → "100.00"); null when it is not one. */
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

/**
 * An API Decimal string as people read it: "-765432.11" → "−765,432.11", "1000" → "1,000.00",
 * "-0.00" → "0.00". Only the string is rewritten; anything that is not an amount is shown as is.
 */
export function formatAmount(decimal) {
  const text = String(decimal ?? "").trim();
  const parts = /^(-?)([0-9]+)(?:\.([0-9]{1,2}))?$/.exec(text);
  if (!parts) return text;
  const whole = parts[2].replace(/^0+(?=[0-9])/, "");
  const fraction = (parts[3] ?? "").padEnd(2, "0");
  const zero = whole === "0" && fraction === "00";
  const grouped = whole.replace(/\B(?=([0-9]{3})+$)/g, ",");
  return `${parts[1] && !zero ? MINUS : ""}${grouped}.${fraction}`;
}

/** For a sentence or a card without a "credits" label: "−765,432.11 credits". */
export function formatCredits(decimal) {
  return `${formatAmount(decimal)} credits`;
}

/** A signed amount for a ledger: "+1,000.00", "−40.00", "0.00". */
export function signed(decimal) {
  const shown = formatAmount(decimal);
  return /^[1-9]|^0\.(?!00)/.test(shown) ? `+${shown}` : shown;
}

// What a typed amount may look like: digits, optionally grouped in threes by one kind of separator
// (comma, space, no-break or thin space), then a point and decimals. Signs are taken off first.
const TYPED = /^(?:([0-9]+)|([0-9]{1,3}(?:([, \u00a0\u202f\u2009])[0-9]{3})(?:\3[0-9]{3})*))?(?:\.([0-9]*))?$/;
const SIGN = /^[-\u2212\u2013+]/;

/** What the console says about typed amounts it cannot use, by the reason. */
export const AMOUNT_MESSAGES = {
  empty: "Enter an amount, like 1,000.50.",
  unreadable: "Enter an amount like 1,000.50 — digits, with commas or spaces between thousands and a point before the decimals.",
  decimals: "Enter an amount like 1,000.50 — at most two decimals.",
  comma: "Use a point before the decimals, like 12.50 (a comma separates thousands: 1,000).",
  tooLarge: "Enter an amount below 1,000,000,000,000 credits.",
  negative: "Enter an amount of zero or more, without a minus sign.",
  zero: "Enter an amount above zero.",
};

/**
 * Read a typed amount: {value: "1000.50"} in the API's form, or {error, message} saying what is
 * wrong ("1.234": decimals). `negative: true` lets a minus through; `zero: false` refuses zero.
 * `messages` overrides AMOUNT_MESSAGES for the field's own words.
 */
export function parseAmount(text, { negative = false, zero = true, messages = {} } = {}) {
  const say = (error) => ({ error, message: messages[error] || AMOUNT_MESSAGES[error] });
  let rest = String(text ?? "").trim();
  if (rest === "") return say("empty");
  let minus = false;
  if (SIGN.test(rest)) {
    minus = rest[0] !== "+";
    rest = rest.slice(1).trimStart();
  }
  const parts = TYPED.exec(rest);
  if (!parts || !/[0-9]/.test(rest)) {
    if (/^[0-9]+,[0-9]{1,2}$/.test(rest)) return say("comma");
    if (/^[0-9, \u00a0\u202f\u2009]*\.[0-9]{3,}$/.test(rest)) return say("decimals");
    return say("unreadable");
  }
  const fraction = parts[4] ?? "";
  if (fraction.length > 2) return say("decimals");
  const whole = (parts[1] ?? parts[2] ?? "0").replace(/[^0-9]/g, "") || "0";
  const magnitude = BigInt(whole) * 100n + BigInt(fraction.padEnd(2, "0"));
  if (magnitude >= LIMIT_CENTS) return say("tooLarge");
  if (minus && magnitude > 0n && !negative) return say("negative");
  if (magnitude === 0n && !zero) return say("zero");
  return { value: formatCents(minus ? -magnitude : magnitude) };
}

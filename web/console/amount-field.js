// A labelled amount input: it reads "1,000", "1 000.50", "1000" (and "−5" where a negative makes
// sense), says beside the field what it cannot read, and hands over the API's Decimal string.
import { field, setError } from "./dom.js";
import { formatAmount, parseAmount } from "./money.js";

export const AMOUNT_HINT = "Up to two decimals, e.g. 1,000.50.";

/**
 * {wrap, input, error, read()}: `read()` gives {value} (the API's form; null when `optional` and
 * empty) or {error, message}, and shows the message beside the field. `negative` lets a minus sign
 * through (the keyboard then has one); `zero: false` refuses zero; `messages` has the field's words.
 */
export function amountField(label, { name, hint = AMOUNT_HINT, value = null, negative = false, zero = true, optional = false, messages = {} } = {}) {
  const attributes = { name, inputmode: negative ? "text" : "decimal", autocomplete: "off", spellcheck: "false", class: "amount-input" };
  const parts = field(label, attributes, hint);
  parts.input.value = value == null ? "" : formatAmount(value);
  const parse = () => (optional && parts.input.value.trim() === "" ? { value: null } : parseAmount(parts.input.value, { negative, zero, messages }));
  parts.read = () => {
    const result = parse();
    setError(parts, result.error ? result.message : null);
    return result;
  };
  // Leaving the field says at once what it cannot read; fixing it clears the message.
  parts.input.addEventListener("blur", () => {
    if (parts.input.value.trim() !== "" && !parts.input.disabled) parts.read();
  });
  parts.input.addEventListener("input", () => {
    if (!parts.error.hidden && !parse().error) setError(parts, null);
  });
  return parts;
}

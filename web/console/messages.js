// What the console says when the API refuses something, in the console's own words: one place,
// keyed by the contract's error code and the argument it names (the last part of `field`). The
// server's `message` is meant for developers ("name must be 1 to 200 characters", "10^12"); it is
// shown only for a code or argument this table does not know yet (clients tolerate new codes).

const URL_WORDS = [
  [/absolute/, "Enter a full address that starts with https://, like https://example.com/hooks."],
  [/credentials/, "Leave the user name and password out of the address."],
  [/whitespace|control/, "Remove the spaces from the address."],
  [/longer than/, "Use an address of at most 2,000 characters."],
  [/does not resolve to a public|non-public/, "This address is not on the public internet: webhooks go only to public servers."],
  [/does not resolve/, "No server answers to this host name: check its spelling."],
];

/** Words for `CODE argument` (or `CODE` alone); a function receives the error, for cases one code covers. */
const WORDS = {
  "INVALID_AMOUNT amount": "Enter an amount above zero, like 1,000.50 — at most two decimals.",
  "INVALID_AMOUNT creditPrice": "Enter a price of zero or more, like 12.50 — or leave it empty for not charged.",
  "INVALID_AMOUNT threshold": "Enter a threshold like 1,000.50 — at most two decimals.",
  INVALID_AMOUNT: "Enter an amount like 1,000.50 — at most two decimals, below 1,000,000,000,000.",
  "INVALID_AMOUNT minimumBalance": "Enter a minimum balance like −50.00 or 0.00 — at most two decimals — or leave it empty for none.",
  "INVALID_INPUT amount": (e) => (/negative/.test(e.message) ? "Enter a limit of zero or more, without a minus sign." : "Enter an amount above zero."),
  "INVALID_INPUT expiresInDays": "Enter a number of days from 1 to 3,650, or leave it empty for never.",
  "INVALID_INPUT maxPerDay": "Enter a whole number from 1 to 24, or leave it empty for 3.",
  "INVALID_INPUT days": "Enter a whole number of days from 1 to 365.",
  "NOT_FOUND userId": "This user no longer exists, or you may not see it.",
  "INVALID_INPUT name": "Enter a name of at most 200 characters.",
  "INVALID_INPUT email": (e) => (/exists/.test(e.message) ? "Someone already has an account with this email address." : "Enter an email address like name@example.com."),
  "INVALID_INPUT password": (e) => (/at most/.test(e.message) ? "Choose a shorter password: at most 1,024 characters." : "Choose a password of at least 8 characters."),
  "INVALID_INPUT customerId": "Choose a customer.",
  "INVALID_INPUT active": "You cannot deactivate your own account.",
  "INVALID_INPUT quantity": (e) => (/below/.test(e.message) ? "That many would cost 1,000,000,000,000 credits or more: request fewer." : "Enter a whole number, 1 or more."),
  "INVALID_INPUT priority": "Enter a whole number from 0 to 100, or leave it empty for 50.",
  "INVALID_INPUT expiresAt": "Choose a date and time in the future (at most 100 years ahead), or leave it empty.",
  "INVALID_INPUT note": "Keep the note to 1,000 characters.",
  "INVALID_INPUT reason": "Keep the reason to 1,000 characters.",
  "INVALID_INPUT description": "Keep the description to 500 characters.",
  "INVALID_INPUT url": (e) => URL_WORDS.find(([pattern]) => pattern.test(e.message))?.[1] || "Enter a web address like https://example.com/hooks.",
  "NOT_FOUND customerId": "This customer no longer exists, or you may not see it.",
  "NOT_FOUND serviceId": "This service no longer exists. Reload the page to see the catalog as it is.",
  NOT_FOUND: "It no longer exists, or you may not see it. Reload the page to see what is there now.",
  "INVALID_STATE customerId": "There are as many webhook endpoints as allowed: delete one first.",
  INVALID_STATE: (e) => (/disabled/.test(e.message) ? "The endpoint is disabled: enable it first." : "This was changed meanwhile (another tab or person acted first). The list now shows it as it is."),
  CREDIT_MANAGEMENT_DISABLED: "Credit management is off: turn it on in Catalog first.",
  IDEMPOTENCY_CONFLICT: "This action was already sent with other values. Change the form and try again.",
  INVALID_CREDENTIALS: "Wrong email or password.",
  "RATE_LIMITED id": "Too many test sends and redeliveries for this endpoint just now. Wait a minute and try again.",
  "RATE_LIMITED deliveryId": "Too many test sends and redeliveries for this endpoint just now. Wait a minute and try again.",
  RATE_LIMITED: "Too many attempts. Wait a few minutes and try again.",
  INSUFFICIENT_CREDITS: "Not enough credits: this would take the balance below its minimum balance, so nothing was done.",
  SPEND_LIMIT_EXCEEDED: "This would go over the spend limit for this period. Nothing was charged; an administrator can raise the limit.",
};

/** The server's sentence as a last resort: capitalised, with a full stop. */
function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "Something went wrong. Try again.";
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/**
 * The console's words for one userError ({code, field, message}). An error the console made itself
 * (no code) already carries its words in `message`.
 */
export function userErrorMessage(error) {
  if (!error.code) return error.message;
  const argument = error.field?.[error.field.length - 1];
  const words = WORDS[`${error.code} ${argument}`] ?? WORDS[error.code];
  if (words === undefined) return sentence(error.message);
  return typeof words === "function" ? words(error) : words;
}

/** Several userErrors as one text. */
export function userErrorsText(errors) {
  return errors.map(userErrorMessage).join(" ");
}

/** What to tell the user about a failed request (a top-level error, or the network). */
export function messageFor(error) {
  if (error.code === "FORBIDDEN") return "Your role may not do this.";
  if (error.code === "SERVICE_UNAVAILABLE") return "The service is busy or restarting. Try again in a moment: nothing was done twice.";
  if (error.code && WORDS[error.code] !== undefined) return userErrorMessage(error);
  return error.message || "Something went wrong. Try again.";
}

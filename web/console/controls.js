// Credit Management → Spending controls (catalog administrators): the customer's minimum balance
// and its auto top-up rule, with what the rule did today. Amounts stay Decimal strings.
import { h, field, setError } from "./dom.js";
import { bindMutation, messageFor, whileBusy } from "./forms.js";
import { amountField } from "./amount-field.js";
import { onChanges } from "./live.js";
import { formatAmount, formatCredits } from "./money.js";

const RULE = "threshold amount priority expiresInDays maxPerDay toppedUpToday";
const CONTROLS = `query Controls($id: ID!) { customer(id: $id) { id minimumBalance autoTopUp { ${RULE} } } }`;
const SET_MINIMUM = `mutation SetMinimumBalance($input: SetMinimumBalanceInput!) {
  setMinimumBalance(input: $input) { customer { id minimumBalance } userErrors { code field message } }
}`;
const SET_TOP_UP = `mutation SetAutoTopUp($input: SetAutoTopUpInput!) {
  setAutoTopUp(input: $input) { customer { id autoTopUp { ${RULE} } } userErrors { code field message } }
}`;
const DISABLE_TOP_UP = `mutation DisableAutoTopUp($id: ID!) {
  disableAutoTopUp(customerId: $id) { customer { id autoTopUp { ${RULE} } } userErrors { code field message } }
}`;

/** What the minimum balance does, in a sentence. */
export function minimumText(minimum) {
  if (minimum == null) return "No minimum balance: charges and withdrawals may take the balance below zero without limit.";
  return `Charges and withdrawals that would take the balance below ${formatCredits(minimum)} are refused.`;
}

/** What the auto top-up rule does, and did today, in a sentence. */
export function topUpText(rule) {
  if (!rule) return "Auto top-up is off.";
  const expiry = rule.expiresInDays == null ? "never expiring" : `expiring after ${rule.expiresInDays} day${rule.expiresInDays === 1 ? "" : "s"}`;
  return (
    `When a charge would take the balance below ${formatCredits(rule.threshold)}, ${formatCredits(rule.amount)} are added first ` +
    `(priority ${rule.priority}, ${expiry}), at most ${rule.maxPerDay} times a day (UTC). Topped up today: ${rule.toppedUpToday} of ${rule.maxPerDay}.`
  );
}

/** A whole-number field that may be left empty: its value, null when empty, or undefined (and the message shown). */
function readWhole(parts, message) {
  const text = parts.input.value.trim();
  setError(parts, null);
  if (text === "") return null;
  if (/^[0-9]{1,6}$/.test(text)) return Number.parseInt(text, 10);
  setError(parts, message);
  return undefined;
}

function minimumForm(client, customerId, state) {
  const minimum = amountField("Minimum balance (credits)", { name: "minimumBalance", negative: true, optional: true, hint: "For example −50.00 or 0.00. Empty: no minimum." });
  const text = h("p", { class: "muted", role: "status", tabindex: "-1" });
  const save = h("button", { type: "submit", class: "button" }, "Save minimum balance");
  const remove = h("button", { type: "submit", class: "button" }, "Remove minimum balance");
  const form = h("form", { class: "stack", novalidate: true, "aria-labelledby": "minimum-title" }, h("h3", { id: "minimum-title" }, "Minimum balance"), text, minimum.wrap, h("div", { class: "row-actions" }, save, remove));
  const show = (value, fill) => {
    text.textContent = minimumText(value);
    remove.hidden = value == null;
    if (fill) minimum.input.value = value == null ? "" : formatAmount(value);
  };
  let removing = false;
  form.addEventListener("submit", (event) => {
    removing = event.submitter === remove;
    if (removing || !minimum.read().error) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    minimum.input.focus();
  });
  bindMutation(form, {
    fields: { minimumBalance: minimum },
    run: async () => {
      const value = removing ? null : minimum.read().value;
      return (await client.request(SET_MINIMUM, { input: { customerId, minimumBalance: value } })).setMinimumBalance;
    },
    done: async (payload) => {
      show(payload.customer.minimumBalance, true);
      text.focus();
    },
  });
  state.push((customer, fill) => show(customer.minimumBalance, fill));
  return form;
}

function topUpForm(client, customerId, state) {
  const threshold = amountField("Top up when the balance would fall below", { name: "threshold", negative: true, hint: "Up to two decimals, e.g. 100.00; may be below zero." });
  const amount = amountField("Credits added each time", { name: "amount", zero: false });
  const priority = field("Priority of the added credits", { name: "priority", inputmode: "numeric", autocomplete: "off" }, "0 to 100; lower is used first. Empty: 50.");
  const expires = field("Added credits expire after (days)", { name: "expiresInDays", inputmode: "numeric", autocomplete: "off" }, "1 to 3,650. Empty: never.");
  const perDay = field("Top-ups a day at most", { name: "maxPerDay", inputmode: "numeric", autocomplete: "off" }, "1 to 24 a UTC day. Empty: 3.");
  const text = h("p", { class: "muted", role: "status", tabindex: "-1" });
  const save = h("button", { type: "submit", class: "button" }, "Save auto top-up");
  const disable = h("button", { type: "button", class: "button" }, "Disable auto top-up");
  const form = h("form", { class: "stack", novalidate: true, "aria-labelledby": "top-up-title" }, h("h3", { id: "top-up-title" }, "Auto top-up"), text, threshold.wrap, amount.wrap, priority.wrap, expires.wrap, perDay.wrap, h("div", { class: "row-actions" }, save, disable));
  const show = (rule, fill) => {
    text.textContent = topUpText(rule);
    disable.hidden = !rule;
    if (!fill) return;
    threshold.input.value = rule ? formatAmount(rule.threshold) : "";
    amount.input.value = rule ? formatAmount(rule.amount) : "";
    priority.input.value = rule ? String(rule.priority) : "";
    expires.input.value = rule?.expiresInDays == null ? "" : String(rule.expiresInDays);
    perDay.input.value = rule ? String(rule.maxPerDay) : "";
  };
  let terms = null;
  // What the browser can tell: readable amounts and whole numbers. Ranges are the API's (messages.js).
  form.addEventListener("submit", (event) => {
    const values = [threshold.read(), amount.read()];
    const whole = "Enter a whole number, or leave it empty.";
    const numbers = [readWhole(priority, whole), readWhole(expires, whole), readWhole(perDay, whole)];
    const wrong = [threshold, amount, priority, expires, perDay].find((parts) => !parts.error.hidden);
    if (!wrong) {
      terms = { threshold: values[0].value, amount: values[1].value, priority: numbers[0], expiresInDays: numbers[1], maxPerDay: numbers[2] };
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
    wrong.input.focus();
  });
  bindMutation(form, {
    fields: { threshold, amount, priority, expiresInDays: expires, maxPerDay: perDay },
    run: async () => (await client.request(SET_TOP_UP, { input: { customerId, ...terms } })).setAutoTopUp,
    done: async (payload) => {
      show(payload.customer.autoTopUp, true);
      text.focus();
    },
  });
  const status = h("p", { class: "form-status", role: "alert", hidden: true });
  form.append(status);
  disable.addEventListener("click", async () => {
    status.hidden = true;
    await whileBusy(disable, async () => {
      try {
        const payload = (await client.request(DISABLE_TOP_UP, { id: customerId })).disableAutoTopUp;
        if (payload.customer) show(payload.customer.autoTopUp, true);
      } catch (error) {
        status.textContent = messageFor(error);
        status.hidden = false;
      }
    });
    text.focus();
  });
  state.push((customer, fill) => show(customer.autoTopUp, fill));
  return form;
}

/** The Spending controls card of one customer, its "topped up today" kept current: {element, ready, stop}. */
export function controlsPanel(client, customerId, watch) {
  const state = [];
  const element = h(
    "section",
    { class: "card", "aria-labelledby": "controls-section" },
    h("h2", { id: "controls-section" }, "Spending controls"),
    // Each form in its own box: the grid stretches the box, not the form's rows.
    h("div", { class: "grid two" }, h("div", {}, minimumForm(client, customerId, state)), h("div", {}, topUpForm(client, customerId, state))),
  );
  const load = async (fill) => {
    const customer = (await client.request(CONTROLS, { id: customerId })).customer;
    for (const show of state) show(customer, fill);
  };
  // A charge may top up: the sentence follows; the fields keep what is being typed.
  const stopChanges = onChanges(watch, () => load(false).catch(() => {}));
  // Set elsewhere (another tab or administrator): shown, unless a field here is being edited.
  const onSettings = () => load(!element.contains(document.activeElement)).catch(() => {});
  watch.addEventListener("settings", onSettings);
  const ready = load(true);
  const stop = () => {
    stopChanges();
    watch.removeEventListener("settings", onSettings);
  };
  return { element, ready, stop };
}

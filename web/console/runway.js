// The runway in words ("At the current rate, credits run out on 14 Dec; 70.00 will expire unused
// first") and the runway alert setting. Loaded with import() once the dashboard (or the end user's
// Services screen) has drawn, so it adds nothing to their first load.
import { h, field, setError, uid } from "./dom.js";
import { bindMutation } from "./forms.js";
import { onChanges } from "./live.js";
import { compare, formatAmount, formatCredits } from "./money.js";

const RUNWAY = `query Runway($id: ID) {
  customer(id: $id) { id balance runway { burnRatePerDay depletesAt expiringBeforeDepletion } }
}`;
const RUNWAY_ALERT = `query RunwayAlert($id: ID) { customer(id: $id) { id runwayAlertDays } }`;
const SET_RUNWAY_ALERT = `mutation SetRunwayAlert($input: SetRunwayAlertInput!) {
  setRunwayAlert(input: $input) { customer { id runwayAlertDays } userErrors { code field message } }
}`;

/** "14 Dec", or "14 Dec 2027" outside this year, in the viewer's time zone. */
export function dayText(iso, now = new Date()) {
  const at = new Date(iso);
  const options = { day: "numeric", month: "short" };
  if (at.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return at.toLocaleDateString(undefined, options);
}

/** The sentence for a balance and its Customer.runway. */
export function runwaySentence(balance, runway) {
  const expiring = compare(runway.expiringBeforeDepletion, "0") > 0 ? runway.expiringBeforeDepletion : null;
  if (runway.depletesAt) {
    const first = expiring ? `; ${formatAmount(expiring)} will expire unused first` : "";
    const rate = ` The rate is the last 7 days' average: ${formatAmount(runway.burnRatePerDay)} a day.`;
    return `At the current rate, credits run out on ${dayText(runway.depletesAt)}${first}.${rate}`;
  }
  if (compare(balance, "0") <= 0) return "No credits left to forecast: the balance is at or below zero.";
  const unused = expiring ? ` ${formatCredits(expiring)} will expire unused.` : "";
  return `No credits were spent in the last 7 days, so they are not forecast to run out.${unused}`;
}

/** The runway sentence of one customer (null: the viewer's), redrawn as the balance moves: {element, stop}. */
export function runwayText(client, watch) {
  const text = h("p", { class: "runway", role: "status" });
  const draw = async () => {
    try {
      const customer = (await client.request(RUNWAY, { id: watch.customerId })).customer;
      text.textContent = runwaySentence(customer.balance, customer.runway);
    } catch {
      // The balance above still shows; the forecast waits for the next change.
    }
  };
  // A burst of charges is one read (onChanges: at most one every 300 ms).
  const stop = onChanges(watch, draw);
  watch.ready.then(draw, () => {});
  return { element: text, stop };
}

/** "Alert when credits will run out within N days": the customer's runwayAlertDays (1–365, or off). */
export function runwayAlertForm(client, watch) {
  const boxId = uid("runway-alert");
  const enabled = h("input", { type: "checkbox", id: boxId, name: "runwayEnabled", disabled: true });
  const days = field("Days of runway", { name: "days", inputmode: "numeric", autocomplete: "off", disabled: true }, "1 to 365.");
  const saved = h("p", { class: "success", role: "status", hidden: true, tabindex: "-1" });
  const submit = h("button", { type: "submit", class: "button" }, "Save runway alert");
  const form = h(
    "form",
    { class: "stack", novalidate: true, "aria-labelledby": `${boxId}-title` },
    h("h3", { id: `${boxId}-title` }, "Runway alert"),
    h("div", { class: "check" }, enabled, h("label", { for: boxId }, "Alert when credits will run out within")),
    days.wrap,
    h("div", {}, submit),
    saved,
  );
  const show = (value) => {
    enabled.disabled = false;
    enabled.checked = value != null;
    days.input.value = value == null ? "" : String(value);
    days.input.disabled = !enabled.checked;
  };
  enabled.addEventListener("change", () => {
    days.input.disabled = !enabled.checked;
    if (enabled.checked) days.input.focus();
  });
  form.addEventListener("input", () => (saved.hidden = true));
  // A value that is not a whole number goes no further; the range is the API's (messages.js).
  form.addEventListener("submit", (event) => {
    setError(days, null);
    if (!enabled.checked || /^[0-9]+$/.test(days.input.value.trim())) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    setError(days, "Enter a whole number of days from 1 to 365.");
    days.input.focus();
  });
  bindMutation(form, {
    fields: { days },
    run: async () => {
      const value = enabled.checked ? Number.parseInt(days.input.value.trim(), 10) : null;
      return (await client.request(SET_RUNWAY_ALERT, { input: { customerId: watch.customerId, days: value } })).setRunwayAlert;
    },
    done: async (payload) => {
      const value = payload.customer.runwayAlertDays;
      show(value);
      saved.textContent = value == null ? "Saved: runway alerts are off." : `Saved: you are alerted when credits will run out within ${value} day${value === 1 ? "" : "s"}.`;
      saved.hidden = false;
      saved.focus();
    },
  });
  const read = () =>
    client
      .request(RUNWAY_ALERT, { id: watch.customerId })
      .then((data) => show(data.customer.runwayAlertDays))
      .catch(() => {});
  watch.ready.then(read, () => {});
  // Set elsewhere (another tab, the catalog administrator): shown, unless it is being edited here.
  watch.addEventListener("settings", () => form.contains(document.activeElement) || read());
  return form;
}

/** The dashboard's part: the runway under the balance, its alert beside the threshold's. */
export function dashboardRunway(client, watch, balanceCard, alertsCard) {
  const runway = runwayText(client, watch);
  balanceCard.append(runway.element);
  alertsCard.append(runwayAlertForm(client, watch));
  return runway.stop;
}

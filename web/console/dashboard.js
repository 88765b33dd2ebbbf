// The customer administrator's dashboard: balance and alert state, the alert threshold, balance
// history, recent transactions and the customer's service requests (its users: users.js).
import { h, replace } from "./dom.js";
import { watchBalance } from "./live.js";
import { ledgerPanel } from "./ledger.js";
import { bindMutation } from "./forms.js";
import { amountField } from "./amount-field.js";
import { balanceState, formatAmount, formatCredits } from "./money.js";
import { requestsTable } from "./services.js";
import { expiresNext } from "./lots.js";

const SET_ALERT = `mutation SetAlert($input: SetCreditAlertInput!) {
  setCreditAlert(input: $input) { customer { id alertThreshold } userErrors { code field message } }
}`;
const STATE_TEXT = {
  negative: "Below zero: new requests still go through, and the balance stays negative until credits are added.",
  low: "Below your alert threshold.",
  ok: "Healthy.",
  unknown: "",
};

/** The balance summary card, kept live from `watch`. */
export function balanceCard(watch, title = "Balance") {
  const amount = h("span", { class: "amount" }, "…");
  const figure = h("p", { class: "big-number" }, amount, " ", h("span", { class: "unit" }, "credits"));
  const state = h("p", { class: "state-text" });
  const card = h("section", { class: "card balance-card" }, h("h2", {}, title), figure, state);
  const draw = () => {
    const current = balanceState(watch.balance, watch.threshold);
    amount.textContent = watch.balance == null ? "…" : formatAmount(watch.balance);
    figure.dataset.state = current;
    const threshold = watch.threshold ? ` Alert threshold: ${formatCredits(watch.threshold)}.` : " No alert threshold set.";
    state.textContent = (STATE_TEXT[current] || "") + threshold;
  };
  watch.addEventListener("change", draw);
  watch.addEventListener("ready", draw);
  watch.addEventListener("threshold", draw);
  draw();
  const stop = () => {
    watch.removeEventListener("change", draw);
    watch.removeEventListener("ready", draw);
    watch.removeEventListener("threshold", draw);
  };
  return { element: card, draw, stop };
}

/**
 * "Alert when credits fall below" check box + value, as the seed has it. The API takes a negative
 * threshold (an alert when the debt passes it); the console explains that and asks once more.
 */
export function thresholdForm(client, watch, onSaved) {
  // Disabled until the threshold is read: a box ticked before that would be undone by the read.
  const enabled = h("input", { type: "checkbox", id: "alert-enabled", name: "enabled", disabled: true });
  const value = amountField("Alert threshold (credits)", { name: "threshold", negative: true, hint: "Up to two decimals, e.g. 1,000.50. Set it below zero only to be alerted about a debt." });
  value.input.disabled = true;
  const sync = () => {
    enabled.disabled = false;
    enabled.checked = watch.threshold != null;
    value.input.value = watch.threshold == null ? "" : formatAmount(watch.threshold);
    value.input.disabled = !enabled.checked;
  };
  enabled.addEventListener("change", () => {
    value.input.disabled = !enabled.checked;
    if (enabled.checked) value.input.focus();
  });
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    h("div", { class: "check" }, enabled, h("label", { for: "alert-enabled" }, "Alert when credits fall below")),
    value.wrap,
  );
  const submit = h("button", { type: "submit", class: "button" }, "Save alert");
  const confirmBox = h("div", { class: "confirm", hidden: true, role: "group", "aria-label": "Confirm a negative threshold" });
  const saved = h("p", { class: "success", role: "status", hidden: true, tabindex: "-1" });
  form.append(h("div", {}, submit), confirmBox, saved);
  let confirmedNegative = null; // the negative threshold the user confirmed, until the form is edited
  const closeConfirm = () => {
    confirmBox.hidden = true;
    submit.hidden = false;
  };
  form.addEventListener("input", () => {
    confirmedNegative = null;
    closeConfirm();
  });
  // Before bindMutation's handler: an unreadable value goes no further, a negative one asks first.
  form.addEventListener("submit", (event) => {
    if (!enabled.checked) return;
    const typed = value.read();
    const stop = () => {
      event.preventDefault();
      event.stopImmediatePropagation();
    };
    if (typed.error) {
      stop();
      value.input.focus();
      return;
    }
    // Already confirmed, or the threshold already saved: no need to ask.
    if (!typed.value.startsWith("-") || typed.value === confirmedNegative || typed.value === watch.threshold) return;
    stop();
    const debt = formatCredits(typed.value.slice(1));
    const yes = h("button", { type: "button", class: "button primary" }, `Save ${formatAmount(typed.value)}`);
    const no = h("button", { type: "button", class: "button" }, "Change it");
    replace(
      confirmBox,
      h("p", {}, `A threshold below zero alerts only once the balance is more than ${debt} in debt, after the below-zero alert. Alert below ${formatCredits(typed.value)}?`),
      h("div", { class: "row-actions" }, yes, no),
    );
    confirmBox.hidden = false;
    submit.hidden = true;
    yes.focus();
    yes.addEventListener("click", () => {
      confirmedNegative = typed.value;
      closeConfirm();
      form.requestSubmit();
    });
    no.addEventListener("click", () => {
      closeConfirm();
      value.input.focus();
    });
  });
  bindMutation(form, {
    fields: { threshold: value },
    run: async () => {
      saved.hidden = true;
      const threshold = enabled.checked ? value.read().value : null;
      return (await client.request(SET_ALERT, { input: { customerId: watch.customerId, threshold } })).setCreditAlert;
    },
    done: async (payload) => {
      watch.threshold = payload.customer.alertThreshold;
      watch.dispatchEvent(new Event("threshold"));
      sync();
      confirmedNegative = null;
      saved.textContent = watch.threshold ? `Saved: you are alerted below ${formatCredits(watch.threshold)}.` : "Saved: threshold alerts are off.";
      saved.hidden = false;
      saved.focus();
      onSaved?.();
    },
  });
  watch.ready.then(sync, () => {});
  // Set elsewhere meanwhile (live): show it, unless the user is editing it here.
  watch.addEventListener("threshold", () => (form.contains(document.activeElement) && document.activeElement.matches("input")) || sync());
  return h("section", { class: "card" }, h("h2", {}, "Alerts"), h("p", { class: "muted" }, "Customer administrators are alerted in the app and by email when the balance falls below zero and, if set, below this threshold."), form);
}

export async function dashboard(main, { client, live, viewer }) {
  document.title = "Dashboard · Credits";
  const watch = watchBalance(live, client, null);
  const summary = balanceCard(watch);
  const expiring = expiresNext(client, watch);
  summary.element.append(expiring.element);
  const ledger = ledgerPanel(client, null, watch);
  const requests = requestsTable(client, { customerId: null, canCancel: true, title: "Service requests" });
  const alerts = thresholdForm(client, watch, summary.draw);
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Dashboard"), h("p", { class: "muted" }, viewer.customer?.name || "")),
    h("div", { class: "grid two" }, summary.element, alerts),
    ledger.element,
    requests.element,
  );
  const onChange = () => requests.refresh();
  watch.addEventListener("change", onChange);
  // The runway and its alert: their own module, fetched once the dashboard has drawn (first load).
  let left = false;
  let stopRunway = null;
  import("./runway.js")
    .then((runway) => left || (stopRunway = runway.dashboardRunway(client, watch, summary.element, alerts)))
    .catch(() => {});
  return () => {
    left = true;
    stopRunway?.();
    summary.stop();
    expiring.stop();
    ledger.stop();
    watch.removeEventListener("change", onChange);
    watch.release();
  };
}


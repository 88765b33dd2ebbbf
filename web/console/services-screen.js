// The Services screen: services with their credit prices and Request with a quantity, above the
// requests table (services.js); a request that would take the balance below zero asks first. Its
// own module: loaded when the screen is first opened, not with the Dashboard, which shows the table.
import { confirmBox } from "./confirm.js";
import { h, replace, field } from "./dom.js";
import { bindMutation } from "./forms.js";
import { onChanges, watchBalance } from "./live.js";
import { formatAmount, formatCents, formatCredits, toCents } from "./money.js";
import { requestsTable, transientStatus } from "./services.js";
import { spendLimitText } from "./spend-limit.js";
import { stylesheet } from "./stylesheet.js";

await stylesheet("screens.css");

const SERVICES = `query Services { services { id name creditPrice } }`;
const OWN_LIMIT = `query OwnLimit { viewer { id spendLimit { amount period spent resetsAt } } }`;
const REQUEST = `mutation Request($input: RequestServiceInput!) {
  requestService(input: $input) { serviceRequest { id quantity amount status } userErrors { code field message } }
}`;

/**
 * One service with its Request form. A request that would take the balance below zero (price ×
 * quantity against the live balance, in hundredths) asks first, in `warning`; results go to `status`.
 */
function serviceRow(client, service, { onRequested, status, warning, balance }) {
  const quantity = field(`Quantity of ${service.name}`, { name: "quantity", type: "number", min: "1", step: "1", value: "1", class: "qty", inputmode: "numeric" });
  quantity.wrap.classList.add("inline");
  quantity.wrap.querySelector("label").classList.add("visually-hidden");
  const submit = h("button", { type: "submit", class: "button primary small" }, "Request");
  const form = h("form", { class: "request-form", novalidate: true }, quantity.wrap, submit);
  const count = () => {
    const value = quantity.input.value.trim();
    return /^[0-9]+$/.test(value) && Number.parseInt(value, 10) >= 1 ? Number.parseInt(value, 10) : null;
  };
  let confirmed = false;
  form.addEventListener("submit", async (event) => {
    status.clear();
    warning.close();
    if (confirmed) return;
    const units = count();
    const now = balance();
    if (units === null || now === null || service.creditPrice == null) return;
    const cost = toCents(service.creditPrice) * BigInt(units);
    const after = toCents(now) - cost;
    if (cost === 0n || after >= 0n) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const text = `${service.name}${units > 1 ? ` × ${units}` : ""} costs ${formatCredits(formatCents(cost))}: the balance goes from ${formatCredits(now)} to ${formatCredits(formatCents(after))}, below zero.`;
    if (!(await warning.ask({ text, yes: "Request anyway", no: "Don't request", from: submit }))) return;
    confirmed = true;
    form.requestSubmit();
    confirmed = false;
  });
  bindMutation(form, {
    keyed: true,
    fields: { quantity },
    run: async (key) => {
      const units = count();
      if (units === null) return { userErrors: [{ field: ["input", "quantity"], message: "Enter a whole number, 1 or more." }] };
      return (await client.request(REQUEST, { input: { serviceId: service.id, quantity: units, idempotencyKey: key } })).requestService;
    },
    done: async (payload) => {
      const units = payload.serviceRequest.quantity ?? count();
      status.say(`Requested ${service.name}${units > 1 ? ` × ${units}` : ""}: ${formatCredits(payload.serviceRequest.amount)}.`);
      onRequested();
    },
  });
  form.addEventListener("input", () => warning.close());
  return h("tr", {}, h("th", { scope: "row" }, service.name), h("td", { class: "num" }, service.creditPrice == null ? "Free" : formatAmount(service.creditPrice)), h("td", { class: "actions" }, form));
}

/** The viewer's own spend limit, if it has one ("Your spend limit: 40.00 of 50.00 this month, …"), read
 * again after the balance's changes (a request charges, a refund gives back): {element, stop}. */
function ownLimit(client, watch) {
  const element = h("p", { class: "spend-limit-line", hidden: true });
  const read = async () => {
    try {
      const limit = (await client.request(OWN_LIMIT)).viewer.spendLimit;
      element.hidden = !limit;
      element.textContent = limit ? `Your spend limit: ${spendLimitText(limit)}.` : "";
    } catch {
      // The line stays as it was; the next request or refund reads it again.
    }
  };
  read();
  return { element, stop: onChanges(watch, read) };
}

export async function services(main, { client, live, viewer }) {
  document.title = "Services · Credits";
  const own = viewer.role === "END_USER";
  const requests = requestsTable(client, { customerId: null, canCancel: true, title: own ? "Your requests" : "Service requests" });
  const list = h("tbody");
  const status = transientStatus();
  const warning = confirmBox();
  // The live balance (as the top menu shows it): a refund or a charge made elsewhere moves it.
  const watch = watchBalance(live, client, null);
  const limit = ownLimit(client, watch);
  const onChange = () => requests.refresh();
  watch.addEventListener("change", onChange);
  let left = false;
  let stopRunway = null;
  const stop = () => {
    left = true;
    stopRunway?.();
    limit.stop();
    watch.removeEventListener("change", onChange);
    watch.release();
  };
  const card = h("section", { class: "card" }, h("h2", {}, "Request a service"), status.element, h("div", { class: "table-wrap" }, h("table", { class: "table", "aria-label": "Services" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Service"), h("th", { scope: "col", class: "num" }, "Credits each"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Request")))), list)), warning.element, limit.element);
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Services"), h("p", { class: "muted" }, "Each request debits its price × quantity from your organisation's credits at once; a cancelled request gets its credits back.")),
    card,
    requests.element,
  );
  let found;
  try {
    found = (await client.request(SERVICES)).services;
  } catch (error) {
    stop();
    throw error;
  }
  if (!found.length) list.append(h("tr", {}, h("td", { colspan: 3, class: "empty" }, "No services yet. The catalog administrator adds them.")));
  // End users read the runway like the balance: the sentence only, from its own module. It goes
  // under the services table: a sentence that grows after a request must not move Request buttons.
  if (own) {
    import("./runway.js")
      .then((runway) => {
        if (left) return;
        const text = runway.runwayText(client, watch);
        card.append(text.element);
        stopRunway = text.stop;
      })
      .catch(() => {});
  }
  const balance = () => watch.balance ?? null;
  for (const service of found) list.append(serviceRow(client, service, { onRequested: () => requests.refresh(), status, warning, balance }));
  return stop;
}

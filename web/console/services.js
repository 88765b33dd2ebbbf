// Services with their credit prices, Request with a quantity, and service requests with Cancel.
// An end user sees its own requests; a customer administrator its customer's.
import "./relative-time-define.js";
import { h, replace, field } from "./dom.js";
import { bindMutation, messageFor } from "./forms.js";
import { watchBalance } from "./live.js";
import { userErrorsText } from "./messages.js";
import { formatAmount, formatCredits } from "./money.js";

const SERVICES = `query Services { services { id name creditPrice } }`;
const REQUESTS = `query Requests($id: ID) {
  customer(id: $id) {
    id
    serviceRequests(first: 50) { nodes { id quantity amount status reason createdAt service { name } requestedBy { name email } } }
  }
}`;
const ALL_REQUESTS = `query AllRequests($status: ServiceRequestStatus, $after: String) {
  serviceRequests(status: $status, first: 50, after: $after) {
    nodes { id quantity amount status reason createdAt service { name } requestedBy { name email } customer { id name } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const REQUEST = `mutation Request($input: RequestServiceInput!) {
  requestService(input: $input) { serviceRequest { id amount status } userErrors { code field message } }
}`;
const TRANSITIONS = {
  cancel: ["Cancel", `mutation Cancel($id: ID!) { cancelServiceRequest(id: $id) { serviceRequest { id status } userErrors { code field message } } }`, "cancelServiceRequest"],
  complete: ["Complete", `mutation Complete($id: ID!) { completeServiceRequest(id: $id) { serviceRequest { id status } userErrors { code field message } } }`, "completeServiceRequest"],
  fail: ["Fail", `mutation Fail($id: ID!, $reason: String) { failServiceRequest(id: $id, reason: $reason) { serviceRequest { id status } userErrors { code field message } } }`, "failServiceRequest"],
  reject: ["Reject", `mutation Reject($id: ID!, $reason: String) { rejectServiceRequest(id: $id, reason: $reason) { serviceRequest { id status } userErrors { code field message } } }`, "rejectServiceRequest"],
};
const STATUS = { REQUESTED: "Requested", COMPLETED: "Completed", CANCELLED: "Cancelled", FAILED: "Failed", REJECTED: "Rejected" };

/**
 * A customer's service requests with their actions: Cancel for customer roles, Complete, Fail and
 * Reject (with a reason) for the catalog administrator.
 */
export function requestsTable(client, { customerId, canCancel = false, canDecide = false, title = "Requests", across = false, status = null }) {
  const body = h("tbody");
  const message = h("p", { class: "form-status", role: "alert", hidden: true });
  const columns = across ? 8 : 7;
  const more = h("button", { type: "button", class: "button", hidden: true }, "Show more requests");
  let shown = 50;
  more.addEventListener("click", () => {
    shown += 50;
    refresh();
  });

  async function act(kind, request, reason = null) {
    const [, mutation, name] = TRANSITIONS[kind];
    message.hidden = true;
    try {
      const payload = (await client.request(mutation, { id: request.id, reason }))[name];
      if (payload.userErrors.length) {
        message.textContent = userErrorsText(payload.userErrors);
        message.hidden = false;
      }
    } catch (error) {
      message.textContent = messageFor(error);
      message.hidden = false;
    }
    await refresh();
  }

  function actions(request) {
    if (request.status !== "REQUESTED") return request.reason ? h("span", { class: "muted small" }, request.reason) : "";
    const cell = h("div", { class: "row-actions" });
    if (canCancel) cell.append(h("button", { type: "button", class: "button small", onclick: () => act("cancel", request) }, "Cancel"));
    if (canDecide) {
      cell.append(h("button", { type: "button", class: "button small", onclick: () => act("complete", request) }, "Complete"));
      const reasonId = `reason-${request.id}`;
      const reason = h("input", { id: reasonId, class: "small-input", placeholder: "Reason", autocomplete: "off" });
      cell.append(
        h("label", { for: reasonId, class: "visually-hidden" }, `Reason for ${request.service.name}${request.customer ? ` of ${request.customer.name}` : ""}`),
        reason,
        h("button", { type: "button", class: "button small", onclick: () => act("fail", request, reason.value || null) }, "Fail"),
        h("button", { type: "button", class: "button small danger", onclick: () => act("reject", request, reason.value || null) }, "Reject"),
      );
    }
    return cell;
  }

  // Coalesced: a burst of balance events (a replay after reconnecting) costs at most two reads.
  let running = null;
  let again = false;
  function refresh() {
    if (running) {
      again = true;
      return running;
    }
    running = load().finally(() => {
      running = null;
      if (again) {
        again = false;
        refresh();
      }
    });
    return running;
  }

  // Across customers: the first `shown` requests of the status, read again page by page.
  async function readAcross() {
    const nodes = [];
    let after = null;
    let hasMore = true;
    while (hasMore && nodes.length < shown) {
      const page = (await client.request(ALL_REQUESTS, { status: table.status, after })).serviceRequests;
      nodes.push(...page.nodes);
      after = page.pageInfo.endCursor;
      hasMore = page.pageInfo.hasNextPage;
    }
    more.hidden = !hasMore;
    return nodes;
  }

  async function load() {
    let nodes = [];
    try {
      if (across) nodes = await readAcross();
      else nodes = (await client.request(REQUESTS, { id: customerId })).customer?.serviceRequests.nodes || [];
    } catch (error) {
      message.textContent = messageFor(error);
      message.hidden = false;
    }
    replace(body);
    const none = across && table.status === "REQUESTED" ? "No request is waiting for a decision." : "No service requests yet. Requests made from Services appear here.";
    if (!nodes.length) body.append(h("tr", {}, h("td", { colspan: columns, class: "empty" }, none)));
    for (const request of nodes) {
      body.append(
        h(
          "tr",
          { "data-request": request.id },
          h("td", { class: "when" }, h("relative-time", { datetime: request.createdAt })),
          across ? h("td", {}, h("a", { href: `/customers/${request.customer.id}` }, request.customer.name)) : null,
          h("td", {}, request.service.name),
          h("td", {}, request.requestedBy?.name || ""),
          h("td", { class: "num" }, String(request.quantity)),
          h("td", { class: "num" }, formatAmount(request.amount)),
          h("td", {}, h("span", { class: `pill ${request.status.toLowerCase()}` }, STATUS[request.status] || request.status)),
          h("td", { class: "actions" }, actions(request)),
        ),
      );
    }
  }

  const element = h(
    "section",
    { class: "card" },
    h("h2", {}, title),
    message,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "table", "aria-label": title },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Date"), across ? h("th", { scope: "col" }, "Customer") : null, h("th", { scope: "col" }, "Service"), h("th", { scope: "col" }, "By"), h("th", { scope: "col", class: "num" }, "Qty"), h("th", { scope: "col", class: "num" }, "Credits"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
        body,
      ),
    ),
    more,
  );
  const table = { element, refresh, status };
  refresh();
  return table;
}

function serviceRow(client, service, onRequested) {
  const quantity = field(`Quantity of ${service.name}`, { name: "quantity", type: "number", min: "1", step: "1", value: "1", class: "qty", inputmode: "numeric" });
  quantity.wrap.classList.add("inline");
  quantity.wrap.querySelector("label").classList.add("visually-hidden");
  const form = h("form", { class: "request-form", novalidate: true }, quantity.wrap, h("button", { type: "submit", class: "button primary small" }, "Request"));
  const result = h("span", { class: "success small", role: "status" });
  bindMutation(form, {
    keyed: true,
    fields: { quantity },
    run: async (key) => {
      const count = Number.parseInt(quantity.input.value, 10);
      if (!Number.isInteger(count) || count < 1) return { userErrors: [{ field: ["input", "quantity"], message: "Enter a whole number, 1 or more." }] };
      return (await client.request(REQUEST, { input: { serviceId: service.id, quantity: count, idempotencyKey: key } })).requestService;
    },
    done: async (payload) => {
      result.textContent = `Requested: ${formatCredits(payload.serviceRequest.amount)}.`;
      onRequested();
    },
  });
  return h("tr", {}, h("th", { scope: "row" }, service.name), h("td", { class: "num" }, service.creditPrice == null ? "Free" : formatAmount(service.creditPrice)), h("td", { class: "actions" }, form, result));
}

export async function services(main, { client, live, viewer }) {
  document.title = "Services · Credits";
  const own = viewer.role === "END_USER";
  const requests = requestsTable(client, { customerId: null, canCancel: true, title: own ? "Your requests" : "Service requests" });
  const list = h("tbody");
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Services"), h("p", { class: "muted" }, "Each request debits its price × quantity from your organisation's credits at once; a cancelled request gets its credits back.")),
    h("section", { class: "card" }, h("h2", {}, "Request a service"), h("div", { class: "table-wrap" }, h("table", { class: "table", "aria-label": "Services" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Service"), h("th", { scope: "col", class: "num" }, "Credits each"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Request")))), list))),
    requests.element,
  );
  const found = (await client.request(SERVICES)).services;
  if (!found.length) list.append(h("tr", {}, h("td", { colspan: 3, class: "empty" }, "No services yet. The catalog administrator adds them.")));
  for (const service of found) list.append(serviceRow(client, service, () => requests.refresh()));
  // A refund or a charge made elsewhere (a cancel in another tab, a rejection) moves the balance.
  const watch = watchBalance(live, client, null);
  const onChange = () => requests.refresh();
  watch.addEventListener("change", onChange);
  return () => {
    watch.removeEventListener("change", onChange);
    watch.release();
  };
}

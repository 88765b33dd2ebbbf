// Service requests with their actions, shared by the Dashboard, a customer's page, Requests and the
// Services screen (services-screen.js). An end user sees its own requests; a customer administrator
// its customer's. Results are said in a status line with its place reserved (nothing moves), which
// clears itself; the catalog administrator's Complete, Fail and Reject are in request-decisions.js.
import "./relative-time-define.js";
import { h, replace } from "./dom.js";
import { messageFor, whileBusy } from "./forms.js";
import { userErrorsText } from "./messages.js";
import { formatAmount, formatCredits, toCents } from "./money.js";

const REQUESTS = `query Requests($id: ID) {
  customer(id: $id) {
    id
    serviceRequests(first: 50) { nodes { id quantity amount status reason createdAt service { name } requestedBy { name email } } }
  }
}`;
const ALL_REQUESTS = `query AllRequests($status: ServiceRequestStatus, $after: String, $since: DateTime, $until: DateTime) {
  serviceRequests(status: $status, first: 50, after: $after, since: $since, until: $until) {
    nodes { id quantity amount status reason createdAt service { name } requestedBy { name email } customer { id name } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const TRANSITIONS = {
  cancel: ["Cancel", `mutation Cancel($id: ID!) { cancelServiceRequest(id: $id) { serviceRequest { id status } userErrors { code field message } } }`, "cancelServiceRequest"],
};
const STATUS = { REQUESTED: "Requested", COMPLETED: "Completed", CANCELLED: "Cancelled", FAILED: "Failed", REJECTED: "Rejected" };
const REFUNDED = ["CANCELLED", "FAILED", "REJECTED"];
const DONE = { cancel: "Cancelled", complete: "Completed", fail: "Failed", reject: "Rejected" };
// How long a result stays in its status line (the next action clears it sooner).
const STATUS_MS = 8000;

/** A status line in a fixed place (its height reserved): `say` shows a result, which clears itself. */
export function transientStatus(ms = STATUS_MS) {
  const element = h("p", { class: "transient-status success", role: "status", tabindex: "-1" });
  let timer = null;
  const clear = () => {
    clearTimeout(timer);
    element.textContent = "";
  };
  const say = (text) => {
    clear();
    element.textContent = text;
    timer = setTimeout(clear, ms);
  };
  return { element, say, clear };
}

/** What a request's service and customer are called in a sentence: "Translation of Xi GmbH". */
function named(request) {
  return `${request.service.name}${request.customer ? ` of ${request.customer.name}` : ""}`;
}

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

  // Complete, Fail and Reject come with their own module, loaded beside the first read of the list.
  const decisions = canDecide ? import("./request-decisions.js") : null;
  let decide = null;

  const said = transientStatus();
  // The open Fail/Reject confirmation (request id → its element), kept across the list's refreshes.
  const deciding = new Map();

  /** Run a transition with `button` busy (and the row's `others` disabled), then say what it did. */
  async function act(kind, request, reason = null, button = null, others = []) {
    const [, mutation, name] = TRANSITIONS[kind] || decide.DECISIONS[kind];
    message.hidden = true;
    said.clear();
    let done = false;
    const send = async () => {
      try {
        const payload = (await client.request(mutation, { id: request.id, reason }))[name];
        if (payload.userErrors.length) {
          message.textContent = userErrorsText(payload.userErrors);
          message.hidden = false;
        } else {
          done = true;
        }
      } catch (error) {
        message.textContent = messageFor(error);
        message.hidden = false;
      }
    };
    if (button) await whileBusy(button, send, others);
    else await send();
    deciding.delete(request.id);
    await refresh();
    if (done) {
      const refund = kind === "complete" || toCents(request.amount) === 0n ? "" : `; ${formatCredits(request.amount)} refunded`;
      said.say(`${DONE[kind]}: ${named(request)}${refund}.`);
    }
    // The row's buttons may be gone: focus goes to what the action did.
    (done ? said.element : message).focus();
  }

  function actions(request) {
    if (request.status !== "REQUESTED") {
      const refunded = REFUNDED.includes(request.status) && toCents(request.amount) > 0n;
      return h(
        "div",
        { class: "outcome small" },
        refunded ? h("span", { class: "refund" }, `Refunded ${formatAmount(request.amount)}`) : null,
        request.reason ? h("span", { class: "muted" }, request.reason) : null,
      );
    }
    const open = deciding.get(request.id);
    if (open) return open;
    const cell = h("div", { class: "row-actions" });
    // The row's buttons: the pressed one busy, the others disabled while it runs.
    const others = (button) => [...cell.querySelectorAll("button")].filter((b) => b !== button);
    const run = (kind) => (event) => act(kind, request, null, event.currentTarget, others(event.currentTarget));
    if (canCancel) cell.append(h("button", { type: "button", class: "button small", onclick: run("cancel") }, "Cancel"));
    if (decide) decide.decisionButtons(cell, request, { act, named, deciding, run });
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
      const page = (await client.request(ALL_REQUESTS, { status: table.status, since: table.since, until: table.until, after })).serviceRequests;
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
    decide ??= await decisions;
    // A refresh redraws every row: an open confirmation keeps its element, its text and the focus.
    const focused = document.activeElement;
    for (const id of [...deciding.keys()]) {
      if (!nodes.some((r) => r.id === id && r.status === "REQUESTED")) deciding.delete(id);
    }
    replace(body);
    const dated = across && (table.since || table.until);
    const none = dated ? "No request was made in these dates." : across && table.status === "REQUESTED" ? "No request is waiting for a decision." : "No service requests yet. Requests made from Services appear here.";
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
    if (focused && focused !== document.activeElement && body.contains(focused)) focused.focus();
  }

  const element = h(
    "section",
    { class: "card" },
    h("h2", {}, title),
    message,
    said.element,
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
  // Across customers: `status`, `since` and `until` (the API's moments) narrow the list.
  const table = { element, refresh, status, since: null, until: null };
  refresh();
  return table;
}

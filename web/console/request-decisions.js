// Complete, Fail and Reject: the catalog administrator's decisions in a requests table (services.js
// loads this module for tables that offer them, before their first rows). Fail and Reject ask for a
// reason and a confirmation, inline in the row.
import { h, field, setError } from "./dom.js";
import { formatCredits, toCents } from "./money.js";
import { stylesheet } from "./stylesheet.js";

await Promise.all([stylesheet("screens.css"), stylesheet("request-decisions.css")]);

/** Each decision: its label, its mutation, and the mutation's field. */
export const DECISIONS = {
  complete: ["Complete", `mutation Complete($id: ID!) { completeServiceRequest(id: $id) { serviceRequest { id status } userErrors { code field message } } }`, "completeServiceRequest"],
  fail: ["Fail", `mutation Fail($id: ID!, $reason: String) { failServiceRequest(id: $id, reason: $reason) { serviceRequest { id status } userErrors { code field message } } }`, "failServiceRequest"],
  reject: ["Reject", `mutation Reject($id: ID!, $reason: String) { rejectServiceRequest(id: $id, reason: $reason) { serviceRequest { id status } userErrors { code field message } } }`, "rejectServiceRequest"],
};

/**
 * Complete, Fail and Reject for `request`, appended to its row's `cell`. `table` is the requests
 * table's side: `act(kind, request, reason, button, others)`, `named(request)`, `deciding` (request id
 * → the open confirmation) and `run(kind)` (a click handler that acts at once).
 */
export function decisionButtons(cell, request, table) {
  const label = (verb) => `${verb} ${table.named(request)}`;
  const fail = h("button", { type: "button", class: "button small", "aria-label": label("Fail") }, "Fail");
  const reject = h("button", { type: "button", class: "button small danger", "aria-label": label("Reject") }, "Reject");
  fail.addEventListener("click", () => confirmDecision("fail", request, cell, fail, table));
  reject.addEventListener("click", () => confirmDecision("reject", request, cell, reject, table));
  cell.append(h("button", { type: "button", class: "button small", onclick: table.run("complete") }, "Complete"), fail, reject);
}

/** Fail or Reject: the reason and a confirmation, inline in the row. */
function confirmDecision(kind, request, cell, trigger, table) {
  const verb = kind === "fail" ? "fail" : "reject";
  const reason = field("Reason", { name: "reason", autocomplete: "off", class: "small-input", required: true }, `Shown to ${request.customer ? request.customer.name : "the customer"}.`);
  const yes = h("button", { type: "submit", class: `button small ${kind === "reject" ? "danger" : ""}` }, `Confirm: ${verb}`);
  const no = h("button", { type: "button", class: "button small" }, "Keep");
  const refund = toCents(request.amount) === 0n ? "" : ` and refund ${formatCredits(request.amount)}`;
  const box = h(
    "form",
    { class: "confirm decide", role: "group", "aria-label": `Confirm: ${verb} ${table.named(request)}`, novalidate: true },
    h("p", {}, `${verb === "fail" ? "Fail" : "Reject"} ${table.named(request)}${refund}?`),
    reason.wrap,
    h("div", { class: "row-actions" }, yes, no),
  );
  const close = () => {
    table.deciding.delete(request.id);
    box.replaceWith(cell);
    trigger.focus();
  };
  no.addEventListener("click", close);
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  box.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = reason.input.value.trim();
    if (!text) {
      setError(reason, `Say why it is ${verb === "fail" ? "failed" : "rejected"}: the customer sees this reason.`);
      reason.input.focus();
      return;
    }
    table.act(kind, request, text, yes, [no]);
  });
  table.deciding.set(request.id, box);
  cell.replaceWith(box);
  reason.input.focus();
}

// One service request, where the ledger's charges and refunds link to: the service, who asked,
// what it was charged and, once cancelled, failed or rejected, its refund (the ledger entries), its
// status and reason, and when it was made and last changed.
import "./relative-time-define.js";
import { h, replace } from "./dom.js";
import { formatAmount, formatCredits, signed, toCents } from "./money.js";
import { stylesheet } from "./stylesheet.js";

await stylesheet("screens.css");

const REQUEST = `query ServiceRequestDetail($id: ID!) {
  node(id: $id) {
    ... on ServiceRequest {
      id quantity amount status reason createdAt updatedAt
      service { name } customer { id name } requestedBy { name email }
      transactions { id sequence kind amount balanceAfter createdAt }
    }
  }
}`;
const STATUS = { REQUESTED: "Requested", COMPLETED: "Completed", CANCELLED: "Cancelled", FAILED: "Failed", REJECTED: "Rejected" };
const REFUNDED = ["CANCELLED", "FAILED", "REJECTED"];

/** A ledger entry in a sentence: "+40.00 credits, entry #3, balance after 100.00, 2 minutes ago". */
function entry(transaction) {
  return [`${signed(transaction.amount)} credits, entry #${transaction.sequence}, balance after ${formatAmount(transaction.balanceAfter)}, `, h("relative-time", { datetime: transaction.createdAt })];
}

/** What the request was charged: the amount, and its ledger entry when the viewer sees the ledger. */
function charged(request) {
  if (toCents(request.amount) === 0n) return ["Nothing (free or not charged)"];
  const charge = request.transactions.find((t) => t.kind === "SERVICE_CHARGE");
  return [h("span", { class: "num" }, formatCredits(request.amount)), charge ? h("span", { class: "muted small block" }, ...entry(charge)) : null];
}

/** The refund of a cancelled, failed or rejected request that was charged; null otherwise. */
function refunded(request) {
  if (!REFUNDED.includes(request.status) || toCents(request.amount) === 0n) return null;
  const refund = request.transactions.find((t) => t.kind === "REFUND");
  return fact("Refunded", h("span", { class: "num refund" }, formatCredits(request.amount)), refund ? h("span", { class: "muted small block" }, ...entry(refund)) : null);
}

function fact(term, ...value) {
  return [h("dt", {}, term), h("dd", {}, ...value)];
}

export async function requestDetail(main, { client, viewer }, id) {
  document.title = "Service request · Credits";
  const request = (await client.request(REQUEST, { id })).node;
  if (!request?.service) {
    replace(main, h("section", { class: "empty-state" }, h("h1", {}, "This request is not available"), h("p", {}, "It does not exist, or your role cannot open it.")));
    return;
  }
  const back = viewer.role === "CATALOG_ADMIN" ? `/customers/${request.customer.id}` : "/dashboard";
  document.title = `${request.service.name} request · Credits`;
  replace(
    main,
    h("div", { class: "page-head" }, h("p", {}, h("a", { href: back }, `← ${request.customer.name}`)), h("h1", {}, `${request.service.name} request`)),
    h(
      "section",
      { class: "card" },
      h(
        "dl",
        { class: "facts" },
        fact("Service", request.service.name),
        fact("Status", h("span", { class: `pill ${request.status.toLowerCase()}` }, STATUS[request.status] || request.status)),
        request.reason ? fact("Reason", request.reason) : null,
        fact("Quantity", String(request.quantity)),
        fact("Charged", ...charged(request)),
        refunded(request),
        fact("Requested by", request.requestedBy ? `${request.requestedBy.name} (${request.requestedBy.email})` : "—"),
        fact("Made", h("relative-time", { datetime: request.createdAt })),
        fact("Last changed", h("relative-time", { datetime: request.updatedAt })),
        fact("Request id", h("code", {}, request.id)),
      ),
    ),
  );
}

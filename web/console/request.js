// One service request, where the ledger's charges and refunds link to: the service, who asked,
// the amount, its status and reason, and when it was made and last changed.
import "./relative-time-define.js";
import { h, replace } from "./dom.js";

const REQUEST = `query ServiceRequestDetail($id: ID!) {
  node(id: $id) {
    ... on ServiceRequest {
      id quantity amount status reason createdAt updatedAt
      service { name } customer { id name } requestedBy { name email }
    }
  }
}`;
const STATUS = { REQUESTED: "Requested", COMPLETED: "Completed", CANCELLED: "Cancelled", FAILED: "Failed", REJECTED: "Rejected" };

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
        fact("Charged", h("span", { class: "num" }, `${request.amount} credits`)),
        fact("Requested by", request.requestedBy ? `${request.requestedBy.name} (${request.requestedBy.email})` : "—"),
        fact("Made", h("relative-time", { datetime: request.createdAt })),
        fact("Last changed", h("relative-time", { datetime: request.updatedAt })),
        fact("Request id", h("code", {}, request.id)),
      ),
    ),
  );
}

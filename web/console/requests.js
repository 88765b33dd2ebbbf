// The catalog administrator's Requests: every customer's service requests, REQUESTED ones first
// to complete, fail or reject with a reason; kept fresh by every customer's balance events.
import { h, replace } from "./dom.js";
import { requestsTable } from "./services.js";

const ALL_BALANCES = `subscription RequestsBalances { balanceChanged { customerId sequence } }`;
const STATUSES = [["REQUESTED", "Waiting for a decision"], ["", "All statuses"], ["COMPLETED", "Completed"], ["CANCELLED", "Cancelled"], ["FAILED", "Failed"], ["REJECTED", "Rejected"]];

export async function requests(main, { client, live }) {
  document.title = "Requests · Credits";
  const table = requestsTable(client, { across: true, canDecide: true, status: "REQUESTED", title: "Service requests" });
  const filter = h("select", { id: "request-status" }, STATUSES.map(([value, label]) => h("option", { value }, label)));
  filter.addEventListener("change", () => {
    table.status = filter.value || null;
    table.refresh();
  });
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Requests"), h("p", { class: "muted" }, "Service requests of every customer, newest first. Failing or rejecting one gives its credits back.")),
    h("div", { class: "toolbar" }, h("label", { for: "request-status" }, "Status"), filter),
    table.element,
  );
  // A charged request moves a balance: every customer's events say when to read the list again.
  return live.subscribe(ALL_BALANCES, {}, () => table.refresh());
}

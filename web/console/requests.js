// The catalog administrator's Requests: every customer's service requests, REQUESTED ones first
// to complete, fail or reject with a reason, optionally between two dates (From and To, as the
// ledger's); kept fresh by every customer's balance events.
import { h, replace, uid } from "./dom.js";
import { requestsTable } from "./services.js";
import { dateRange } from "./dates.js";
import { stylesheet } from "./stylesheet.js";

await stylesheet("requests.css");

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
  const fromId = uid("requests-from");
  const toId = uid("requests-to");
  const from = h("input", { id: fromId, type: "date", name: "from" });
  const to = h("input", { id: toId, type: "date", name: "to" });
  const status = h("p", { class: "form-status", role: "alert", hidden: true });
  const clear = h("button", { type: "button", class: "button small", hidden: true }, "All dates");
  const applyRange = () => {
    const range = dateRange(from.value, to.value);
    clear.hidden = !from.value && !to.value;
    status.textContent = range.error || "";
    status.hidden = !range.error;
    if (range.error) return;
    table.since = range.since;
    table.until = range.until;
    table.refresh();
  };
  from.addEventListener("change", applyRange);
  to.addEventListener("change", applyRange);
  clear.addEventListener("click", () => {
    from.value = to.value = "";
    applyRange();
    from.focus();
  });
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Requests"), h("p", { class: "muted" }, "Service requests of every customer, newest first. Failing or rejecting one gives its credits back.")),
    h(
      "div",
      { class: "toolbar request-filters" },
      h("label", { for: "request-status" }, "Status"),
      filter,
      h("div", { class: "toolbar-group", role: "group", "aria-label": "Requests made between dates" }, h("label", { for: fromId }, "From"), from, h("label", { for: toId }, "To"), to, clear),
    ),
    status,
    table.element,
  );
  // A charged request moves a balance: every customer's events say when to read the list again.
  return live.subscribe(ALL_BALANCES, {}, () => table.refresh());
}

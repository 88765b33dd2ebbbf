// The lots table of Credit Management: a customer's lots in consumption order, redrawn when its
// balance moves. Only that screen shows it (catalog.js imports it there).
import { h, replace } from "./dom.js";
import { formatAmount } from "./money.js";
import { onChanges } from "./live.js";
import { expiry } from "./lots.js";

const LOTS = `query Lots($id: ID, $after: String) {
  customer(id: $id) {
    lots(first: 50, after: $after) {
      nodes { id amount remaining priority expiresAt createdAt status transaction { sequence } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
const STATUS = { ACTIVE: "Active", DEPLETED: "Used up", EXPIRED: "Expired" };

/** The lots table of one customer: {element, stop}. */
export function lotsPanel(client, customerId, watch) {
  const body = h("tbody");
  const more = h("button", { type: "button", class: "button", hidden: true }, "Show more lots");
  const nodes = [];
  let cursor = null;

  function row(lot) {
    return h(
      "tr",
      { "data-lot": lot.id, class: lot.status === "ACTIVE" ? null : "inactive" },
      h("td", { class: "num" }, `#${lot.transaction.sequence}`),
      h("td", { class: "num" }, formatAmount(lot.amount)),
      h("td", { class: "num" }, formatAmount(lot.remaining)),
      h("td", { class: "num" }, String(lot.priority)),
      h("td", { class: "when" }, expiry(lot.expiresAt)),
      h("td", {}, h("span", { class: `lot-status ${lot.status.toLowerCase()}` }, STATUS[lot.status] || lot.status)),
    );
  }

  function draw() {
    replace(body);
    if (!nodes.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No credit lots yet. Each grant creates one.")));
    for (const lot of nodes) body.append(row(lot));
  }

  async function load(reset) {
    if (reset) {
      nodes.length = 0;
      cursor = null;
    }
    const page = (await client.request(LOTS, { id: customerId, after: cursor })).customer.lots;
    nodes.push(...page.nodes);
    cursor = page.pageInfo.endCursor;
    more.hidden = !page.pageInfo.hasNextPage;
    draw();
  }
  more.addEventListener("click", () => load(false));

  const element = h(
    "section",
    { class: "card", "aria-labelledby": "lots-section" },
    h("h2", { id: "lots-section" }, "Credit lots"),
    h("p", { class: "muted" }, "Charges use the lowest priority first, then the lot that expires soonest, then the oldest grant."),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "table", "aria-label": "Credit lots" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "num" }, "Granted in"), h("th", { scope: "col", class: "num" }, "Amount"), h("th", { scope: "col", class: "num" }, "Remaining"), h("th", { scope: "col", class: "num" }, "Priority"), h("th", { scope: "col" }, "Expires"), h("th", { scope: "col" }, "Status"))),
        body,
      ),
    ),
    more,
  );
  const stop = onChanges(watch, () => load(true).catch(() => {}));
  const ready = watch.ready.then(() => load(true));
  return { element, ready, stop };
}

// A customer's recent transactions (paged, newest first) and the balance-history chart, kept live
// from the customer's BalanceWatch: each ledger entry appears once, in sequence order.
import { h, replace, when } from "./dom.js";
import { balanceHistory } from "./chart.js";
import { signed } from "./money.js";
import { expiry } from "./lots.js";
import { ALLOCATIONS } from "./live.js";

const PAGE = `query Ledger($id: ID, $after: String) {
  customer(id: $id) {
    transactions(first: 20, after: $after) {
      nodes { id sequence kind amount balanceAfter createdAt note ${ALLOCATIONS} }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

const KIND = { GRANT: "Grant", WITHDRAWAL: "Withdrawal", SERVICE_CHARGE: "Service charge", REFUND: "Refund", EXPIRATION: "Expiry" };

/** "Lot from #3 (priority 50, expires 12 Dec 2026, 18:00)" or "Debt". */
function allocationLabel(allocation) {
  const lot = allocation.lot;
  if (!lot) return "Debt";
  return `Lot from #${lot.transaction.sequence} (priority ${lot.priority}, ${lot.expiresAt ? `expires ${expiry(lot.expiresAt)}` : "no expiry"})`;
}

/** The allocations of one entry, folded: "2 lots" opens the list. */
function allocationsCell(entry, open) {
  const allocations = entry.allocations || [];
  if (!allocations.length) return h("td", { class: "muted" }, "—");
  const lots = allocations.filter((a) => a.lot).length;
  const debt = allocations.length - lots;
  const summary = [lots ? `${lots} lot${lots === 1 ? "" : "s"}` : null, debt ? "debt" : null].filter(Boolean).join(" + ");
  const details = h(
    "details",
    { class: "allocations", open: open.has(entry.sequence) },
    h("summary", { "aria-label": `Allocations of transaction ${entry.sequence}: ${summary}` }, summary),
    h("ul", {}, allocations.map((a) => h("li", {}, h("span", {}, allocationLabel(a)), " ", h("span", { class: "num" }, signed(a.amount))))),
  );
  details.addEventListener("toggle", () => (details.open ? open.add(entry.sequence) : open.delete(entry.sequence)));
  return h("td", {}, details);
}

/** The ledger panel: {element, highlight(sequence)}; `watch` supplies live entries. */
export function ledgerPanel(client, customerId, watch) {
  const entries = new Map(); // sequence → entry
  const open = new Set(); // sequences whose allocations are unfolded (kept across redraws)
  let cursor = null;
  let hasMore = false;
  const body = h("tbody");
  const chart = balanceHistory(client, customerId, watch);
  const more = h("button", { type: "button", class: "button", hidden: true, onclick: () => load() }, "Show older transactions");
  const table = h(
    "table",
    { class: "table", "aria-label": "Recent transactions" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "num" }, "#"), h("th", { scope: "col" }, "Date"), h("th", { scope: "col" }, "Kind"), h("th", { scope: "col" }, "Note"), h("th", { scope: "col", class: "num" }, "Amount"), h("th", { scope: "col", class: "num" }, "Balance after"), h("th", { scope: "col" }, "Lots"))),
    body,
  );
  const element = h(
    "div",
    { class: "ledger" },
    h("section", { class: "card" }, h("h2", {}, "Balance history"), chart.element),
    h("section", { class: "card" }, h("h2", {}, "Recent transactions"), h("div", { class: "table-wrap" }, table), more),
  );

  function draw() {
    const sorted = [...entries.values()].sort((a, b) => b.sequence - a.sequence);
    replace(body);
    if (!sorted.length) {
      body.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No transactions yet. Granted credits and service charges appear here as they happen.")));
    }
    for (const entry of sorted) {
      body.append(
        h(
          "tr",
          { "data-sequence": entry.sequence, class: entry.fresh ? "fresh" : null },
          h("td", { class: "num" }, String(entry.sequence)),
          h("td", { class: "when" }, when(entry.createdAt)),
          h("td", {}, KIND[entry.kind] || entry.kind),
          h("td", { class: "note" }, entry.note || ""),
          h("td", { class: "num" }, signed(entry.amount)),
          h("td", { class: entry.balanceAfter.startsWith("-") ? "num negative" : "num" }, entry.balanceAfter),
          allocationsCell(entry, open),
        ),
      );
    }
    more.hidden = !hasMore;
  }

  async function load() {
    const data = await client.request(PAGE, { id: customerId, after: cursor });
    const page = data.customer.transactions;
    for (const node of page.nodes) if (!entries.has(node.sequence)) entries.set(node.sequence, node);
    cursor = page.pageInfo.endCursor;
    hasMore = page.pageInfo.hasNextPage;
    draw();
  }

  let frame = null;
  const onChange = (event) => {
    const entry = event.detail.transaction;
    if (entry && !entries.has(entry.sequence)) {
      entries.set(entry.sequence, { ...entry, fresh: true });
      // One redraw per animation frame, however many entries a replay brings at once.
      frame ??= requestAnimationFrame(() => {
        frame = null;
        draw();
      });
    }
  };
  watch.addEventListener("change", onChange);
  // After the watch's anchor: the page holds every entry up to it, the watch brings the later ones.
  const ready = watch.ready.then(load);
  const stop = () => {
    watch.removeEventListener("change", onChange);
    chart.stop();
  };
  return { element, ready, stop };
}

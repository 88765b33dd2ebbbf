// Credit lots: a customer's lots in consumption order (Credit Management) and what expires next
// (the dashboard), both redrawn when the customer's balance moves. Amounts stay Decimal strings.
import { h, replace } from "./dom.js";
import { compare, formatCents, formatCredits, formatAmount, toCents } from "./money.js";

const LOTS = `query Lots($id: ID, $after: String) {
  customer(id: $id) {
    lots(first: 50, after: $after) {
      nodes { id amount remaining priority expiresAt createdAt status transaction { sequence } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
const ACTIVE_LOTS = `query ActiveLots($id: ID) {
  customer(id: $id) { lots(status: ACTIVE, first: 50) { nodes { id remaining expiresAt } } }
}`;

const STATUS = { ACTIVE: "Active", DEPLETED: "Used up", EXPIRED: "Expired" };

/** "2026-12-12T00:00:00+00:00" → "12 Dec 2026, 00:00" in the viewer's time zone. */
export function expiry(iso) {
  if (!iso) return "Never";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** Redraw `draw` after the watch's changes, at most once per 300 ms (a burst of charges is one read). */
function onChanges(watch, draw) {
  let timer = null;
  const onChange = () => {
    timer ??= setTimeout(() => {
      timer = null;
      draw();
    }, 300);
  };
  watch.addEventListener("change", onChange);
  return () => {
    clearTimeout(timer);
    watch.removeEventListener("change", onChange);
  };
}

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

/** The soonest expiry among lots with credits left, and what expires then: {amount, at} or null. */
export function nextExpiry(lots) {
  const expiring = lots.filter((lot) => lot.expiresAt && compare(lot.remaining, "0") > 0);
  if (!expiring.length) return null;
  const at = expiring.map((lot) => lot.expiresAt).sort((a, b) => new Date(a) - new Date(b))[0];
  const day = new Date(at).toDateString();
  const cents = expiring.filter((lot) => new Date(lot.expiresAt).toDateString() === day).reduce((sum, lot) => sum + toCents(lot.remaining), 0n);
  return { amount: formatCents(cents), at };
}

/** "25.00 credits expire on 12 Dec" for the viewer's customer, kept current: {element, stop}. */
export function expiresNext(client, watch) {
  const text = h("p", { class: "expires-next", role: "status" });
  async function draw() {
    const lots = (await client.request(ACTIVE_LOTS, { id: watch.customerId })).customer.lots.nodes;
    const next = nextExpiry(lots);
    text.textContent = next
      ? `${formatCredits(next.amount)} expire on ${new Date(next.at).toLocaleDateString(undefined, { day: "numeric", month: "short" })}.`
      : "No credits are due to expire.";
  }
  const stop = onChanges(watch, () => draw().catch(() => {}));
  watch.ready.then(draw).catch(() => {});
  return { element: text, stop };
}

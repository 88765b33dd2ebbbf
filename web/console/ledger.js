// A customer's recent transactions (paged, newest first, optionally between two dates) and the
// balance-history chart, kept live from the customer's BalanceWatch: each ledger entry appears
// once, in sequence order. Charges and refunds name their service and link to the request; the
// whole ledger (or the chosen dates) downloads as CSV through a one-time link.
import "./relative-time-define.js";
import { h, replace, uid, when } from "./dom.js";
import { balanceHistory } from "./chart.js";
import { formatAmount, signed } from "./money.js";
import { ALLOCATIONS, SERVICE_REQUEST } from "./live.js";
import { messageFor } from "./forms.js";
import { dateRange } from "./dates.js";

const PAGE = `query Ledger($id: ID, $after: String, $since: DateTime, $until: DateTime) {
  customer(id: $id) {
    id
    transactions(first: 20, after: $after, since: $since, until: $until) {
      nodes { id sequence kind amount balanceAfter createdAt note ${SERVICE_REQUEST} ${ALLOCATIONS} }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
// How long a row that arrived live stays highlighted (the CSS animation fades it out).
const FRESH_MS = 4000;

const KIND = { GRANT: "Grant", WITHDRAWAL: "Withdrawal", SERVICE_CHARGE: "Service charge", REFUND: "Refund", EXPIRATION: "Expiry", AUTO_TOP_UP: "Auto top-up" };

/** "Lot from #3 (priority 50, expires 12 Dec 2026, 18:00)" or "Debt". */
function allocationLabel(allocation) {
  const lot = allocation.lot;
  if (!lot) return "Debt";
  return `Lot from #${lot.transaction.sequence} (priority ${lot.priority}, ${lot.expiresAt ? `expires ${when(lot.expiresAt)}` : "no expiry"})`;
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

/** The kind, and for charges and refunds the service, linked to its request. */
function kindCell(entry) {
  const kind = KIND[entry.kind] || entry.kind;
  const request = entry.serviceRequest;
  if (!request) return h("td", {}, kind);
  return h(
    "td",
    { class: "kind" },
    h("span", {}, kind),
    " ",
    h("a", { class: "service-link", href: `/requests/${encodeURIComponent(request.id)}`, "aria-label": `${request.service.name}: open the request` }, request.service.name),
  );
}

/** Ask the API for a one-time link to the CSV (60 s) and let the browser save it. */
async function downloadCsv(client, customerId, range) {
  const url = new URL(`/exports/ledger/${encodeURIComponent(customerId)}/link`, client.endpoint);
  if (range.since) url.searchParams.set("since", range.since);
  if (range.until) url.searchParams.set("until", range.until);
  const response = await fetch(url, { method: "POST", headers: await client.auth.headers(), credentials: client.auth.credentials });
  const body = await response.json().catch(() => null);
  if (!response.ok || !body?.url) throw Object.assign(new Error(body?.errors?.[0]?.message || `HTTP ${response.status}`), { code: body?.errors?.[0]?.extensions?.code });
  // A navigation to an attachment: the browser streams it to disk, the page stays.
  const link = h("a", { href: new URL(body.url, client.endpoint).toString(), download: "", hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
}

/** The ledger panel: {element, ready, stop}; `watch` supplies live entries. */
export function ledgerPanel(client, customerId, watch) {
  const entries = new Map(); // sequence → entry
  const open = new Set(); // sequences whose allocations are unfolded (kept across redraws)
  let cursor = null;
  let hasMore = false;
  let range = { since: null, until: null };
  let shownId = customerId; // the customer's id, once the first page names it
  let generation = 0; // a page read for an earlier range is dropped
  const body = h("tbody");
  const chart = balanceHistory(client, customerId, watch);
  const balanceAt = h("div", { class: "balance-at" });
  const more = h("button", { type: "button", class: "button", hidden: true, onclick: () => load() }, "Show older transactions");
  const table = h(
    "table",
    { class: "table", "aria-label": "Recent transactions" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "num" }, "#"), h("th", { scope: "col" }, "Date"), h("th", { scope: "col" }, "Kind"), h("th", { scope: "col" }, "Note"), h("th", { scope: "col", class: "num" }, "Amount"), h("th", { scope: "col", class: "num" }, "Balance after"), h("th", { scope: "col" }, "Lots"))),
    body,
  );
  const fromId = uid("ledger-from");
  const toId = uid("ledger-to");
  const from = h("input", { id: fromId, type: "date", name: "from" });
  const to = h("input", { id: toId, type: "date", name: "to" });
  const status = h("p", { class: "form-status", role: "alert", hidden: true });
  const clear = h("button", { type: "button", class: "button small", hidden: true, onclick: () => ((from.value = to.value = ""), applyRange()) }, "All dates");
  // Enabled once the first page has named the customer (the dashboard passes no id).
  const exportButton = h("button", { type: "button", class: "button small", disabled: true, onclick: () => exportCsv() }, "Download CSV");
  from.addEventListener("change", () => applyRange());
  to.addEventListener("change", () => applyRange());
  const filters = h(
    "div",
    { class: "toolbar ledger-filters", role: "group", "aria-label": "Transactions between dates" },
    h("label", { for: fromId }, "From"),
    from,
    h("label", { for: toId }, "To"),
    to,
    clear,
    h("span", { class: "spacer" }),
    exportButton,
  );
  const element = h(
    "div",
    { class: "ledger" },
    h("section", { class: "card" }, h("h2", {}, "Balance history"), chart.element, balanceAt),
    h("section", { class: "card" }, h("h2", {}, "Recent transactions"), filters, status, h("div", { class: "table-wrap" }, table), more),
  );

  function showStatus(message) {
    status.textContent = message || "";
    status.hidden = !message;
  }

  function inRange(entry) {
    const at = new Date(entry.createdAt);
    return (!range.since || at >= new Date(range.since)) && (!range.until || at < new Date(range.until));
  }

  function applyRange() {
    const next = dateRange(from.value, to.value);
    clear.hidden = !from.value && !to.value;
    if (next.error) return showStatus(next.error);
    showStatus(null);
    range = next;
    entries.clear();
    cursor = null;
    hasMore = false;
    return load();
  }

  async function exportCsv() {
    if (!shownId) return;
    exportButton.disabled = true;
    try {
      showStatus(null);
      await downloadCsv(client, shownId, range);
    } catch (error) {
      showStatus(`The export could not start: ${messageFor(error)}`);
    } finally {
      exportButton.disabled = false;
    }
  }

  function draw() {
    const sorted = [...entries.values()].sort((a, b) => b.sequence - a.sequence);
    replace(body);
    if (!sorted.length) {
      const filtered = range.since || range.until;
      body.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, filtered ? "No transactions between these dates." : "No transactions yet. Granted credits and service charges appear here as they happen.")));
    }
    const now = performance.now();
    for (const entry of sorted) {
      const fresh = entry.freshSince !== undefined && now - entry.freshSince < FRESH_MS;
      const row = h(
        "tr",
        { "data-sequence": entry.sequence, class: fresh ? "fresh" : null },
        h("td", { class: "num" }, String(entry.sequence)),
        h("td", { class: "when" }, h("relative-time", { datetime: entry.createdAt })),
        kindCell(entry),
        h("td", { class: "note" }, entry.note || ""),
        h("td", { class: "num" }, signed(entry.amount)),
        h("td", { class: entry.balanceAfter.startsWith("-") ? "num negative" : "num" }, formatAmount(entry.balanceAfter)),
        allocationsCell(entry, open),
      );
      if (fresh) {
        // A redraw rebuilds the row: the fade carries on from where it was, and ends for good.
        row.style.animationDelay = `${-(now - entry.freshSince)}ms`;
        row.addEventListener("animationend", (event) => {
          if (event.target !== row) return;
          delete entry.freshSince;
          row.classList.remove("fresh");
        });
      }
      body.append(row);
    }
    more.hidden = !hasMore;
  }

  async function load() {
    const mine = ++generation;
    let data;
    try {
      data = await client.request(PAGE, { id: customerId, after: cursor, ...range });
    } catch (error) {
      if (mine === generation) showStatus(messageFor(error));
      return;
    }
    if (mine !== generation) return;
    shownId = data.customer.id;
    exportButton.disabled = false;
    const page = data.customer.transactions;
    for (const node of page.nodes) if (!entries.has(node.sequence)) entries.set(node.sequence, node);
    cursor = page.pageInfo.endCursor;
    hasMore = page.pageInfo.hasNextPage;
    draw();
  }

  let frame = null;
  const onChange = (event) => {
    const entry = event.detail.transaction;
    if (entry && !entries.has(entry.sequence) && inRange(entry)) {
      entries.set(entry.sequence, { ...entry, freshSince: performance.now() });
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
  // "Balance on <date>": its own module, fetched when asked for (not in the first load).
  const ask = h("button", { type: "button", class: "button small" }, "Balance on a date…");
  ask.addEventListener("click", async () => {
    try {
      const picker = (await import("./balance-at.js")).balanceOnDate(client, customerId);
      balanceAt.replaceWith(picker);
      picker.querySelector("input").focus();
    } catch {
      // Offline: the button stays, for another try.
    }
  });
  balanceAt.append(ask);
  const stop = () => {
    watch.removeEventListener("change", onChange);
    chart.stop();
  };
  return { element, ready, stop };
}

// Credit lots: what expires next (the dashboard), redrawn when the customer's balance moves, and
// what the lots table of Credit Management (lots-panel.js) shares with it. Amounts stay Decimal strings.
import { h, when } from "./dom.js";
import { onChanges } from "./live.js";
import { compare, formatCents, formatCredits, toCents } from "./money.js";

const ACTIVE_LOTS = `query ActiveLots($id: ID) {
  customer(id: $id) { lots(status: ACTIVE, first: 50) { nodes { id remaining expiresAt } } }
}`;

/** "2026-12-12T00:00:00+00:00" → "12 Dec 2026, 00:00" in the viewer's time zone; "Never" for none. */
export function expiry(iso) {
  return iso ? when(iso) : "Never";
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

// "Balance on <date>" under the balance-history chart: the balance at the end of a chosen local day,
// from Customer.balanceAt. Imported by ledger.js when its "Balance on a date…" button is pressed.
import { h, uid } from "./dom.js";
import { formatCredits } from "./money.js";
import { messageFor, whileBusy } from "./forms.js";

const BALANCE_AT = `query BalanceAt($id: ID, $time: DateTime!) { customer(id: $id) { id balanceAt(time: $time) } }`;

/** "Balance on <date>": the balance at the end of a chosen day (the viewer's day), from Customer.balanceAt. */
export function balanceOnDate(client, customerId) {
  const id = uid("balance-on");
  const day = h("input", { id, type: "date", name: "day", required: true });
  const show = h("button", { type: "submit", class: "button small" }, "Show balance");
  const result = h("p", { class: "balance-on", role: "status" });
  const form = h("form", { class: "toolbar", novalidate: true, "aria-label": "Balance on a date" }, h("label", { for: id }, "Balance on"), day, show);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!day.value) {
      result.textContent = "Choose a date.";
      day.focus();
      return;
    }
    const [year, month, date] = day.value.split("-").map(Number);
    // The end of that day where the viewer is: the balance after its last entry.
    const end = new Date(new Date(year, month - 1, date + 1).getTime() - 1);
    const shown = new Date(year, month - 1, date).toLocaleDateString(undefined, { dateStyle: "medium" });
    await whileBusy(show, async () => {
      try {
        const data = await client.request(BALANCE_AT, { id: customerId, time: end.toISOString() });
        result.textContent = `Balance on ${shown}: ${formatCredits(data.customer.balanceAt)} (at the end of the day).`;
      } catch (error) {
        result.textContent = messageFor(error);
      }
    });
  });
  return h("div", { class: "balance-at" }, form, result);
}

// The catalog console: customers (search, create, live balances), a customer's details and its
// Customer Options → Credit Management panel, and the catalog (credit switch, services, prices).
import { h, replace, field, setError } from "./dom.js";
import { bindMutation, messageFor } from "./forms.js";
import { amountField } from "./amount-field.js";
import { watchBalance } from "./live.js";
import { ledgerPanel } from "./ledger.js";
import { balanceCard, thresholdForm } from "./dashboard.js";
import { requestsTable } from "./services.js";
import { usersCard } from "./users.js";
import { expiry } from "./lots.js";
import { controlsPanel } from "./controls.js";
import { balanceState, formatAmount, formatCredits, signed } from "./money.js";
import { stylesheet } from "./stylesheet.js";

await Promise.all([stylesheet("screens.css"), stylesheet("catalog.css")]);

const CUSTOMERS = `query Customers($search: String, $after: String, $order: CustomerOrder!) {
  customers(first: 50, search: $search, after: $after, orderBy: $order) { totalCount nodes { id name balance lastSequence alertThreshold } pageInfo { hasNextPage endCursor } }
}`;
const ORDERS = [["NAME", "Name"], ["BALANCE_ASCENDING", "Lowest balance first"], ["BALANCE_DESCENDING", "Highest balance first"]];
const CREATE_CUSTOMER = `mutation CreateCustomer($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id name } userErrors { code field message } }
}`;
const CUSTOMER = `query Customer($id: ID!) { customer(id: $id) { id name balance alertThreshold } }`;
const ALL_BALANCES = `subscription AllBalances { balanceChanged { customerId balance sequence } }`;
const ALL_SETTINGS = `subscription AllSettings { customerChanged { id alertThreshold } }`;
const GRANT = `mutation Grant($input: BalanceChangeInput!) {
  grantCredits(input: $input) { transaction { id sequence kind amount balanceAfter } userErrors { code field message } }
}`;
const WITHDRAW = `mutation Withdraw($input: BalanceChangeInput!) {
  withdrawCredits(input: $input) { transaction { id sequence kind amount balanceAfter } userErrors { code field message } }
}`;
const SETTINGS = `query Settings { creditSettings { creditManagementEnabled } }`;
const SET_SWITCH = `mutation Switch($enabled: Boolean!) {
  setCreditManagement(enabled: $enabled) { creditSettings { creditManagementEnabled } userErrors { code field message } }
}`;
const SERVICES = `query Services { services { id name creditPrice } }`;
const CREATE_SERVICE = `mutation CreateService($input: CreateServiceInput!) {
  createService(input: $input) { service { id name creditPrice } userErrors { code field message } }
}`;
const SET_PRICE = `mutation SetPrice($id: ID!, $price: Decimal) {
  setServicePrice(serviceId: $id, creditPrice: $price) { service { id name creditPrice } userErrors { code field message } }
}`;

function breadcrumbs(...parts) {
  return h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumbs" }, h("ol", {}, parts.map(([label, href]) => h("li", {}, href ? h("a", { href }, label) : h("span", { "aria-current": "page" }, label)))));
}

function thresholdText(customer) {
  return customer.alertThreshold == null ? "—" : formatAmount(customer.alertThreshold);
}

function balanceCell(customer) {
  const state = balanceState(customer.balance, customer.alertThreshold);
  return h("td", { class: `num balance-cell ${state}`, "data-customer": customer.id }, formatAmount(customer.balance));
}

export async function customers(main, { client, live }) {
  document.title = "Customers · Credits";
  const body = h("tbody");
  const rows = new Map(); // customer id → {customer, sequence, cell}
  const search = h("input", { id: "customer-search", type: "search", placeholder: "Search by name", autocomplete: "off" });
  const more = h("button", { type: "button", class: "button", hidden: true }, "Show more customers");
  const order = h("select", { id: "customer-sort" }, ORDERS.map(([value, label]) => h("option", { value }, label)));
  const count = h("p", { class: "muted count", "aria-live": "polite" });
  let cursor = null;

  async function load(reset) {
    if (reset) {
      rows.clear();
      cursor = null;
      replace(body);
    }
    const page = (await client.request(CUSTOMERS, { search: search.value.trim() || null, after: cursor, order: order.value })).customers;
    const total = page.totalCount;
    count.textContent = search.value.trim() ? `${total} ${total === 1 ? "customer matches" : "customers match"}` : `${total} ${total === 1 ? "customer" : "customers"}`;
    for (const customer of page.nodes) {
      const cell = balanceCell(customer);
      const threshold = h("td", { class: "num" }, thresholdText(customer));
      rows.set(customer.id, { customer, sequence: customer.lastSequence, cell, threshold });
      body.append(h("tr", {}, h("th", { scope: "row" }, h("a", { href: `/customers/${customer.id}` }, customer.name)), threshold, cell));
    }
    if (!rows.size) body.append(h("tr", {}, h("td", { colspan: 3, class: "empty" }, search.value ? "No customer matches. Clear the search or create one below." : "No customers yet. Create the first one below.")));
    cursor = page.pageInfo.endCursor;
    more.hidden = !page.pageInfo.hasNextPage;
  }
  more.addEventListener("click", () => load(false));
  order.addEventListener("change", () => load(true));
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => load(true), 200);
  });

  const name = field("Customer name", { name: "name", autocomplete: "off", required: true });
  const form = h("form", { class: "inline-form", novalidate: true }, name.wrap, h("button", { type: "submit", class: "button primary" }, "Create customer"));
  bindMutation(form, {
    fields: { name },
    run: async () => (await client.request(CREATE_CUSTOMER, { input: { name: name.input.value.trim() } })).createCustomer,
    done: async (payload) => {
      form.reset();
      await load(true);
      body.querySelector(`a[href="/customers/${payload.customer.id}"]`)?.focus();
    },
  });

  // At the top: the form sits below the list (50 rows and more), the button takes the user there.
  const newCustomer = h("button", { type: "button", class: "button primary" }, "New customer");
  newCustomer.addEventListener("click", () => {
    name.wrap.scrollIntoView({ block: "center" });
    name.input.focus({ preventScroll: true });
  });
  replace(
    main,
    h("div", { class: "page-head with-action" }, h("div", {}, h("h1", {}, "Customers"), h("p", { class: "muted" }, "Balances update live.")), newCustomer),
    h(
      "section",
      { class: "card" },
      h(
        "div",
        { class: "toolbar" },
        h("label", { for: "customer-search", class: "visually-hidden" }, "Search customers"),
        search,
        h("label", { for: "customer-sort" }, "Sort by"),
        order,
        count,
      ),
      h("div", { class: "table-wrap" }, h("table", { class: "table", "aria-label": "Customers" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Customer"), h("th", { scope: "col", class: "num" }, "Alert below"), h("th", { scope: "col", class: "num" }, "Balance"))), body)),
      more,
    ),
    h("section", { class: "card" }, h("h2", {}, "New customer"), form),
  );
  const redraw = (row) => {
    const fresh = balanceCell(row.customer);
    row.cell.replaceWith(fresh);
    row.cell = fresh;
    row.threshold.textContent = thresholdText(row.customer);
  };
  // Every customer's events (a catalog administrator's subscriptions without customerId).
  const dispose = live.subscribe(ALL_BALANCES, {}, (data) => {
    const event = data.balanceChanged;
    const row = rows.get(event.customerId);
    if (!row || event.sequence <= row.sequence) return;
    row.sequence = event.sequence;
    row.customer.balance = event.balance;
    redraw(row);
  });
  const disposeSettings = live.subscribe(ALL_SETTINGS, {}, (data) => {
    const row = rows.get(data.customerChanged.id);
    if (!row) return;
    row.customer.alertThreshold = data.customerChanged.alertThreshold;
    redraw(row);
  });
  await load(true);
  return () => {
    dispose();
    disposeSettings();
  };
}

function customerHeader(customer, current) {
  const base = `/customers/${customer.id}`;
  return [
    breadcrumbs(["Customers", "/customers"], [customer.name, current === "overview" ? null : base], ...(current === "credit" ? [["Credit Management", null]] : current === "users" ? [["Users", null]] : [])),
    h("div", { class: "page-head" }, h("h1", {}, customer.name)),
    h(
      "nav",
      { class: "subnav", "aria-label": "Customer Options" },
      h("span", { class: "subnav-title" }, "Customer Options"),
      h("a", { href: base, "aria-current": current === "overview" ? "page" : null }, "Overview"),
      h("a", { href: `${base}/credit-management`, "aria-current": current === "credit" ? "page" : null }, "Credit Management"),
      h("a", { href: `${base}/users`, "aria-current": current === "users" ? "page" : null }, "Users"),
    ),
  ];
}

async function loadCustomer(main, client, id) {
  const customer = (await client.request(CUSTOMER, { id })).customer;
  if (!customer) {
    replace(main, h("section", { class: "empty-state" }, h("h1", {}, "Customer not found"), h("p", {}, "It may have been removed, or the link is wrong."), h("a", { class: "button", href: "/customers" }, "Back to customers")));
  }
  return customer;
}

export async function customerDetail(main, { client, live }, id) {
  const customer = await loadCustomer(main, client, id);
  if (!customer) return;
  document.title = `${customer.name} · Credits`;
  const watch = watchBalance(live, client, customer.id);
  const summary = balanceCard(watch);
  const requests = requestsTable(client, { customerId: customer.id, canDecide: true, title: "Service requests" });
  const ledger = ledgerPanel(client, customer.id, watch);
  replace(main, ...customerHeader(customer, "overview"), h("div", { class: "grid two" }, summary.element, h("section", { class: "card" }, h("h2", {}, "Credits"), h("p", {}, "Add or remove credits and set the alert threshold in Credit Management."), h("a", { class: "button primary", href: `/customers/${customer.id}/credit-management` }, "Open Credit Management"))), requests.element, ledger.element);
  const onChange = () => requests.refresh();
  watch.addEventListener("change", onChange);
  return () => {
    summary.stop();
    ledger.stop();
    watch.removeEventListener("change", onChange);
    watch.release();
  };
}

/** A customer's users: the catalog administrator creates its first administrator here. */
export async function customerUsers(main, { client, viewer }, id) {
  const customer = await loadCustomer(main, client, id);
  if (!customer) return;
  document.title = `Users · ${customer.name} · Credits`;
  replace(main, ...customerHeader(customer, "users"), usersCard(client, viewer, customer.id));
}

/** Add's "More options": when the granted credits expire and their priority; both optional. */
function lotOptions() {
  const expires = field("Expires on", { name: "expiresAt", type: "datetime-local", step: 1 }, "Empty: the credits never expire.");
  const priority = field("Priority", { name: "priority", inputmode: "numeric", autocomplete: "off" }, "0 to 100; lower is used first. Empty: 50.");
  const element = h("details", { class: "more-options" }, h("summary", {}, "More options"), expires.wrap, priority.wrap);
  const expiresAt = () => (expires.input.value ? new Date(expires.input.value).toISOString() : null);
  const priorityValue = () => (priority.input.value.trim() === "" ? null : Number(priority.input.value.trim()));
  return {
    element,
    fields: { expiresAt: expires, priority },
    /** Whether both are acceptable; otherwise the error shows beside the field. */
    check() {
      setError(expires, null);
      setError(priority, null);
      if (expires.input.value && new Date(expires.input.value) <= new Date()) {
        element.open = true;
        setError(expires, "Choose a date and time in the future, or leave it empty.");
        expires.input.focus();
        return false;
      }
      const text = priority.input.value.trim();
      if (text !== "" && !/^(100|[1-9]?[0-9])$/.test(text)) {
        element.open = true;
        setError(priority, "Enter a whole number from 0 to 100, or leave it empty for 50.");
        priority.input.focus();
        return false;
      }
      return true;
    },
    describe() {
      const parts = [];
      if (expires.input.value) parts.push(`expiring ${expiry(expiresAt())}`);
      if (priorityValue() !== null) parts.push(`priority ${priorityValue()}`);
      return parts.length ? `, ${parts.join(", ")}` : "";
    },
    /** Only what was set: an omitted field takes the server's default (never, 50). */
    input() {
      const chosen = {};
      if (expiresAt()) chosen.expiresAt = expiresAt();
      if (priorityValue() !== null) chosen.priority = priorityValue();
      return chosen;
    },
  };
}

/** Add or Remove: a credits field, a confirmation step, then the new transaction shown. */
function balanceAction(client, customer, kind) {
  const add = kind === "add";
  const verb = add ? "Add" : "Remove";
  const amount = amountField(`Credits to ${add ? "add" : "remove"}`, { name: "amount", zero: false, messages: { negative: `Enter the credits to ${add ? "add" : "remove"} without a minus sign${add ? "" : ": Remove takes them away"}.` } });
  const note = field("Note (optional)", { name: "note", autocomplete: "off" });
  const options = add ? lotOptions() : null;
  const submit = h("button", { type: "submit", class: add ? "button primary" : "button danger" }, verb);
  const confirmBox = h("div", { class: "confirm", hidden: true, role: "group", "aria-label": `Confirm ${verb.toLowerCase()}` });
  const result = h("div", { class: "result", role: "status", tabindex: "-1" });
  const form = h("form", { class: "stack", novalidate: true }, amount.wrap, note.wrap, options?.element, submit, confirmBox);
  let confirmed = false;
  form.addEventListener("submit", (event) => {
    if (confirmed) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const typed = amount.read();
    if (typed.error) {
      amount.input.focus();
      return;
    }
    if (options && !options.check()) return;
    const shown = formatAmount(typed.value);
    const yes = h("button", { type: "button", class: add ? "button primary" : "button danger" }, `Confirm: ${verb.toLowerCase()} ${shown}`);
    const no = h("button", { type: "button", class: "button" }, "Cancel");
    replace(confirmBox, h("p", {}, `${verb} ${formatCredits(typed.value)} ${add ? "to" : "from"} ${customer.name}${options ? options.describe() : ""}?`), h("div", { class: "row-actions" }, yes, no));
    confirmBox.hidden = false;
    submit.hidden = true;
    yes.focus();
    no.addEventListener("click", () => {
      confirmBox.hidden = true;
      submit.hidden = false;
      submit.focus();
    });
    yes.addEventListener("click", () => {
      confirmed = true;
      form.requestSubmit();
      confirmed = false;
    });
  });
  bindMutation(form, {
    keyed: true,
    fields: { amount, note, ...options?.fields },
    run: async (key) => {
      const input = { customerId: customer.id, amount: amount.read().value, note: note.input.value.trim() || null, idempotencyKey: key, ...options?.input() };
      const data = await client.request(add ? GRANT : WITHDRAW, { input });
      return add ? data.grantCredits : data.withdrawCredits;
    },
    done: async (payload) => {
      const t = payload.transaction;
      replace(result, h("p", { class: "success" }, `Done: ${signed(t.amount)} credits (transaction #${t.sequence}); the balance is now ${formatCredits(t.balanceAfter)}.`));
      form.reset();
      if (options) options.element.open = false;
      confirmBox.hidden = true;
      submit.hidden = false;
      result.focus(); // the Confirm button is gone: focus goes to what the action did
    },
  });
  form.addEventListener("input", () => {
    confirmBox.hidden = true;
    submit.hidden = false;
  });
  return h("div", { class: `balance-action ${kind}` }, h("h3", {}, verb), form, result);
}

export async function creditManagement(main, { client, live }, id) {
  const customer = await loadCustomer(main, client, id);
  if (!customer) return;
  document.title = `Credit Management · ${customer.name} · Credits`;
  const watch = watchBalance(live, client, customer.id);
  const summary = balanceCard(watch, "Current balance");
  const ledger = ledgerPanel(client, customer.id, watch);
  const panels = import("./lots-panel.js"); // only this screen shows the lots table
  const controls = controlsPanel(client, customer.id, watch);
  const enabled = (await client.request(SETTINGS)).creditSettings.creditManagementEnabled;
  const lots = (await panels).lotsPanel(client, customer.id, watch);
  replace(
    main,
    ...customerHeader(customer, "credit"),
    enabled ? null : h("p", { class: "notice", role: "alert" }, "Credit management is off: grants and withdrawals are refused until it is turned on in ", h("a", { href: "/catalog" }, "Catalog"), "."),
    h(
      "section",
      { class: "card", "aria-labelledby": "balance-section" },
      h("h2", { id: "balance-section" }, "Balance"),
      h("div", { class: "grid three" }, summary.element, balanceAction(client, customer, "add"), balanceAction(client, customer, "remove")),
    ),
    controls.element,
    lots.element,
    thresholdForm(client, watch, summary.draw),
    ledger.element,
  );
  return () => {
    summary.stop();
    ledger.stop();
    lots.stop();
    controls.stop();
    watch.release();
  };
}

const PRICE_WORDS = { negative: "A price cannot be below zero: enter 0 for free, or leave it empty for not charged." };

/** A credit price in a "Credit price" column: "1,250.00", or "Not charged" for none. */
function priceText(price) {
  return price == null ? "Not charged" : formatAmount(price);
}

function priceRow(client, service) {
  const price = amountField(`Price of ${service.name}`, { name: "creditPrice", value: service.creditPrice, optional: true, hint: null, messages: PRICE_WORDS });
  price.input.placeholder = "Not charged";
  price.wrap.classList.add("inline");
  price.wrap.querySelector("label").classList.add("visually-hidden");
  const shown = h("td", { class: "num" }, priceText(service.creditPrice));
  const form = h("form", { class: "request-form", novalidate: true }, price.wrap, h("button", { type: "submit", class: "button small" }, "Set price"));
  bindMutation(form, {
    fields: { creditPrice: price },
    run: async () => {
      const typed = price.read();
      if (typed.error) return { userErrors: [{ field: ["creditPrice"], message: typed.message }] };
      return (await client.request(SET_PRICE, { id: service.id, price: typed.value })).setServicePrice;
    },
    done: async (payload) => {
      shown.textContent = priceText(payload.service.creditPrice);
    },
  });
  return h("tr", {}, h("th", { scope: "row" }, service.name), shown, h("td", { class: "actions" }, form));
}

export async function catalog(main, { client }) {
  document.title = "Catalog · Credits";
  const toggle = h("input", { type: "checkbox", id: "credit-switch", role: "switch" });
  const switchState = h("span", { class: "muted", id: "credit-switch-state" });
  const switchError = h("p", { class: "form-status", role: "alert", hidden: true });
  const drawSwitch = (on) => {
    toggle.checked = on;
    switchState.textContent = on ? "On: grants, withdrawals and service charges are applied." : "Off: service requests are not charged and credits cannot be granted.";
  };
  toggle.addEventListener("change", async () => {
    switchError.hidden = true;
    try {
      const payload = (await client.request(SET_SWITCH, { enabled: toggle.checked })).setCreditManagement;
      drawSwitch(payload.creditSettings.creditManagementEnabled);
    } catch (error) {
      switchError.textContent = messageFor(error);
      switchError.hidden = false;
      drawSwitch(!toggle.checked);
    }
  });
  const list = h("tbody");
  const name = field("Service name", { name: "name", autocomplete: "off", required: true });
  const price = amountField("Credit price", { name: "creditPrice", optional: true, hint: "Up to two decimals, e.g. 12.50. Empty: not charged; 0: free.", messages: PRICE_WORDS });
  const form = h("form", { class: "grid-form", novalidate: true }, name.wrap, price.wrap, h("div", { class: "field end" }, h("button", { type: "submit", class: "button primary" }, "Create service")));
  bindMutation(form, {
    fields: { name, creditPrice: price },
    run: async () => {
      const typed = price.read();
      if (typed.error) return { userErrors: [{ field: ["input", "creditPrice"], message: typed.message }] };
      return (await client.request(CREATE_SERVICE, { input: { name: name.input.value.trim(), creditPrice: typed.value } })).createService;
    },
    done: async () => {
      form.reset();
      await drawServices();
    },
  });
  async function drawServices() {
    const found = (await client.request(SERVICES)).services;
    replace(list);
    if (!found.length) list.append(h("tr", {}, h("td", { colspan: 3, class: "empty" }, "No services yet. Create the first one below; customers' users can then request it.")));
    for (const service of found) list.append(priceRow(client, service));
  }
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Catalog")),
    h("section", { class: "card" }, h("h2", {}, "Credit management"), h("div", { class: "check" }, toggle, h("label", { for: "credit-switch" }, "Credit management")), switchState, switchError),
    h("section", { class: "card" }, h("h2", {}, "Services and credit prices"), h("div", { class: "table-wrap" }, h("table", { class: "table", "aria-label": "Services" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Service"), h("th", { scope: "col", class: "num" }, "Credit price"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Set price")))), list)), h("h3", {}, "New service"), form),
  );
  drawSwitch((await client.request(SETTINGS)).creditSettings.creditManagementEnabled);
  await drawServices();
}

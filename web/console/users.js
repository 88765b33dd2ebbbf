// Users of a customer: the customer administrator's Users screen, and the same list and form on a
// customer's page for the catalog administrator (who creates a new customer's first administrator).
import { h, replace, field, uid } from "./dom.js";
import { bindMutation, messageFor, whileBusy } from "./forms.js";
import { userErrorsText } from "./messages.js";
import { amountField } from "./amount-field.js";
import { formatAmount } from "./money.js";
import { spendLimitText } from "./spend-limit.js";
import { stylesheet } from "./stylesheet.js";

await stylesheet("screens.css");

const USER = "id email name role active spendLimit { amount period spent resetsAt }";
const USERS = `query Users($id: ID, $after: String) {
  customer(id: $id) { id users(first: 50, after: $after) { nodes { ${USER} } pageInfo { hasNextPage endCursor } } }
}`;
const CREATE_USER = `mutation CreateUser($input: CreateUserInput!) {
  createUser(input: $input) { user { ${USER} } userErrors { code field message } }
}`;
const SET_ACTIVE = `mutation SetActive($id: ID!, $active: Boolean!) {
  setUserActive(id: $id, active: $active) { user { ${USER} } userErrors { code field message } }
}`;
const SET_SPEND_LIMIT = `mutation SetSpendLimit($input: SetSpendLimitInput!) {
  setSpendLimit(input: $input) { user { ${USER} } userErrors { code field message } }
}`;
/** Set a user's spend limit: the user (chosen from the table), an amount and its period; or remove it. */
function spendLimitForm(client, users, onSaved) {
  const userId = uid("limit-user");
  const periodId = uid("limit-period");
  const who = h("select", { id: userId, name: "userId" });
  who.style.width = "100%"; // a long email shrinks to the column (phones) instead of widening the page
  const whoField = h("div", { class: "field" }, h("label", { for: userId }, "User"), who);
  whoField.style.minWidth = "0";
  const amount = amountField("Spend limit (credits)", { name: "amount", hint: "What the user's service requests may take per period. Up to two decimals." });
  const period = h("select", { id: periodId, name: "period" }, h("option", { value: "MONTH" }, "Per month (UTC)"), h("option", { value: "DAY" }, "Per day (UTC)"));
  const save = h("button", { type: "submit", class: "button primary" }, "Save limit");
  const remove = h("button", { type: "submit", class: "button" }, "Remove limit");
  const saved = h("p", { class: "success", role: "status", hidden: true, tabindex: "-1" });
  const form = h(
    "form",
    { class: "grid-form", novalidate: true, "aria-label": "Spend limit" },
    whoField,
    amount.wrap,
    h("div", { class: "field" }, h("label", { for: periodId }, "Period"), period),
    h("div", { class: "field end row-actions" }, save, remove),
  );
  const chosen = () => users.get(who.value);
  const fill = () => {
    const limit = chosen()?.spendLimit;
    amount.input.value = limit ? formatAmount(limit.amount) : "";
    period.value = limit?.period || "MONTH";
    remove.hidden = !limit;
  };
  const options = () => {
    const current = who.value;
    replace(who, ...[...users.values()].map((user) => h("option", { value: user.id }, user.email)));
    if (users.has(current)) who.value = current;
    fill();
  };
  who.addEventListener("change", fill);
  form.addEventListener("input", () => (saved.hidden = true));
  let removing = false;
  form.addEventListener("submit", (event) => {
    removing = event.submitter === remove;
    if (removing || !amount.read().error) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    amount.input.focus();
  });
  bindMutation(form, {
    fields: { amount },
    run: async () => {
      const input = removing ? { userId: who.value, amount: null } : { userId: who.value, amount: amount.read().value, period: period.value };
      return (await client.request(SET_SPEND_LIMIT, { input })).setSpendLimit;
    },
    done: async (payload) => {
      const user = payload.user;
      onSaved(user);
      saved.textContent = user.spendLimit ? `Saved: ${user.email} may spend ${spendLimitText(user.spendLimit)}.` : `Saved: ${user.email} has no spend limit.`;
      saved.hidden = false;
      saved.focus();
    },
  });
  /** Choose `user` in the form and put the cursor in its amount (the table's "Set limit"). */
  const edit = (user) => {
    who.value = user.id;
    fill();
    saved.hidden = true;
    amount.input.focus();
  };
  return { element: h("div", {}, h("h3", {}, "Spend limits"), h("p", { class: "muted" }, "A service request that would take a user's spending in the period above their limit is refused. Cancelled, failed and rejected requests do not count."), form, saved), options, edit };
}

const ROLE_TEXT = { CUSTOMER_ADMIN: "Administrator", END_USER: "End user" };

/**
 * The customer's users (paged, by email) with Deactivate / Reactivate, and a form to add one.
 * `customerId` null: the viewer's own customer (a customer administrator). The table is named "Users".
 */
export function usersCard(client, viewer, customerId = null, title = "Users") {
  const users = new Map();
  const list = h("tbody");
  const message = h("p", { class: "form-status", role: "alert", hidden: true });
  const more = h("button", { type: "button", class: "button", hidden: true }, "Show more users");
  const forCatalog = customerId !== null;
  let cursor = null;
  let loaded = false;
  const role = h("select", { id: "new-user-role", name: "role" }, h("option", { value: "END_USER" }, "End user"), h("option", { value: "CUSTOMER_ADMIN" }, "Customer administrator"));
  const limits = spendLimitForm(client, users, (user) => {
    users.set(user.id, user);
    draw();
  });
  const noAdmin = h("p", { class: "notice", hidden: true }, "This customer has no administrator yet. Create one here: they can then log in, manage the customer's users and receive its alerts.");
  const draw = () => {
    replace(list);
    limits.options();
    if (!users.size) list.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, loaded ? (forCatalog ? "No users yet." : "No users yet. Add the people of your organisation below.") : "Loading users…")));
    for (const user of users.values()) {
      const self = user.id === viewer.id;
      // Your own login cannot be deactivated (you would lock yourself out): disabled, and it says why.
      const toggle = h("button", { type: "button", class: "button small toggle", disabled: self, title: self ? "You cannot deactivate your own login: ask another administrator." : null, "aria-label": `${user.active ? "Deactivate" : "Reactivate"} ${user.email}` }, user.active ? "Deactivate" : "Reactivate");
      toggle.addEventListener("click", async () => {
        message.hidden = true;
        await whileBusy(toggle, async () => {
          try {
            const payload = (await client.request(SET_ACTIVE, { id: user.id, active: !user.active })).setUserActive;
            if (payload.user) users.set(user.id, payload.user);
            else throw new Error(userErrorsText(payload.userErrors));
          } catch (error) {
            message.textContent = messageFor(error);
            message.hidden = false;
          }
        });
        draw();
        list.querySelector(`tr[data-user="${user.id}"] button.toggle`)?.focus();
      });
      const limit = h("button", { type: "button", class: "button small", "aria-label": `Set limit for ${user.email}` }, "Set limit");
      limit.addEventListener("click", () => limits.edit(user));
      list.append(h("tr", { "data-user": user.id }, h("td", {}, user.name, self ? h("span", { class: "muted small" }, " (you)") : null, h("br"), h("span", { class: "muted small" }, user.email)), h("td", {}, ROLE_TEXT[user.role] || user.role), h("td", {}, user.active ? "Active" : "Deactivated"), h("td", { class: "spend-limit" }, spendLimitText(user.spendLimit)), h("td", { class: "actions" }, h("div", { class: "row-actions" }, limit, toggle))));
    }
    more.hidden = !cursor;
    // A customer without an active administrator: the catalog administrator is offered to create one.
    const hasAdmin = [...users.values()].some((user) => user.role === "CUSTOMER_ADMIN" && user.active);
    noAdmin.hidden = !(forCatalog && loaded && !hasAdmin);
  };
  async function load() {
    try {
      const page = (await client.request(USERS, { id: customerId, after: cursor })).customer.users;
      for (const user of page.nodes) users.set(user.id, user);
      cursor = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      loaded = true;
      if (forCatalog && !cursor && ![...users.values()].some((user) => user.role === "CUSTOMER_ADMIN")) role.value = "CUSTOMER_ADMIN";
    } catch (error) {
      message.textContent = messageFor(error);
      message.hidden = false;
    }
    draw();
  }
  more.addEventListener("click", load);
  const name = field("Name", { name: "name", autocomplete: "off", required: true });
  const email = field("Email", { name: "email", type: "email", autocomplete: "off", required: true });
  const password = field("Password", { name: "password", type: "password", autocomplete: "new-password", required: true });
  const created = h("p", { class: "success", role: "status", hidden: true, tabindex: "-1" });
  const form = h("form", { class: "grid-form", novalidate: true }, name.wrap, email.wrap, password.wrap, h("div", { class: "field" }, h("label", { for: "new-user-role" }, "Role"), role), h("div", { class: "field end" }, h("button", { type: "submit", class: "button primary" }, "Create user")));
  form.addEventListener("input", () => (created.hidden = true));
  bindMutation(form, {
    fields: { name, email, password },
    run: async () => {
      const input = { name: name.input.value.trim(), email: email.input.value.trim(), password: password.input.value, role: role.value };
      if (forCatalog) input.customerId = customerId;
      return (await client.request(CREATE_USER, { input })).createUser;
    },
    done: async (payload) => {
      users.set(payload.user.id, payload.user);
      const chosen = role.value;
      form.reset();
      role.value = forCatalog && chosen === "CUSTOMER_ADMIN" ? "END_USER" : chosen;
      draw();
      created.textContent = `Created ${payload.user.email} (${ROLE_TEXT[payload.user.role]}). They log in with this email and the password you chose.`;
      created.hidden = false;
      created.focus();
      list.querySelector(`tr[data-user="${payload.user.id}"]`)?.scrollIntoView({ block: "nearest" });
    },
  });
  draw();
  load();
  return h(
    "section",
    { class: "card" },
    h("h2", {}, title),
    noAdmin,
    message,
    h("div", { class: "table-wrap" }, h("table", { class: "table", "aria-label": "Users" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "User"), h("th", { scope: "col" }, "Role"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Spend limit"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))), list)),
    more,
    limits.element,
    h("h3", {}, "Add a user"),
    form,
    created,
  );
}

/** The customer administrator's Users screen (/users). */
export async function users(main, { client, viewer }) {
  document.title = "Users · Credits";
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Users"), h("p", { class: "muted" }, viewer.customer?.name || "")),
    h("p", { class: "muted" }, "Administrators see the ledger, set the alert threshold, manage users and receive alerts; end users request services. A deactivated user cannot log in."),
    usersCard(client, viewer, null, "Everyone with a login"),
  );
}

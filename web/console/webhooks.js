// Webhooks for catalog and customer administrators: endpoints (create, the secret shown once,
// enable/disable, rotate, delete, send a test) and each endpoint's deliveries with Redeliver.
// Built on contract-webhooks.graphql alone.
import "./relative-time-define.js";
import { h, replace, field, when } from "./dom.js";
import { confirmBox } from "./confirm.js";
import { bindMutation, focusLost, messageFor, whileBusy } from "./forms.js";
import { userErrorsText } from "./messages.js";
import { stylesheet } from "./stylesheet.js";

await Promise.all([stylesheet("screens.css"), stylesheet("webhooks.css")]);

const ENDPOINT_FIELDS = "id url description enabled disabledReason eventTypes createdAt customer { id name }";
// Each endpoint's backlog: how many deliveries it still owes and when the oldest was recorded.
const BACKLOG_FIELDS = "pendingDeliveries oldestPendingAt";
const ENDPOINTS = `query Endpoints { webhookEndpoints { ${ENDPOINT_FIELDS} ${BACKLOG_FIELDS} } }`;
const CUSTOMERS = `query WebhookCustomers { customers(first: 100) { nodes { id name } pageInfo { hasNextPage } } }`;
const ENDPOINT = `query Endpoint($id: ID!, $status: WebhookDeliveryStatus, $first: Int) {
  webhookEndpoint(id: $id) {
    ${ENDPOINT_FIELDS} ${BACKLOG_FIELDS}
    deliveries(status: $status, first: $first) {
      nodes { id eventType payload status attempts lastStatusCode lastError nextAttemptAt createdAt deliveredAt }
      pageInfo { hasNextPage }
    }
  }
}`;
const PAYLOAD = `webhookEndpoint { ${ENDPOINT_FIELDS} } userErrors { code field message }`;
const CREATE = `mutation CreateEndpoint($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret ${PAYLOAD} } }`;
const UPDATE = `mutation UpdateEndpoint($id: ID!, $input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $input) { ${PAYLOAD} } }`;
const ROTATE = `mutation RotateSecret($id: ID!) { rotateWebhookSecret(id: $id) { secret ${PAYLOAD} } }`;
const DELETE = `mutation DeleteEndpoint($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedId userErrors { code field message } } }`;
const TEST = `mutation SendTest($id: ID!) { sendTestWebhook(id: $id) { webhookDelivery { id status } userErrors { code field message } } }`;
const REDELIVER = `mutation Redeliver($id: ID!) { redeliverWebhook(deliveryId: $id) { webhookDelivery { id status } userErrors { code field message } } }`;

const EVENTS = [
  ["CREDIT_TRANSACTION_CREATED", "credit_transaction.created", "Every ledger entry"],
  ["CREDIT_ALERT_FIRED", "credit_alert.fired", "An alert fired"],
  ["CREDIT_ALERT_RESOLVED", "credit_alert.resolved", "A fired limit is back"],
  ["SERVICE_REQUEST_UPDATED", "service_request.updated", "A request made or finished"],
];
const WIRE = Object.fromEntries([...EVENTS, ["WEBHOOK_TEST", "webhook.test"]].map(([name, wire]) => [name, wire]));
const STATUS = { PENDING: "Pending", DELIVERED: "Delivered", FAILED: "Failed" };
const REFRESH_MS = 3000;

function eventsText(endpoint) {
  return endpoint.eventTypes.length ? endpoint.eventTypes.map((t) => WIRE[t] || t).join(", ") : "Every event";
}

function statusText(endpoint) {
  return endpoint.enabled ? "Enabled" : `Disabled${endpoint.disabledReason ? `: ${endpoint.disabledReason}` : ""}`;
}

/** How long ago `iso` was, roughly: "under a minute", "4 min", "2 h 5 min", "3 days". */
function age(iso) {
  const minutes = Math.floor(Math.max(0, Date.now() - Date.parse(iso)) / 60000);
  if (minutes < 1) return "under a minute";
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  const days = Math.floor(minutes / (24 * 60));
  return days === 1 ? "1 day" : `${days} days`;
}

/** "None pending", or how many deliveries wait and how long the oldest has: how far sending lags. */
function backlogText(endpoint) {
  if (!endpoint.pendingDeliveries) return "None pending";
  return `${endpoint.pendingDeliveries} pending, the oldest for ${age(endpoint.oldestPendingAt)}`;
}

function customerText(endpoint) {
  return endpoint.customer ? endpoint.customer.name : "Every customer";
}

/** The secret of a create or a rotation: shown once, with a copy button. */
function secretOnce(box, secret, intro) {
  const value = h("input", { id: "webhook-secret", readOnly: true, value: secret, class: "mono", autocomplete: "off", spellcheck: "false" });
  const copied = h("span", { class: "success small", role: "status" });
  const copy = h("button", { type: "button", class: "button" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(secret);
      copied.textContent = "Copied.";
    } catch {
      value.select();
      copied.textContent = "Select the secret and copy it.";
    }
  });
  replace(
    box,
    h("p", {}, h("strong", {}, intro), " Copy the signing secret now: it is shown only once and cannot be read again."),
    h("div", { class: "field" }, h("label", { for: "webhook-secret" }, "Signing secret"), h("div", { class: "copy-row" }, value, copy)),
    copied,
  );
  box.hidden = false;
  value.focus();
  value.select();
}

function eventChoices() {
  const boxes = EVENTS.map(([name, wire, hint]) => {
    const id = `event-${name.toLowerCase()}`;
    const input = h("input", { type: "checkbox", id, value: name });
    return { input, wrap: h("div", { class: "check" }, input, h("label", { for: id }, wire, " ", h("span", { class: "muted small" }, `(${hint})`))) };
  });
  const fieldset = h("fieldset", { class: "events" }, h("legend", {}, "Events"), h("p", { class: "hint" }, "None ticked: every event, test events included."), boxes.map((b) => b.wrap));
  return { fieldset, selected: () => boxes.filter((b) => b.input.checked).map((b) => b.input.value) };
}

export async function webhooks(main, { client, viewer }) {
  document.title = "Webhooks · Credits";
  const catalog = viewer.role === "CATALOG_ADMIN";
  const list = h("tbody");
  const shown = h("div", { class: "token-once", hidden: true });
  const columns = catalog ? 5 : 4;

  async function draw() {
    const found = (await client.request(ENDPOINTS)).webhookEndpoints;
    replace(list);
    if (!found.length) list.append(h("tr", {}, h("td", { colspan: columns, class: "empty" }, "No endpoints yet. Add one to have events sent to your systems as they happen.")));
    for (const endpoint of found) {
      list.append(
        h(
          "tr",
          {},
          h("th", { scope: "row" }, h("a", { href: `/webhooks/${endpoint.id}`, class: "url" }, endpoint.url), endpoint.description ? h("span", { class: "muted small block" }, endpoint.description) : null),
          catalog ? h("td", {}, customerText(endpoint)) : null,
          h("td", { class: "small" }, eventsText(endpoint)),
          h("td", {}, h("span", { class: endpoint.enabled ? "pill completed" : "pill failed" }, statusText(endpoint))),
          h("td", { class: "small" }, backlogText(endpoint)),
        ),
      );
    }
  }

  const url = field("Endpoint URL", { name: "url", type: "url", autocomplete: "off", required: true }, "A full address, e.g. https://example.com/webhooks/credits.");
  const description = field("Description", { name: "description", autocomplete: "off", placeholder: "e.g. billing sync (optional)" });
  const events = eventChoices();
  let customer = null;
  let customersCut = false;
  const customerField = { input: null, error: h("p", { class: "field-error", id: "webhook-customer-error", hidden: true }) };
  if (catalog) {
    const page = (await client.request(CUSTOMERS)).customers;
    customer = h(
      "select",
      { id: "webhook-customer", name: "customerId", "aria-describedby": "webhook-customer-error" },
      h("option", { value: "" }, "Every customer"),
      page.nodes.map((c) => h("option", { value: c.id }, c.name)),
    );
    customerField.input = customer;
    customersCut = page.pageInfo.hasNextPage;
  }
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    url.wrap,
    description.wrap,
    catalog ? h("div", { class: "field" }, h("label", { for: "webhook-customer" }, "Customer"), customer, h("p", { class: "hint" }, "Every customer: one endpoint receives the events of all of them.", customersCut ? " Only the first 100 customers by name are listed here; for another, use the API (createWebhookEndpoint with its customerId)." : ""), customerField.error) : null,
    events.fieldset,
    h("div", {}, h("button", { type: "submit", class: "button primary" }, "Create endpoint")),
  );
  bindMutation(form, {
    fields: { url, description, ...(catalog ? { customerId: customerField } : {}) },
    run: async () => {
      const input = { url: url.input.value.trim(), description: description.input.value.trim() || null, eventTypes: events.selected() };
      if (catalog && customer.value) input.customerId = customer.value;
      return (await client.request(CREATE, { input })).createWebhookEndpoint;
    },
    done: async (payload) => {
      form.reset();
      secretOnce(shown, payload.secret, `Endpoint ${payload.webhookEndpoint.url} created.`);
      shown.append(h("p", {}, h("a", { href: `/webhooks/${payload.webhookEndpoint.id}` }, "Open the endpoint"), " to send a test event and see its deliveries."));
      await draw();
    },
  });

  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Webhooks"), h("p", { class: "muted" }, "Events are POSTed as JSON and signed (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature).")),
    h("section", { class: "card" }, h("h2", {}, "Endpoints"), h("div", { class: "table-wrap" }, h("table", { class: "table", "aria-label": "Webhook endpoints" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "URL"), catalog ? h("th", { scope: "col" }, "Customer") : null, h("th", { scope: "col" }, "Events"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Backlog"))), list))),
    h("section", { class: "card" }, h("h2", {}, "Add an endpoint"), form, shown),
  );
  await draw();
}

function breadcrumbs(label) {
  return h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumbs" }, h("ol", {}, h("li", {}, h("a", { href: "/webhooks" }, "Webhooks")), h("li", {}, h("span", { "aria-current": "page" }, label))));
}

export async function webhookEndpoint(main, { client, navigate }, id) {
  document.title = "Webhook endpoint · Credits";
  let endpoint = null;
  let timer = null;
  let left = false;
  let shownCount = 50;
  const filter = h("select", { id: "delivery-status" }, h("option", { value: "" }, "All statuses"), Object.entries(STATUS).map(([value, label]) => h("option", { value }, label)));
  const summary = h("dl", { class: "facts" });
  const message = h("p", { class: "form-status", role: "alert", hidden: true, tabindex: "-1" });
  const done = h("p", { class: "success", role: "status", tabindex: "-1" });
  const secretBox = h("div", { class: "token-once", hidden: true });
  const body = h("tbody");
  const more = h("button", { type: "button", class: "button", hidden: true }, "Show more deliveries");
  const toggle = h("button", { type: "button", class: "button" });
  const test = h("button", { type: "button", class: "button primary" }, "Send test event");
  const rotate = h("button", { type: "button", class: "button" }, "Rotate secret");
  const remove = h("button", { type: "button", class: "button danger" }, "Delete endpoint");
  const refreshButton = h("button", { type: "button", class: "button small" }, "Refresh");
  const question = confirmBox();
  const heading = h("h1", { class: "url" }, "…");

  function fail(error) {
    message.textContent = messageFor(error);
    message.hidden = false;
  }

  /**
   * Run a mutation from `button`, busy while it runs (the endpoint's other buttons disabled); its
   * userErrors (or a failure) are shown. Returns the payload or null; `after(payload)` runs before
   * focus that the busy button dropped goes back to it, or to the message.
   */
  async function act(button, query, variables, name, after = async () => {}) {
    message.hidden = true;
    done.textContent = "";
    const work = async () => {
      try {
        const payload = (await client.request(query, variables))[name];
        if (payload.userErrors.length) {
          message.textContent = userErrorsText(payload.userErrors);
          message.hidden = false;
          return null;
        }
        return payload;
      } catch (error) {
        fail(error);
        return null;
      }
    };
    const payload = await whileBusy(button, work, [test, toggle, rotate, remove].filter((b) => b !== button));
    if (payload) await after(payload);
    if (focusLost()) (message.hidden ? (button.isConnected ? button : done) : message).focus();
    return payload;
  }

  function drawEndpoint() {
    heading.textContent = endpoint.url;
    replace(
      summary,
      h("dt", {}, "Description"), h("dd", {}, endpoint.description || "—"),
      h("dt", {}, "Customer"), h("dd", {}, customerText(endpoint)),
      h("dt", {}, "Events"), h("dd", {}, eventsText(endpoint)),
      h("dt", {}, "Status"), h("dd", {}, h("span", { class: endpoint.enabled ? "pill completed" : "pill failed" }, statusText(endpoint))),
      h("dt", {}, "Created"), h("dd", {}, h("relative-time", { datetime: endpoint.createdAt })),
      h("dt", {}, "Backlog"), h("dd", {}, backlogText(endpoint)),
    );
    toggle.textContent = endpoint.enabled ? "Disable" : "Enable";
  }

  function drawDeliveries(deliveries) {
    replace(body);
    if (!deliveries.nodes.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No deliveries yet. Send a test event, or wait for the next event of this endpoint.")));
    for (const delivery of deliveries.nodes) {
      const redeliver = h("button", { type: "button", class: "button small", "aria-label": `Redeliver ${WIRE[delivery.eventType] || delivery.eventType} of ${when(delivery.createdAt)}` }, "Redeliver");
      redeliver.addEventListener("click", () =>
        act(redeliver, REDELIVER, { id: delivery.id }, "redeliverWebhook", async () => {
          done.textContent = "Queued again, with the same id and body.";
          await load();
        }),
      );
      body.append(
        h(
          "tr",
          { "data-delivery": delivery.id },
          h("td", { class: "when" }, h("relative-time", { datetime: delivery.createdAt })),
          h("td", {}, h("details", {}, h("summary", {}, WIRE[delivery.eventType] || delivery.eventType), h("pre", { class: "payload" }, delivery.payload))),
          h("td", {}, h("span", { class: `pill ${delivery.status.toLowerCase()}` }, STATUS[delivery.status] || delivery.status)),
          h("td", { class: "num" }, String(delivery.attempts)),
          h("td", {}, delivery.lastStatusCode == null ? "—" : String(delivery.lastStatusCode), delivery.lastError ? h("span", { class: "muted small block" }, delivery.lastError) : null),
          h("td", {}, delivery.nextAttemptAt ? when(delivery.nextAttemptAt) : delivery.deliveredAt ? `Delivered ${when(delivery.deliveredAt)}` : "—"),
          h("td", { class: "actions" }, redeliver),
        ),
      );
    }
    more.hidden = !deliveries.pageInfo.hasNextPage || shownCount >= 100;
  }

  async function load() {
    clearTimeout(timer);
    let data;
    try {
      data = await client.request(ENDPOINT, { id, status: filter.value || null, first: shownCount });
    } catch (error) {
      fail(error);
      return;
    }
    if (left) return;
    endpoint = data.webhookEndpoint;
    if (!endpoint) return;
    drawEndpoint();
    drawDeliveries(endpoint.deliveries);
    // While a delivery is on its way, read again now and then (only while this tab is looked at).
    if (endpoint.deliveries.nodes.some((d) => d.status === "PENDING")) {
      timer = setTimeout(() => (document.visibilityState === "visible" ? load() : (timer = setTimeout(load, REFRESH_MS))), REFRESH_MS);
    }
  }

  const first = (await client.request(ENDPOINT, { id, status: null, first: shownCount })).webhookEndpoint;
  if (!first) {
    replace(main, h("section", { class: "empty-state" }, h("h1", {}, "Endpoint not found"), h("p", {}, "It was deleted, or it belongs to another customer."), h("a", { class: "button", href: "/webhooks" }, "Back to webhooks")));
    return undefined;
  }
  endpoint = first;

  toggle.addEventListener("click", () =>
    act(toggle, UPDATE, { id, input: { enabled: !endpoint.enabled } }, "updateWebhookEndpoint", async (payload) => {
      endpoint = { ...endpoint, ...payload.webhookEndpoint };
      drawEndpoint();
      done.textContent = endpoint.enabled ? "Enabled: events are sent again." : "Disabled: no event is sent until you enable it.";
    }),
  );
  test.addEventListener("click", () =>
    act(test, TEST, { id }, "sendTestWebhook", async () => {
      done.textContent = "Test event queued.";
      await load();
    }),
  );
  rotate.addEventListener("click", async () => {
    const text = "Rotate the signing secret? The old secret keeps signing too for 24 hours, so receivers can switch.";
    if (!(await question.ask({ text, yes: "Confirm: rotate secret", from: rotate }))) return;
    act(rotate, ROTATE, { id }, "rotateWebhookSecret", async (payload) => secretOnce(secretBox, payload.secret, "Secret rotated."));
  });
  remove.addEventListener("click", async () => {
    const text = `Delete the endpoint ${endpoint.url}? No more events are sent to it, and its delivery log goes with it.`;
    if (!(await question.ask({ text, yes: "Confirm: delete endpoint", danger: true, from: remove }))) return;
    act(remove, DELETE, { id }, "deleteWebhookEndpoint", async () => navigate("/webhooks"));
  });
  filter.addEventListener("change", load);
  refreshButton.addEventListener("click", load);
  more.addEventListener("click", () => {
    shownCount = 100;
    load();
  });

  replace(
    main,
    breadcrumbs("Endpoint"),
    h("div", { class: "page-head" }, heading),
    h("section", { class: "card" }, h("h2", {}, "Endpoint"), summary, h("div", { class: "row-actions" }, test, toggle, rotate, remove), question.element, message, done, secretBox),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Deliveries"),
      h("div", { class: "toolbar" }, h("label", { for: "delivery-status" }, "Status"), filter, refreshButton),
      h("div", { class: "table-wrap" }, h("table", { class: "table", "aria-label": "Deliveries" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, "Event"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col", class: "num" }, "Attempts"), h("th", { scope: "col" }, "Last answer"), h("th", { scope: "col" }, "Next attempt"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))), body)),
      more,
    ),
  );
  drawEndpoint();
  drawDeliveries(endpoint.deliveries);
  await load();
  return () => {
    left = true;
    clearTimeout(timer);
  };
}

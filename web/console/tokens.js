// API tokens for integrators: create (the token is shown once, with a copy button) and revoke.
import "./relative-time-define.js";
import { confirmBox } from "./confirm.js";
import { h, replace, field, when } from "./dom.js";
import { bindMutation, focusLost, messageFor, whileBusy } from "./forms.js";
import { userErrorsText } from "./messages.js";
import { stylesheet } from "./stylesheet.js";

await stylesheet("screens.css");

const TOKENS = `query Tokens { apiTokens { id name createdAt lastUsedAt revokedAt } }`;
const CREATE = `mutation CreateToken($name: String!) {
  createApiToken(name: $name) { token apiToken { id name } userErrors { code field message } }
}`;
const REVOKE = `mutation Revoke($id: ID!) { revokeApiToken(id: $id) { apiToken { id revokedAt } userErrors { code field message } } }`;

export async function tokens(main, { client }) {
  document.title = "API tokens · Credits";
  const list = h("tbody");
  const shown = h("div", { class: "token-once", hidden: true });
  const message = h("p", { class: "form-status", role: "alert", hidden: true, tabindex: "-1" });
  const question = confirmBox();

  async function draw() {
    const found = (await client.request(TOKENS)).apiTokens;
    replace(list);
    if (!found.length) list.append(h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No API tokens yet. Create one for each integration, so each can be revoked on its own.")));
    for (const token of found) {
      const revoke = h("button", { type: "button", class: "button small danger" }, "Revoke");
      revoke.addEventListener("click", async () => {
        const text = `Revoke “${token.name}”? Programs using it stop working at once.`;
        if (!(await question.ask({ text, yes: `Confirm: revoke “${token.name}”`, danger: true, from: revoke }))) return;
        await whileBusy(revoke, async () => {
          try {
            const payload = (await client.request(REVOKE, { id: token.id })).revokeApiToken;
            if (payload.userErrors.length) throw new Error(userErrorsText(payload.userErrors));
          } catch (error) {
            message.textContent = messageFor(error);
            message.hidden = false;
          }
        });
        await draw();
        // The row's Revoke is gone: focus goes to the token's row (its new state), or the error.
        if (focusLost()) (message.hidden ? list.querySelector(`tr[data-token="${token.id}"] th`) : message)?.focus();
      });
      list.append(
        h(
          "tr",
          { "data-token": token.id },
          h("th", { scope: "row", tabindex: "-1" }, token.name),
          h("td", { class: "when" }, h("relative-time", { datetime: token.createdAt })),
          h("td", {}, token.revokedAt ? `Revoked ${when(token.revokedAt)}` : token.lastUsedAt ? `Last used ${when(token.lastUsedAt)}` : "Never used"),
          h("td", { class: "actions" }, token.revokedAt ? "" : revoke),
        ),
      );
    }
  }

  const name = field("Token name", { name: "name", autocomplete: "off", required: true, placeholder: "e.g. billing sync" });
  const form = h("form", { class: "inline-form", novalidate: true }, name.wrap, h("button", { type: "submit", class: "button primary" }, "Create token"));
  bindMutation(form, {
    fields: { name },
    run: async () => (await client.request(CREATE, { name: name.input.value.trim() })).createApiToken,
    done: async (payload) => {
      form.reset();
      const value = h("input", { id: "new-token", readOnly: true, value: payload.token, class: "mono", autocomplete: "off", spellcheck: "false" });
      const copied = h("span", { class: "success small", role: "status" });
      const copy = h("button", { type: "button", class: "button" }, "Copy");
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(payload.token);
          copied.textContent = "Copied.";
        } catch {
          value.select();
          copied.textContent = "Select the token and copy it.";
        }
      });
      replace(
        shown,
        h("p", {}, h("strong", {}, `Token “${payload.apiToken.name}” created.`), " Copy it now: it is shown only once and cannot be read again."),
        h("div", { class: "field" }, h("label", { for: "new-token" }, "New token"), h("div", { class: "copy-row" }, value, copy)),
        copied,
      );
      shown.hidden = false;
      value.focus();
      value.select();
      await draw();
    },
  });

  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "API tokens"), h("p", { class: "muted" }, "Tokens act as you in the GraphQL API: send them as “Authorization: Bearer <token>”.")),
    h("section", { class: "card" }, h("h2", {}, "Create a token"), form, shown),
    h("section", { class: "card" }, h("h2", {}, "Your tokens"), message, h("div", { class: "table-wrap" }, h("table", { class: "table", "aria-label": "API tokens" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, "Use"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))), list)), question.element),
  );
  await draw();
}

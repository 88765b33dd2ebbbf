// Mutations from forms: one idempotency key per user action, the button busy while it runs, and
// userErrors shown beside the field they name, in the console's words (messages.js).
import { idempotencyKey } from "./graphql.js";
import { h, setError } from "./dom.js";
import { messageFor, userErrorMessage } from "./messages.js";

export { messageFor };

/**
 * Bind a form to a mutation. `fields` maps an argument name (the last part of a userError's field
 * path, e.g. "amount") to a field from dom.field(). `run(key)` sends the mutation and returns its
 * payload; `done(payload)` handles success. The key stays the same until the action succeeds or the
 * form is edited, so a double click or a retry replays instead of acting twice.
 */
export function bindMutation(form, { fields = {}, run, done, keyed = false }) {
  const status = h("p", { class: "form-status", role: "alert", hidden: true });
  form.append(status);
  let key = null;
  let busy = false;
  form.addEventListener("input", () => {
    key = null;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    const buttons = form.querySelectorAll("button[type=submit]");
    buttons.forEach((b) => b.setAttribute("aria-disabled", "true"));
    for (const parts of Object.values(fields)) setError(parts, null);
    status.hidden = true;
    if (keyed && !key) key = idempotencyKey();
    try {
      const payload = await run(key);
      const errors = payload.userErrors || [];
      if (errors.length) {
        showErrors(errors, fields, status);
      } else {
        key = null;
        await done(payload);
      }
    } catch (error) {
      status.textContent = messageFor(error);
      status.hidden = false;
    } finally {
      busy = false;
      buttons.forEach((b) => b.removeAttribute("aria-disabled"));
    }
  });
  return { status, clearKey: () => (key = null) };
}

function showErrors(errors, fields, status) {
  const general = [];
  let focused = false;
  for (const error of errors) {
    const name = error.field?.[error.field.length - 1];
    const parts = name && fields[name];
    if (parts) {
      setError(parts, userErrorMessage(error));
      if (!focused) parts.input.focus();
      focused = true;
    } else {
      general.push(userErrorMessage(error));
    }
  }
  status.textContent = general.join(" ");
  status.hidden = general.length === 0;
}

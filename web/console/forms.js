// Mutations from forms: one idempotency key per user action, the button busy while it runs, and
// userErrors shown beside the field they name, in the console's words (messages.js).
import { idempotencyKey } from "./graphql.js";
import { h, setError } from "./dom.js";
import { messageFor, userErrorMessage } from "./messages.js";

export { messageFor };

/**
 * Show `button` busy while `work()` runs: disabled, aria-busy, a spinner (style.css). `others` are
 * disabled too (a confirmation's Cancel). Returns what `work()` returns; a busy button ignores clicks.
 */
export async function whileBusy(button, work, others = []) {
  const all = [button, ...others].filter((b) => b && !b.disabled);
  for (const b of all) b.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.removeAttribute("aria-busy");
    for (const b of all) b.disabled = false;
  }
}

/** Whether keyboard focus is nowhere in particular (a disabled button dropped it to the body). */
export function focusLost() {
  return !document.activeElement || document.activeElement === document.body;
}

/** The button that sent `event`: its submitter, else the focused button of the form, else its submit button. */
function sender(form, event) {
  const active = document.activeElement;
  if (event.submitter) return event.submitter;
  if (active?.tagName === "BUTTON" && form.contains(active)) return active;
  return [...form.querySelectorAll("button[type=submit]")].find((b) => !b.hidden) || null;
}

/**
 * Bind a form to a mutation. `fields` maps an argument name (the last part of a userError's field
 * path, e.g. "amount") to a field from dom.field(). `run(key)` sends the mutation and returns its
 * payload; `done(payload)` handles success (and moves the focus to what it shows). The key stays
 * the same until the action succeeds or the form is edited, so a double click or a retry replays
 * instead of acting twice. While it runs the button that sent it is busy and the form's other
 * visible buttons are disabled; focus that the busy button dropped comes back to it (or the status).
 */
export function bindMutation(form, { fields = {}, run, done, keyed = false }) {
  const status = h("p", { class: "form-status", role: "alert", hidden: true, tabindex: "-1" });
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
    const button = sender(form, event);
    const others = [...form.querySelectorAll("button")].filter((b) => b !== button && !b.hidden && !b.closest("[hidden]"));
    for (const parts of Object.values(fields)) setError(parts, null);
    status.hidden = true;
    if (keyed && !key) key = idempotencyKey();
    const work = async () => {
      try {
        const payload = await run(key);
        const errors = payload.userErrors || [];
        if (errors.length) {
          showErrors(errors, fields, status);
        } else {
          key = null;
          return payload;
        }
      } catch (error) {
        status.textContent = messageFor(error);
        status.hidden = false;
      }
      return null;
    };
    try {
      const payload = button ? await whileBusy(button, work, others) : await work();
      if (payload) await done(payload);
      if (!focusLost()) return;
      if (!status.hidden) status.focus();
      else if (button?.isConnected && button.offsetParent !== null) button.focus();
    } finally {
      busy = false;
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

// A few DOM helpers: elements are built with textContent and properties, never from HTML strings.

/** h("button", {class: "primary", onclick: f}, "Save") → an element. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name in element && typeof value !== "string") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : value);
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let counter = 0;

/** A unique id for label/description wiring. */
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled input with a slot for its error: {wrap, input, error}. */
export function field(label, attributes = {}, hint = null) {
  const id = uid(attributes.name || "field");
  const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const help = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  const input = h("input", {
    id,
    ...attributes,
    "aria-describedby": [help ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" "),
  });
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), input, help, error);
  return { wrap, input, error };
}

/** Show or clear an error beside a field. */
export function setError(fieldParts, message) {
  fieldParts.error.textContent = message || "";
  fieldParts.error.hidden = !message;
  fieldParts.input.setAttribute("aria-invalid", message ? "true" : "false");
}

/** "2026-11-29T18:00:00+00:00" → a short local date and time. */
export function when(iso) {
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

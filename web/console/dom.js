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

/** The column header's text for a body cell, "" for a visually hidden one (an actions column). */
function columnLabel(cell) {
  const table = cell.closest("table");
  const headRow = table?.tHead?.rows[0];
  if (!headRow) return null;
  let column = 0;
  for (const before of cell.parentElement.cells) {
    if (before === cell) break;
    column += before.colSpan;
  }
  let start = 0;
  for (const header of headRow.cells) {
    if (column < start + header.colSpan) {
      const text = header.textContent.trim();
      const hidden = header.querySelector(".visually-hidden");
      return hidden && hidden.textContent.trim() === text ? "" : text;
    }
    start += header.colSpan;
  }
  return null;
}

// Safari drops a table's semantics once its parts are display: block (the cards): say them in ARIA.
const ROLES = { TABLE: "table", THEAD: "rowgroup", TBODY: "rowgroup", TR: "row", TD: "cell" };

function keepRoles(root) {
  for (const part of root.querySelectorAll("table.table:not([role]), table.table :is(thead, tbody, tr, th, td):not([role])")) {
    const role = part.tagName === "TH" ? (part.scope === "row" ? "rowheader" : "columnheader") : ROLES[part.tagName];
    if (role && part.closest("table.table")) part.setAttribute("role", role);
  }
}

function labelCells(root) {
  keepRoles(root);
  for (const cell of root.querySelectorAll("table.table > tbody > tr > td:not([data-label])")) {
    if (cell.colSpan > 1) continue;
    const label = columnLabel(cell);
    if (label !== null) cell.dataset.label = label;
  }
}

/**
 * Give every body cell of a `.table` under `root`, now and later, its column's name as data-label:
 * on narrow screens each row is a card and the CSS shows the name before the value.
 */
export function labelTableCells(root) {
  labelCells(root);
  new MutationObserver(() => labelCells(root)).observe(root, { childList: true, subtree: true });
}

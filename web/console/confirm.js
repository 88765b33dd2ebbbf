// An inline question before an action, placed by the screen under what asks it: the question, a
// button that goes on and one that goes back (Escape too). Focus moves to the question when it
// opens and back to the asking button when it closes, so the action that follows starts from there.
import { h, replace } from "./dom.js";

/** One question at a time: {element, ask, close}. */
export function confirmBox() {
  const element = h("div", { class: "confirm", role: "alert", hidden: true, tabindex: "-1" });
  let back = null;
  let answer = null;
  const close = (yes = false) => {
    const inside = element.contains(document.activeElement);
    element.hidden = true;
    element.replaceChildren();
    if (yes || inside) back?.focus();
    answer?.(yes);
    answer = null;
  };
  /** Ask `text` for `from`: true when `yes` is pressed, false when `no`, Escape or another question. */
  const ask = ({ text, yes, no = "Keep", danger = false, from }) => {
    close();
    back = from;
    const go = h("button", { type: "button", class: `button small ${danger ? "danger" : "primary"}` }, yes);
    const stay = h("button", { type: "button", class: "button small" }, no);
    go.addEventListener("click", () => close(true));
    stay.addEventListener("click", () => close(false));
    replace(element, h("p", {}, text), h("div", { class: "row-actions" }, go, stay));
    element.hidden = false;
    element.focus();
    return new Promise((resolve) => (answer = resolve));
  };
  element.addEventListener("keydown", (event) => event.key === "Escape" && close(false));
  return { element, ask, close };
}

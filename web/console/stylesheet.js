// Stylesheets of the screens that have rules of their own (the shared ones are in style.css, which
// the page loads first). Only those screens import this module.
import { h } from "./dom.js";

const sheets = new Map(); // href → the promise of its load

/**
 * Add a stylesheet of the console (`name` beside this module) to the page, once; the promise settles
 * when it has loaded. A screen with rules of its own awaits it before drawing (no unstyled flash); a
 * sheet that fails to load lets the screen draw anyway.
 */
export function stylesheet(name) {
  const href = new URL(name, import.meta.url).href;
  if (!sheets.has(href)) {
    const link = h("link", { rel: "stylesheet", href });
    const loaded = new Promise((resolve) => {
      link.addEventListener("load", resolve);
      link.addEventListener("error", resolve);
    });
    sheets.set(href, loaded);
    document.head.append(link);
  }
  return sheets.get(href);
}

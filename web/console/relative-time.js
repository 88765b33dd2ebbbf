// <relative-time datetime="2026-12-06T10:11:50Z">: "3 minutes ago", with the absolute time to the
// second and its time zone as the title ("6 Dec 2026, 10:11:50 UTC"). In the manner of
// github/relative-time-element: one element, its API the `datetime` attribute, plain text as its
// output, registered by relative-time-define.js. Every connected element is brought up to date by
// one shared timer, which runs only while some element is on the page.

const TICK_MS = 15_000;
// Up to a month the time reads as relative; older ones read as a date ("6 Nov 2026").
const UNITS = [
  ["second", 60],
  ["minute", 60],
  ["hour", 24],
  ["day", 30],
];

const connected = new Set();
let timer = null;

function tick() {
  for (const element of connected) element.update();
}

function watch(element) {
  connected.add(element);
  timer ??= setInterval(tick, TICK_MS);
}

function unwatch(element) {
  connected.delete(element);
  if (!connected.size && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}

document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && tick());

/** "3 minutes ago", "in 2 hours", "just now", or "6 Nov 2026" beyond a month, for `date` seen at `now`. */
export function relativeText(date, now = new Date(), locale = undefined) {
  let value = (date.getTime() - now.getTime()) / 1000;
  if (Math.abs(value) < 45) return "just now";
  const format = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  for (const [unit, size] of UNITS) {
    if (Math.abs(value) < size) return format.format(Math.round(value), unit);
    value /= size;
  }
  return date.toLocaleDateString(locale, { dateStyle: "medium" });
}

/** The absolute time to the second with its time zone, e.g. "6 Dec 2026, 10:11:50 UTC". */
export function absoluteText(date, locale = undefined) {
  return date.toLocaleString(locale, { dateStyle: "medium", timeStyle: "long" });
}

export class RelativeTimeElement extends HTMLElement {
  static get observedAttributes() {
    return ["datetime"];
  }

  /** The moment shown, from the `datetime` attribute (null when absent or unreadable). */
  get date() {
    const date = new Date(this.getAttribute("datetime") || "");
    return Number.isNaN(date.getTime()) ? null : date;
  }

  set date(value) {
    this.setAttribute("datetime", value instanceof Date ? value.toISOString() : String(value));
  }

  connectedCallback() {
    watch(this);
    this.update();
  }

  disconnectedCallback() {
    unwatch(this);
  }

  attributeChangedCallback() {
    if (this.isConnected) this.update();
  }

  /** Write the text and the title for the current time. */
  update() {
    const date = this.date;
    if (!date) {
      this.textContent = this.getAttribute("datetime") || "";
      this.removeAttribute("title");
      return;
    }
    const text = relativeText(date);
    if (this.textContent !== text) this.textContent = text;
    const title = absoluteText(date);
    if (this.getAttribute("title") !== title) this.setAttribute("title", title);
  }
}

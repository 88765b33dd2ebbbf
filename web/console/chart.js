// The balance-history chart: the balance in credits over time as a step line, drawn by uPlot
// (vendored, loaded on first use), with date axes in local time, the zero line, the alert threshold,
// a tooltip and a text alternative; kept live from the customer's BalanceWatch. uPlot plots Numbers,
// which only place pixels: every amount a person reads is the API's Decimal string, kept beside them.
import { h, replace } from "./dom.js";
import { formatCredits, signed, toCents } from "./money.js";

const UPLOT = new URL("../vendor/uplot@1.6.32/", import.meta.url);
const HISTORY = `query BalanceHistory($id: ID) {
  customer(id: $id) { id transactions(first: 100) { nodes { sequence amount balanceAfter createdAt } } }
}`;
const KEEP = 500; // points kept as live entries arrive (the first load brings the last 100)
const LISTED = 10; // rows of the text alternative's table
const DAY = 86400;

let library = null;

/** uPlot (window.uPlot, from its IIFE build) and its stylesheet, added to the page once. */
export function loadUplot() {
  library ??= new Promise((resolve, reject) => {
    const script = h("script", { src: new URL("uPlot.iife.min.js", UPLOT).href });
    script.addEventListener("load", () => resolve(window.uPlot));
    script.addEventListener("error", () => {
      library = null;
      script.remove();
      reject(new Error("The chart library did not load."));
    });
    document.head.append(h("link", { rel: "stylesheet", href: new URL("uPlot.min.css", UPLOT).href }), script);
  });
  return library;
}

const stamp = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "long" });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
const month = new Intl.DateTimeFormat(undefined, { month: "short" });
const year = new Intl.DateTimeFormat(undefined, { year: "numeric" });
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const clockSeconds = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const tickNumber = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** "12.50" → "12.50 credits": the one place a chart amount becomes text. */
function credits(amount) {
  return formatCredits(amount);
}

/** A ledger entry as a point: seconds for the x axis, hundredths and the Decimal string for the rest. */
function toPoint(entry) {
  // Milliseconds at most: the API writes microseconds, which not every Date parser accepts.
  const iso = entry.createdAt.replace(/(\.\d{3})\d+/, "$1");
  return { sequence: entry.sequence, time: Date.parse(iso) / 1000, cents: toCents(entry.balanceAfter), balance: entry.balanceAfter, amount: entry.amount, createdAt: iso };
}

/**
 * The x axis' labels, two lines: the unit the ticks step by, and under the first tick and wherever it
 * changes, the next larger one: "14:05" over "6 Dec", "7 Nov" over "2026", "Feb" over "2026".
 */
function timeTicks(_u, splits, _axis, _space, increment) {
  const [major, minor] = increment >= 28 * DAY ? [month, year] : increment >= DAY ? [dayMonth, year] : [increment < 60 ? clockSeconds : clock, dayMonth];
  let previous = null;
  return splits.map((s) => {
    const date = new Date(s * 1000);
    const context = minor.format(date);
    const label = context === previous ? major.format(date) : `${major.format(date)}\n${context}`;
    previous = context;
    return label;
  });
}

/** The y axis' labels: grouped, with a true minus sign. Tick positions only, never an amount. */
function amountTicks(_u, splits) {
  return splits.map((v) => tickNumber.format(v).replace("-", "\u2212"));
}

/**
 * The "Balance history" chart of one customer: {element, stop}. It reads the last 100 ledger entries
 * once the watch is anchored and appends each entry the watch brings.
 */
export function balanceHistory(client, customerId, watch) {
  const entries = new Map(); // sequence → point
  let points = []; // oldest first, what is drawn
  let plot = null;
  let loading = null;
  let frame = null;
  let stopped = false;
  let loaded = false; // the first page is in: until then live entries only wait in `entries`

  const plotBox = h("div", { class: "chart-plot", role: "img" });
  const zero = h("div", { class: "chart-rule zero" }, h("span", {}, "0"));
  const threshold = h("div", { class: "chart-rule threshold", hidden: true }, h("span"));
  const tip = h("div", { class: "chart-tip", hidden: true, "aria-hidden": "true" });
  const rows = h("tbody");
  const table = h("table", {}, h("caption", {}, "The latest balance changes"), h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Date"), h("th", { scope: "col" }, "Change"), h("th", { scope: "col" }, "Balance after"))), rows);
  const message = h("p", { class: "muted" }, "Loading the balance history…");
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const element = h("div", { class: "chart-box" }, h("p", { class: "muted small chart-caption" }, `Balance in credits; times in your time zone (${zone}).`), plotBox, message, h("div", { class: "visually-hidden" }, table));

  const css = (name) => getComputedStyle(element).getPropertyValue(name).trim();
  const thresholdValue = () => (watch.threshold == null ? null : Number(toCents(watch.threshold)) / 100);

  function describe() {
    replace(rows, points.slice(-LISTED).reverse().map((p) => h("tr", {}, h("td", {}, stamp.format(new Date(p.createdAt))), h("td", {}, signed(p.amount)), h("td", {}, credits(p.balance)))));
    if (!points.length) return plotBox.removeAttribute("aria-label");
    let low = points[0];
    let high = points[0];
    for (const p of points) {
      if (p.cents < low.cents) low = p;
      if (p.cents > high.cents) high = p;
    }
    const first = points[0];
    const last = points.at(-1);
    const alert = watch.threshold == null ? "no alert threshold" : `alert threshold ${credits(watch.threshold)}`;
    plotBox.setAttribute(
      "aria-label",
      `Balance history: ${points.length} change${points.length === 1 ? "" : "s"} from ${stamp.format(new Date(first.createdAt))} to ${stamp.format(new Date(last.createdAt))}; ` +
        `now ${credits(last.balance)}, lowest ${credits(low.balance)}, highest ${credits(high.balance)}; ${alert}.`,
    );
  }

  /** Place the zero and threshold lines (DOM, so they are styled by CSS and labelled in text). */
  function rules(u) {
    zero.style.top = `${u.valToPos(0, "y")}px`;
    const value = thresholdValue();
    threshold.hidden = value === null;
    if (value !== null) {
      threshold.style.top = `${u.valToPos(value, "y")}px`;
      threshold.firstChild.textContent = `Alert threshold ${watch.threshold}`;
    }
    // Labels sit above their lines; when the two lines are close, the lower one's goes below it.
    const close = value !== null && Math.abs(u.valToPos(value, "y") - u.valToPos(0, "y")) < 20;
    zero.classList.toggle("label-below", close && value > 0);
    threshold.classList.toggle("label-below", close && value < 0);
  }

  /** The tooltip of the change under the pointer (the line's last stretch, up to now, is the last change). */
  function showTip(u) {
    const index = u.cursor.idx;
    const point = index == null ? null : points[Math.min(index, points.length - 1)];
    if (!point) {
      tip.hidden = true;
      return;
    }
    replace(tip, h("strong", {}, credits(point.balance)), h("span", {}, `#${point.sequence}: ${signed(point.amount)}`), h("span", {}, stamp.format(new Date(point.createdAt))));
    tip.hidden = false;
    // Beside the pointer, on the side with room, and never past the plot's edges (phones).
    const x = u.cursor.left;
    const width = tip.offsetWidth;
    const right = x + 12 + width <= u.over.clientWidth;
    const left = right ? x + 12 : Math.max(x - 12 - width, -u.over.offsetLeft);
    tip.style.left = `${left}px`;
    tip.style.top = `${u.valToPos(Number(point.cents) / 100, "y")}px`;
  }

  function size() {
    const width = Math.max(plotBox.clientWidth, 240);
    return { width, height: width < 480 ? 200 : 240 };
  }

  function options(uPlot) {
    const axis = { stroke: () => css("--chart-axis"), grid: { stroke: () => css("--chart-grid"), width: 1 }, ticks: { stroke: () => css("--chart-grid"), width: 1 } };
    return {
      ...size(),
      legend: { show: false },
      cursor: { y: false, drag: { x: false, y: false }, points: { size: 9, fill: () => css("--chart-line") } },
      scales: {
        x: {
          time: true,
          range: (_u, min, max) => [Math.min(min, max - 60), max],
        },
        y: {
          range: (_u, min, max) => {
            const marks = [0, thresholdValue()].filter((v) => v !== null);
            const low = Math.min(min, ...marks);
            const high = Math.max(max, ...marks);
            const pad = (high - low) * 0.12 || 1;
            return [low - pad, high + pad];
          },
        },
      },
      axes: [
        { ...axis, values: timeTicks, size: 48, space: 70 },
        { ...axis, values: amountTicks, size: (u, values) => 16 + 7 * Math.max(3, ...(values || []).map((v) => v.length)) },
      ],
      series: [
        {},
        {
          label: "Balance",
          stroke: () => css("--chart-line"),
          fill: () => css("--chart-fill"),
          width: 2,
          paths: uPlot.paths.stepped({ align: 1 }),
          points: { size: 6, fill: () => css("--chart-line") },
        },
      ],
      hooks: { draw: [rules], setCursor: [showTip] },
    };
  }

  // The last change holds until now: the line runs on to a final point at the present moment.
  const data = () => {
    const last = points.at(-1);
    const now = Math.max(Date.now() / 1000, last.time);
    return [[...points.map((p) => p.time), now], [...points.map((p) => Number(p.cents) / 100), Number(last.cents) / 100]];
  };

  function render() {
    points = [...entries.values()].sort((a, b) => a.sequence - b.sequence).slice(-KEEP);
    if (entries.size > KEEP) for (const p of [...entries.values()]) if (p.sequence < points[0].sequence) entries.delete(p.sequence);
    describe();
    message.hidden = points.length > 0;
    plotBox.hidden = points.length === 0;
    if (!points.length) return;
    if (plot) {
      plot.setData(data());
      return;
    }
    loading ??= loadUplot().then(
      (uPlot) => {
        if (stopped) return;
        plot = new uPlot(options(uPlot), data(), plotBox);
        plot.over.append(zero, threshold, tip);
        rules(plot);
        resizer.observe(plotBox);
      },
      (error) => {
        loading = null;
        message.textContent = error.message;
        message.hidden = false;
      },
    );
  }

  const schedule = () => {
    // One redraw per animation frame, however many entries a replay brings at once.
    frame ??= requestAnimationFrame(() => {
      frame = null;
      render();
    });
  };
  const resizer = new ResizeObserver(() => {
    const next = size();
    if (plot && (next.width !== plot.width || next.height !== plot.height)) plot.setSize(next);
  });
  // The line's last stretch ends at "now": move it on while the screen stays open.
  const clockTick = setInterval(() => plot && points.length && plot.setData(data()), 60_000);
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const recolour = () => plot?.redraw(false);
  dark.addEventListener("change", recolour);

  const onChange = (event) => {
    const entry = event.detail.transaction;
    if (!entry || entries.has(entry.sequence)) return;
    entries.set(entry.sequence, toPoint(entry));
    if (loaded) schedule();
  };
  const onThreshold = () => {
    if (loaded) schedule();
  };
  watch.addEventListener("change", onChange);
  watch.addEventListener("threshold", onThreshold);
  // After the watch's anchor: the query holds every entry up to it, the watch brings the later ones.
  const ready = watch.ready
    .then(() => client.request(HISTORY, { id: customerId }))
    .then(
      (result) => {
        for (const node of result.customer.transactions.nodes) if (!entries.has(node.sequence)) entries.set(node.sequence, toPoint(node));
        loaded = true;
        if (entries.size) message.textContent = "";
        else message.textContent = "The chart appears after the first transaction.";
        render();
      },
      () => {
        message.textContent = "The balance history could not be loaded.";
      },
    );

  const stop = () => {
    stopped = true;
    watch.removeEventListener("change", onChange);
    watch.removeEventListener("threshold", onThreshold);
    dark.removeEventListener("change", recolour);
    resizer.disconnect();
    clearInterval(clockTick);
    if (frame) cancelAnimationFrame(frame);
    plot?.destroy();
  };
  return { element, ready, stop };
}

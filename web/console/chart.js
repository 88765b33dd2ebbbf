// The balance-history chart: a small SVG drawn by hand from ledger entries. Coordinates come from
// BigInt hundredths, scaled with integer arithmetic; no amount ever becomes a float.
import { toCents } from "./money.js";

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 160;
const PAD = 8;

function svg(tag, attributes) {
  const element = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/** An SVG line of balanceAfter over the entries (oldest first), with the zero line marked. */
export function balanceChart(entries, label) {
  const figure = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", role: "img", "aria-label": label });
  const title = svg("title", {});
  title.textContent = label;
  figure.append(title);
  if (entries.length === 0) return figure;
  const values = entries.map((e) => toCents(e.balanceAfter));
  let low = 0n;
  let high = 0n;
  for (const v of values) {
    if (v < low) low = v;
    if (v > high) high = v;
  }
  if (high === low) high = low + 100n;
  const span = high - low;
  const inner = BigInt(HEIGHT - 2 * PAD);
  const y = (v) => PAD + Number(((high - v) * inner) / span);
  const steps = Math.max(values.length - 1, 1);
  const x = (i) => PAD + Math.round((i * (WIDTH - 2 * PAD)) / steps);
  figure.append(svg("line", { x1: PAD, x2: WIDTH - PAD, y1: y(0n), y2: y(0n), class: "zero" }));
  const points = values.map((v, i) => `${x(i)},${y(v)}`);
  if (values.length === 1) points.push(`${WIDTH - PAD},${y(values[0])}`);
  figure.append(svg("polyline", { points: points.join(" "), class: "line" }));
  values.forEach((v, i) => {
    figure.append(svg("circle", { cx: x(i), cy: y(v), r: 3, class: v < 0n ? "dot negative" : "dot" }));
  });
  return figure;
}

/**
 * Denials by reason over time: one stacked bar per minute (an SVG drawn here, no chart
 * library), a legend, and the same numbers as a table for those who do not read charts.
 * Refreshed every few seconds while the view is shown.
 */
import { getJson } from "./api.ts";
import { byId, clear, el } from "./dom.ts";
import { refreshedView } from "./refreshedView.ts";

const REFRESH_MS = 5000;
const SVG = "http://www.w3.org/2000/svg";
/** Distinct hues with at least 3:1 contrast on white (WCAG 1.4.11), each reason keeping its colour. */
const PALETTE = ["#a3231c", "#0b57d0", "#7a4b00", "#6a1b9a", "#00695c", "#c2185b", "#37474f", "#2e7d32", "#ad4700", "#1a237e"];

interface Series {
  readonly actor: string | null;
  readonly bucket_seconds: number;
  readonly reasons: ReadonlyArray<string>;
  readonly buckets: ReadonlyArray<{ start: string; decisions: number; denied: Readonly<Record<string, number>> }>;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

export function denialsView(): { readonly show: () => void; readonly hide: () => void } {
  const chart = byId("denials-chart");
  const caption = byId("denials-caption");
  const legend = byId("denials-legend");
  const table = byId("denials-table");
  const minutes = byId<HTMLSelectElement>("denials-minutes");
  const colours = new Map<string, string>();
  const colourOf = (reason: string) => {
    if (!colours.has(reason)) colours.set(reason, PALETTE[colours.size % PALETTE.length]!);
    return colours.get(reason)!;
  };

  const draw = (series: Series) => {
    const totals = new Map<string, number>();
    for (const bucket of series.buckets) for (const [reason, n] of Object.entries(bucket.denied)) totals.set(reason, (totals.get(reason) ?? 0) + n);
    const denied = [...totals.values()].reduce((a, b) => a + b, 0);
    const decisions = series.buckets.reduce((sum, b) => sum + b.decisions, 0);
    const top = series.reasons[0];

    const width = 1000;
    const height = 260;
    const pad = { left: 44, right: 8, top: 10, bottom: 26 };
    const peak = Math.max(1, ...series.buckets.map((b) => Object.values(b.denied).reduce((a, n) => a + n, 0)));
    const slot = (width - pad.left - pad.right) / Math.max(1, series.buckets.length);
    const scale = (height - pad.top - pad.bottom) / peak;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-labelledby": "denials-caption" });
    root.append(svg("line", { x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom, stroke: "#4a4a55" }));
    const axis = svg("text", { x: pad.left - 6, y: pad.top + 12, "text-anchor": "end", "font-size": 12, fill: "#1b1b1f" });
    axis.textContent = String(peak);
    root.append(axis);
    series.buckets.forEach((bucket, i) => {
      let y = height - pad.bottom;
      for (const reason of series.reasons) {
        const n = bucket.denied[reason] ?? 0;
        if (n === 0) continue;
        const h = n * scale;
        y -= h;
        const bar = svg("rect", { x: pad.left + i * slot + slot * 0.1, y, width: Math.max(1, slot * 0.8), height: h, fill: colourOf(reason) });
        const tip = svg("title", {});
        tip.textContent = `${new Date(bucket.start).toLocaleTimeString([], { hour12: false })}: ${n} ${reason}`;
        bar.append(tip);
        root.append(bar);
      }
    });
    const first = series.buckets[0];
    const last = series.buckets.at(-1);
    if (first && last) {
      for (const [x, anchor, text] of [[pad.left, "start", first.start], [width - pad.right, "end", last.start]] as const) {
        const label = svg("text", { x, y: height - 8, "text-anchor": anchor, "font-size": 12, fill: "#1b1b1f" });
        label.textContent = new Date(text).toLocaleTimeString([], { hour12: false, hour: "2-digit", minute: "2-digit" });
        root.append(label);
      }
    }
    chart.replaceChildren(root);

    const window = series.buckets.length >= 60 ? `${series.buckets.length / 60} h` : `${series.buckets.length} min`;
    caption.textContent =
      denied === 0
        ? `No denials in the last ${window} (${decisions} decisions)${series.actor ? ` for ${series.actor}` : ""}.`
        : `${denied} denials of ${decisions} decisions in the last ${window}${series.actor ? ` for ${series.actor}` : ""}, one bar per minute; most often ${top} (${totals.get(top!) ?? 0}).`;
    legend.replaceChildren(
      ...series.reasons.map((reason) => {
        const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
        // Through the CSSOM: the page's CSP allows no style attributes.
        swatch.style.background = colourOf(reason);
        return el("li", {}, swatch, `${reason} (${totals.get(reason) ?? 0})`);
      }),
    );
    clear(table);
    if (series.reasons.length === 0) table.append(el("tr", {}, el("td", { colspan: "2" }, "No denials in this window.")));
    for (const reason of series.reasons) table.append(el("tr", {}, el("th", { scope: "row" }, reason), el("td", { class: "num" }, String(totals.get(reason) ?? 0))));
  };

  const load = async () => {
    try {
      draw((await getJson(`/console/api/denials?minutes=${encodeURIComponent(minutes.value)}`)) as Series);
    } catch (error) {
      caption.textContent = `Cannot load the chart: ${(error as Error).message}`;
    }
  };
  minutes.addEventListener("change", () => void load());

  return refreshedView(load, REFRESH_MS);
}

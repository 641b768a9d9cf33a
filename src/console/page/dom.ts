/**
 * DOM helpers of the console page. Text goes in through textContent only, never as
 * HTML: every string the server sends (an actor, a resource) is someone's input.
 */

type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) if (value !== undefined) element.setAttribute(name, value);
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

/** An element of the page by id; a missing one is a defect of the page. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

export function clear(element: Element): void {
  element.replaceChildren();
}

/** A status badge: the word always, the colour as a second cue. */
export function badge(status: string | null): HTMLElement {
  const text = status ?? "none";
  return el("span", { class: `badge ${/^[a-z_]+$/.test(text) ? text : "none"}` }, text);
}

/** `2026-02-23T18:40:00.123Z` as local time of day (with the date when not today). */
export function shortTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString([], { hour12: false }) : date.toLocaleString([], { hour12: false });
}

export function shortHash(hex: string | null | undefined): string {
  return typeof hex === "string" && hex.length > 16 ? `${hex.slice(0, 12)}…` : (hex ?? "");
}

/** `<dt>name</dt><dd>value</dd>` pairs into a `<dl>`. */
export function facts(list: HTMLElement, entries: ReadonlyArray<readonly [string, string | Node]>): void {
  list.replaceChildren(...entries.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
}

/**
 * A virtualised list of fixed-height rows in a scrolling viewport: only the rows in view
 * (and a few either side) exist in the DOM, recycled as the view moves, so ten thousand
 * decisions cost as much to show as thirty. Rows carry ARIA table semantics
 * (`aria-rowindex` within the table's `aria-rowcount`), so assistive technology knows
 * where a row stands in the whole list. Redraws are batched to one per animation frame.
 */

const OVERSCAN = 6;

export class VirtualList<T> {
  readonly #viewport: HTMLElement;
  readonly #spacer: HTMLElement;
  readonly #table: HTMLElement;
  readonly #createRow: () => HTMLElement;
  readonly #renderRow: (row: HTMLElement, item: T) => void;
  readonly #rows: HTMLElement[] = [];
  #items: ReadonlyArray<T> = [];
  #rowHeight = 40;
  #scheduled = false;

  constructor(options: { table: HTMLElement; viewport: HTMLElement; createRow: () => HTMLElement; renderRow: (row: HTMLElement, item: T) => void }) {
    this.#table = options.table;
    this.#viewport = options.viewport;
    this.#spacer = options.viewport.querySelector<HTMLElement>(".spacer") ?? options.viewport.appendChild(document.createElement("div"));
    this.#createRow = options.createRow;
    this.#renderRow = options.renderRow;
    this.#viewport.addEventListener("scroll", () => this.refresh(), { passive: true });
    new ResizeObserver(() => this.refresh()).observe(this.#viewport);
  }

  get rowHeight(): number {
    return this.#rowHeight;
  }

  /** The items to show, first row first. The list keeps the reference; call refresh() after changing it. */
  setItems(items: ReadonlyArray<T>): void {
    this.#items = items;
    this.refresh();
  }

  /** Keeps the rows the reader is looking at in place when `count` rows were added above them. */
  keepPositionAfterInserting(count: number): void {
    if (this.#viewport.scrollTop > 0) this.#viewport.scrollTop += count * this.#rowHeight;
  }

  refresh(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    requestAnimationFrame(() => {
      this.#scheduled = false;
      this.#draw();
    });
  }

  #draw(): void {
    const height = Number.parseFloat(getComputedStyle(this.#viewport).getPropertyValue("--row-height")) || 40;
    this.#rowHeight = height;
    const count = this.#items.length;
    this.#spacer.style.height = `${count * height}px`;
    this.#table.setAttribute("aria-rowcount", String(count + 1));
    const first = Math.max(0, Math.floor(this.#viewport.scrollTop / height) - OVERSCAN);
    const visible = Math.ceil(this.#viewport.clientHeight / height) + 2 * OVERSCAN;
    const last = Math.min(count, first + visible);
    while (this.#rows.length < last - first) {
      const row = this.#createRow();
      this.#rows.push(row);
      this.#viewport.appendChild(row);
    }
    this.#rows.forEach((row, i) => {
      const index = first + i;
      if (index >= last) {
        row.hidden = true;
        return;
      }
      row.hidden = false;
      row.style.transform = `translateY(${index * height}px)`;
      row.setAttribute("aria-rowindex", String(index + 2));
      this.#renderRow(row, this.#items[index]!);
    });
  }
}

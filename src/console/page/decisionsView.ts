/**
 * The live decision stream with its filters. Decisions arrive in batches (the server
 * sends at most ten a second); the page keeps the newest MAX_SHOWN, draws at most once
 * per frame through the virtualised list, and never moves rows under a reader: while the
 * list has keyboard focus, or the stream is paused, new decisions wait in a bounded buffer.
 */
import { DENY_REASONS } from "../../vocabulary/DenyReason.ts";
import { DECISION_STATUSES, type DecisionSummary } from "../decisionSummary.ts";
import { openEventStream, type StreamState } from "./api.ts";
import { badge, byId, el, shortTime } from "./dom.ts";
import { VirtualList } from "./VirtualList.ts";

const MAX_SHOWN = 5000;

export interface DecisionsView {
  readonly show: () => void;
  readonly hide: () => void;
}

export function decisionsView(options: { readonly agentActor: string | null; readonly onVerify: (decisionId: string, from: HTMLElement) => void }): DecisionsView {
  const form = byId<HTMLFormElement>("filters");
  const actorInput = byId<HTMLInputElement>("filter-actor");
  const status = byId<HTMLSelectElement>("filter-status");
  const reason = byId<HTMLSelectElement>("filter-reason");
  const state = byId("stream-state");
  const counter = byId("stream-count");
  const pause = byId<HTMLButtonElement>("stream-pause");
  const viewport = byId("decision-rows");
  const empty = byId("decisions-empty");

  for (const value of DECISION_STATUSES) status.append(el("option", { value }, value));
  for (const value of Object.keys(DENY_REASONS).sort()) reason.append(el("option", { value }, value));
  if (options.agentActor !== null) {
    // The server shows an agent its own decisions only; the field says so.
    actorInput.value = options.agentActor;
    actorInput.disabled = true;
    actorInput.title = "An agent sees its own decisions only";
  }

  let shown: DecisionSummary[] = [];
  let waiting: DecisionSummary[] = [];
  let received = 0;
  let skipped = 0;
  let paused = false;
  let stream: { close: () => void } | null = null;
  let streamState: StreamState = "closed";
  const arrivals: Array<{ at: number; n: number }> = [];

  const list = new VirtualList<DecisionSummary>({
    table: byId("decision-table"),
    viewport,
    createRow: () => {
      const row = el("div", { class: "row", role: "row" });
      for (let i = 0; i < 7; i++) row.append(el("span", { role: "cell" }));
      const verify = el("button", { type: "button", class: "quiet" }, "Verify");
      verify.addEventListener("click", () => options.onVerify(verify.dataset["id"]!, verify));
      row.append(el("span", { role: "cell" }, verify));
      return row;
    },
    renderRow: (row, d) => {
      const cells = row.children;
      cells[0]!.textContent = shortTime(d.decided_at);
      (cells[0] as HTMLElement).title = d.decided_at;
      cells[1]!.textContent = d.actor;
      cells[2]!.textContent = d.action ?? "(malformed)";
      cells[3]!.textContent = d.resource ?? "";
      cells[4]!.replaceChildren(badge(d.status));
      cells[5]!.textContent = d.reason ?? "";
      cells[6]!.textContent = d.decision_id;
      cells[6]!.className = "mono";
      const verify = cells[7]!.firstElementChild as HTMLButtonElement;
      verify.dataset["id"] = d.decision_id;
      verify.setAttribute("aria-label", `Verify decision ${d.decision_id}`);
    },
  });

  const holding = () => paused || viewport.contains(document.activeElement);

  const render = () => {
    empty.hidden = shown.length > 0;
    list.setItems(shown);
  };

  const take = (batch: ReadonlyArray<DecisionSummary>) => {
    // Newest first; the batch arrives oldest first.
    const fresh = [...batch].reverse();
    shown = fresh.concat(shown).slice(0, MAX_SHOWN);
    list.keepPositionAfterInserting(fresh.length);
    render();
  };

  const describe = () => {
    const now = performance.now();
    while (arrivals.length > 0 && arrivals[0]!.at < now - 1000) arrivals.shift();
    const rate = arrivals.reduce((sum, a) => sum + a.n, 0);
    const parts = [`${received.toLocaleString()} received`, `${shown.length.toLocaleString()} shown`, `${rate.toLocaleString()}/s`];
    if (waiting.length > 0) parts.push(`${waiting.length.toLocaleString()} waiting`);
    if (skipped > 0) parts.push(`${skipped.toLocaleString()} skipped by the server (this page read too slowly)`);
    counter.textContent = parts.join(" · ");
  };
  // Each batch updates the line (ten a second at most); the timer lets the rate fall to 0.
  setInterval(describe, 1000);

  const setState = (next: StreamState | "paused", detail?: string) => {
    const words: Record<string, string> = {
      connecting: "Connecting…",
      live: "Live",
      retrying: "Connection lost; reconnecting…",
      refused: `The server refused the stream${detail ? `: ${detail}` : ""}`,
      closed: "Not connected",
      paused: "Paused: new decisions wait",
    };
    state.textContent = words[next] ?? next;
  };

  const connect = () => {
    stream?.close();
    shown = [];
    waiting = [];
    render();
    const query = new URLSearchParams();
    for (const name of ["actor", "action", "status", "reason"]) {
      const value = (form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null)?.value.trim() ?? "";
      if (value !== "") query.set(name, value);
    }
    if (options.agentActor !== null) query.set("actor", options.agentActor);
    stream = openEventStream(`/console/api/decisions/stream?${query}`, {
      onState: (next, detail) => {
        streamState = next;
        setState(paused && next === "live" ? "paused" : next, detail);
      },
      onEvent: (event, data) => {
        if (event === "gap") {
          skipped += (JSON.parse(data) as { skipped: number }).skipped;
          return;
        }
        if (event !== "decisions") return;
        const batch = JSON.parse(data) as DecisionSummary[];
        received += batch.length;
        arrivals.push({ at: performance.now(), n: batch.length });
        describe();
        if (holding()) waiting = waiting.concat(batch).slice(-MAX_SHOWN);
        else take(batch);
      },
    });
  };

  const release = () => {
    if (waiting.length === 0 || holding()) return;
    const batch = waiting;
    waiting = [];
    take(batch);
  };
  viewport.addEventListener("focusout", () => setTimeout(release, 0));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    connect();
  });
  byId("filters-clear").addEventListener("click", () => {
    form.reset();
    if (options.agentActor !== null) actorInput.value = options.agentActor;
    connect();
  });
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
    setState(paused && streamState === "live" ? "paused" : streamState);
    release();
  });

  return {
    show: () => {
      if (stream === null) connect();
    },
    hide: () => {
      stream?.close();
      stream = null;
    },
  };
}

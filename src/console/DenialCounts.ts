/**
 * Decisions and denials per minute, by actor and deny reason, for the console's chart.
 * Counts are keyed only by what an agent cannot choose freely (its authenticated actor, a
 * reason from the contract's table, the minute), and minutes older than a day before the
 * newest decision are dropped, so memory stays bounded. Time is an input: nothing here
 * reads the clock.
 */

export const MINUTE_MS = 60_000;
/** How far back the chart can look. */
export const DENIAL_WINDOW_MINUTES = 24 * 60;

interface ActorMinute {
  decisions: number;
  readonly denied: Map<string, number>;
}

export interface DenialBucket {
  /** Start of the minute, RFC 3339. */
  readonly start: string;
  readonly decisions: number;
  /** Denials by reason in that minute (reasons with none are left out). */
  readonly denied: Readonly<Record<string, number>>;
}

export interface DenialSeries {
  readonly bucket_seconds: number;
  readonly from: string;
  readonly to: string;
  /** Every reason that occurs in the window, most frequent first. */
  readonly reasons: ReadonlyArray<string>;
  readonly buckets: ReadonlyArray<DenialBucket>;
}

export class DenialCounts {
  readonly #minutes = new Map<number, Map<string, ActorMinute>>();
  #newest = -Infinity;

  /** Counts one decision at `epochMs` (its decided_at); a denial with its reason. */
  add(epochMs: number, actor: string, reason: string | null): void {
    if (!Number.isFinite(epochMs)) return;
    const minute = Math.floor(epochMs / MINUTE_MS);
    if (minute < this.#newest - DENIAL_WINDOW_MINUTES) return;
    if (minute > this.#newest) {
      this.#newest = minute;
      for (const old of this.#minutes.keys()) if (old < minute - DENIAL_WINDOW_MINUTES) this.#minutes.delete(old);
    }
    const actors = this.#minutes.get(minute) ?? new Map<string, ActorMinute>();
    this.#minutes.set(minute, actors);
    const counts = actors.get(actor) ?? { decisions: 0, denied: new Map<string, number>() };
    actors.set(actor, counts);
    counts.decisions += 1;
    if (reason !== null) counts.denied.set(reason, (counts.denied.get(reason) ?? 0) + 1);
  }

  /** The `minutes` whole minutes up to the one holding `nowMs`, for one actor or (null) all of them. */
  series(actor: string | null, minutes: number, nowMs: number): DenialSeries {
    const last = Math.floor(nowMs / MINUTE_MS);
    const first = last - minutes + 1;
    const totals = new Map<string, number>();
    const buckets: DenialBucket[] = [];
    for (let minute = first; minute <= last; minute++) {
      const actors = this.#minutes.get(minute);
      let decisions = 0;
      const denied: Record<string, number> = {};
      for (const [who, counts] of actors ?? []) {
        if (actor !== null && who !== actor) continue;
        decisions += counts.decisions;
        for (const [reason, n] of counts.denied) {
          denied[reason] = (denied[reason] ?? 0) + n;
          totals.set(reason, (totals.get(reason) ?? 0) + n);
        }
      }
      buckets.push({ start: new Date(minute * MINUTE_MS).toISOString(), decisions, denied });
    }
    return {
      bucket_seconds: MINUTE_MS / 1000,
      from: new Date(first * MINUTE_MS).toISOString(),
      to: new Date((last + 1) * MINUTE_MS).toISOString(),
      reasons: [...totals].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([reason]) => reason),
      buckets,
    };
  }
}

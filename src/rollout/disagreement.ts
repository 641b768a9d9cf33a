/**
 * Where a candidate bundle parts from the active one, pure: the comparison made on each
 * decision, and the summary `zt policy diff` prints.
 */
import type { PolicyCandidateDisagreed } from "./events.ts";

/** What one bundle answered for one request. */
export interface Evaluated {
  readonly status: "allowed" | "denied" | "pending_approval";
  readonly reason: string | null;
  readonly invariant_checks: ReadonlyArray<{ readonly name: string; readonly ok: boolean }>;
}

export interface Difference {
  /** Past the checks both bundles ran alike, the first that failed under either (the one that made the difference), or `outcome` when none differs. */
  readonly check: string;
  readonly activeOk: boolean | null;
  readonly candidateOk: boolean | null;
}

const okOf = (evaluated: Evaluated, name: string): boolean | null => evaluated.invariant_checks.find((check) => check.name === name)?.ok ?? null;

/** Undefined when both answer alike (the same status and reason); else where they part. */
export function firstDifference(active: Evaluated, candidate: Evaluated): Difference | undefined {
  if (active.status === candidate.status && active.reason === candidate.reason) return undefined;
  const [a, c] = [active.invariant_checks, candidate.invariant_checks];
  let from = 0;
  while (from < a.length && from < c.length && a[from]!.name === c[from]!.name && a[from]!.ok === c[from]!.ok) from += 1;
  // Past the checks both ran alike, the check that failed first (under either bundle) made the difference.
  const failed = (list: Evaluated["invariant_checks"]) => {
    const index = list.findIndex((check, at) => at >= from && !check.ok);
    return index < 0 ? undefined : { index, name: list[index]!.name };
  };
  const [inActive, inCandidate] = [failed(a), failed(c)];
  const decisive = inActive !== undefined && (inCandidate === undefined || inActive.index <= inCandidate.index) ? inActive : inCandidate;
  const name = decisive?.name ?? a[from]?.name ?? c[from]?.name;
  return name === undefined ? { check: "outcome", activeOk: null, candidateOk: null } : { check: name, activeOk: okOf(active, name), candidateOk: okOf(candidate, name) };
}

/** `allowed`, or the reason (`policy_denied`, `approval_required`, ...). */
export function outcomeLabel(outcome: { readonly status: string; readonly reason: string | null }): string {
  return outcome.reason ?? outcome.status;
}

export interface DisagreementGroup {
  readonly check: string;
  readonly action: string | null;
  /** The active bundle's answer (`allowed` or a reason). */
  readonly active: string;
  readonly candidate: string;
  readonly count: number;
  readonly first_decided_at: string;
  readonly last_decided_at: string;
  /** Up to five decision ids, the earliest first. */
  readonly examples: ReadonlyArray<string>;
}

export interface DisagreementSummary {
  readonly total: number;
  readonly candidate_policy_hash: string | null;
  readonly active_policy_hashes: ReadonlyArray<string>;
  /** By check, action and both answers; the largest first. */
  readonly groups: ReadonlyArray<DisagreementGroup>;
}

const EXAMPLES = 5;

export function summariseDisagreements(events: ReadonlyArray<PolicyCandidateDisagreed>): DisagreementSummary {
  const groups = new Map<string, { -readonly [K in keyof DisagreementGroup]: DisagreementGroup[K] } & { examples: string[] }>();
  const activeHashes = new Set<string>();
  for (const event of events) {
    activeHashes.add(event.active.policy_hash);
    const active = outcomeLabel(event.active);
    const candidate = outcomeLabel(event.candidate);
    const key = JSON.stringify([event.check, event.action, active, candidate]);
    const group = groups.get(key);
    if (group === undefined) {
      groups.set(key, { check: event.check, action: event.action, active, candidate, count: 1, first_decided_at: event.decided_at, last_decided_at: event.decided_at, examples: [event.decision_id] });
      continue;
    }
    group.count += 1;
    if (event.decided_at < group.first_decided_at) group.first_decided_at = event.decided_at;
    if (event.decided_at > group.last_decided_at) group.last_decided_at = event.decided_at;
    if (group.examples.length < EXAMPLES) group.examples.push(event.decision_id);
  }
  return {
    total: events.length,
    candidate_policy_hash: events[0]?.candidate.policy_hash ?? null,
    active_policy_hashes: [...activeHashes].sort(),
    groups: [...groups.values()].sort((a, b) => b.count - a.count || a.check.localeCompare(b.check)),
  };
}

/** The summary as a readable table. */
export function formatDisagreementSummary(summary: DisagreementSummary): string {
  if (summary.total === 0) return "no disagreements recorded: the candidate answered every decision as the active bundle did\n";
  const lines = [
    `${summary.total} decision(s) the candidate ${summary.candidate_policy_hash ?? ""} would have answered otherwise (active bundle ${summary.active_policy_hashes.join(", ")}):`,
    "",
  ];
  const rows = summary.groups.map((group) => [String(group.count), group.check, group.action ?? "-", `${group.active} -> ${group.candidate}`, `${group.first_decided_at} .. ${group.last_decided_at}`, group.examples.join(" ")]);
  const header = ["count", "check", "action", "active -> candidate", "decided", "examples"];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  for (const row of [header, ...rows]) lines.push(row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  "));
  return `${lines.join("\n")}\n`;
}

/**
 * Summarises a V8 .cpuprofile (from `--cpu-prof`): self time by function and by package,
 * so the bottleneck of a benchmark run can be read off without a browser.
 * `node bench/profileSummary.ts FILE [TOP]`.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: ReadonlyArray<number>;
}
interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>;
  readonly samples: ReadonlyArray<number>;
  readonly timeDeltas: ReadonlyArray<number>;
}

const [file, topText] = process.argv.slice(2);
if (file === undefined) {
  console.error("usage: node bench/profileSummary.ts FILE.cpuprofile [TOP]");
  process.exit(2);
}
const top = Number(topText ?? 30);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfMicros = new Map<number, number>();
profile.samples.forEach((id, i) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfMicros.values()].reduce((a, b) => a + b, 0);

/** The package a script belongs to (node_modules/<name>), `src/...` for this project, or the node internal. */
function owner(url: string): string {
  if (url === "") return "(native / V8)";
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  const project = /\/(src|bench|scripts)\/(.*)$/.exec(url);
  if (project) return `${project[1]}/${project[2]}`;
  return url.startsWith("node:") ? url : "(other)";
}

const byFunction = new Map<string, number>();
const byOwner = new Map<string, number>();
for (const [id, micros] of selfMicros) {
  const node = byId.get(id)!;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = owner(url);
  const name = `${functionName || "(anonymous)"} ${where}${url ? `:${lineNumber + 1}` : ""}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
  const group = where.startsWith("src/") ? where.split("/").slice(0, 2).join("/") : where;
  byOwner.set(group, (byOwner.get(group) ?? 0) + micros);
}

const print = (title: string, table: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [name, micros] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * micros) / total).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${name}`);
  }
};
// Inclusive time of this project's functions: a node's self time plus its subtree's,
// counted once per function along a path so recursion does not inflate it.
const inclusive = new Map<string, number>();
const walk = (id: number, onPath: ReadonlySet<string>): number => {
  const node = byId.get(id)!;
  let subtree = selfMicros.get(id) ?? 0;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = owner(url);
  const name = where.startsWith("src/") ? `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}` : undefined;
  const path = name === undefined || onPath.has(name) ? onPath : new Set([...onPath, name]);
  for (const child of node.children ?? []) subtree += walk(child, path);
  if (name !== undefined && !onPath.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + subtree);
  return subtree;
};
const root = profile.nodes[0];
if (root !== undefined) walk(root.id, new Set());

console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
print("self time by package or source folder", byOwner);
print("self time by function", byFunction);
print("inclusive time of this project's functions", inclusive);

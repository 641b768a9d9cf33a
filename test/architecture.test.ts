/**
 * The module structure, checked from the imports of src/ (docs/architecture.md draws it):
 * no import cycle, and dependencies point inward: a module imports only from its own
 * folder and from folders of a lower layer. A new upward or sideways import fails here,
 * naming the file and what it imports.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

/** From the kernel (inmost) out to the composition root; folders of one layer may not import each other. */
export const LAYERS: ReadonlyArray<ReadonlyArray<string>> = [
  ["kernel"],
  ["platform", "events", "identity"],
  ["vocabulary"],
  ["policy", "http"],
  ["market", "permits", "approvals", "budgets"],
  ["execution", "rollout"],
  ["decisions"],
  ["mcp"],
  ["audit"],
  ["anchoring"],
  ["console", "export"],
  ["app"],
  // The composition root and the entry points.
  ["config.ts", "layers.ts", "server.ts", "projector.ts", "projectorWorker.ts", "main.ts", "cli"],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith(".ts") ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

/** Every relative import of every source file, resolved. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    const targets = [...text.matchAll(IMPORT)].map((m) => resolve(dirname(file), (m[1] ?? m[2])!));
    graph.set(file, targets);
  }
  return graph;
}

/** The top folder (or top-level file) of a source file: its module. */
const moduleOf = (file: string) => relative(SRC, file).split("/")[0]!;
const layerOf = (module: string) => LAYERS.findIndex((layer) => layer.includes(module));

test("every module of src/ has a layer", () => {
  const modules = new Set([...importGraph().keys()].map(moduleOf));
  const unplaced = [...modules].filter((module) => layerOf(module) < 0);
  assert.deepEqual(unplaced, [], "place new modules in LAYERS (and in docs/architecture.md)");
});

test("dependencies point inward: a module imports from its own folder or a lower layer only", () => {
  const violations: string[] = [];
  for (const [file, targets] of importGraph()) {
    const from = moduleOf(file);
    for (const target of targets) {
      const to = moduleOf(target);
      if (to === from) continue;
      const top = LAYERS.length - 1;
      if (layerOf(from) === top && layerOf(to) === top) continue;
      if (!(layerOf(to) < layerOf(from))) violations.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`);
    }
  }
  assert.deepEqual(violations, []);
});

test("no import cycle", () => {
  const graph = importGraph();
  const state = new Map<string, "visiting" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "visiting") {
      cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(" -> "));
      return;
    }
    state.set(file, "visiting");
    for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, "done");
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});

test("the import reader sees what it should (a known import of each kind)", () => {
  const graph = importGraph();
  const of = (file: string) => (graph.get(join(SRC, file)) ?? []).map((target) => relative(SRC, target));
  assert.ok(of("layers.ts").includes("audit/ProjectorThread.ts"), "a static import");
  assert.ok(of("layers.ts").includes("anchoring/local/localChain.ts"), "a dynamic import");
  assert.ok(of("decisions/decide.ts").includes("vocabulary/DecisionId.ts"));
});

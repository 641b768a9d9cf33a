/**
 * Keeps docs/agents.md, the agent adapter's document, true to the code: every stable
 * deny reason with its status, every check name the decider can emit and every execution
 * failure reason is documented there.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { APPROVAL_REQUIRED, DENY_REASONS } from "../../src/vocabulary/DenyReason.ts";
import { EXECUTION_FAILURE_REASONS } from "../../src/execution/events.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const agents = readFileSync(join(ROOT, "docs", "agents.md"), "utf8");

test("docs/agents.md documents every deny reason with its status", () => {
  for (const [reason, { status }] of Object.entries(DENY_REASONS)) {
    assert.match(agents, new RegExp(`\\| \`${reason}\` \\| ${status}`), `docs/agents.md deny-reason table lacks ${reason} (${status})`);
  }
  assert.match(agents, new RegExp(`\`${APPROVAL_REQUIRED.reason}\` \\(\`${APPROVAL_REQUIRED.status}\``), "docs/agents.md says approval_required answers 202");
});

test("docs/agents.md documents every check name of the decision pipeline", () => {
  const sources = ["decisions/decide.ts", "permits/verifyPermit.ts", "policy/invariants.ts", "policy/brokerChecks.ts", "approvals/approvalStage.ts"]
    .map((file) => readFileSync(join(ROOT, "src", file), "utf8"))
    .join("\n");
  // A check is named where it runs (`name:`) or where an atomic claim names the check its loss fails (`check:`).
  const names = new Set([...sources.matchAll(/(?:name|check): "([a-z_]+)"/g)].map((m) => m[1]));
  assert.ok(names.size >= 26, `found only ${names.size} check names`);
  for (const name of names) assert.match(agents, new RegExp(`\\| \`${name}\` \\|`), `docs/agents.md check table lacks ${name}`);
});

test("docs/agents.md documents every execution failure reason", () => {
  for (const reason of EXECUTION_FAILURE_REASONS) assert.match(agents, new RegExp(`\`${reason}\` \\(`), `docs/agents.md lacks the execution failure reason ${reason}`);
});

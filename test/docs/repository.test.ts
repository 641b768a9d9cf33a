/**
 * The repository carries what its tests and readers need: the external contract as
 * docs/contract.md and the external test vectors under test/vectors. Where the shared
 * originals sit beside this clone (the team's workspace), the copies must be identical;
 * a user's clone has no such sibling, and these checks say so instead of passing.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { documents, ROOT } from "./documents.ts";

const SHARED = join(ROOT, "..", "shared");
const noShared = existsSync(SHARED) ? false : "no ../shared beside this clone (a user's clone has none): nothing to compare the copies with";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

test("docs/contract.md is the shared contract, byte for byte", { skip: noShared }, () => {
  assert.equal(readFileSync(join(ROOT, "docs", "contract.md"), "utf8"), readFileSync(join(SHARED, "CONTRACT.md"), "utf8"), "docs/contract.md is out of step with ../shared/CONTRACT.md: copy it again");
});

test("test/vectors holds every shared test vector unchanged", { skip: noShared }, () => {
  const shared = join(SHARED, "test-vectors");
  const vendored = join(ROOT, "test", "vectors");
  for (const file of files(shared)) {
    const path = relative(shared, file);
    if (path === "README.md") continue; // the vendored README adds how the copy is used
    assert.deepEqual(readFileSync(join(vendored, path)), readFileSync(file), `test/vectors/${path} differs from the shared copy`);
  }
});

test("no document links outside the repository", () => {
  const docs = documents();
  for (const expected of ["README.md", "CONTRIBUTING.md", "CHANGELOG.md", "docs/agents.md", "docs/contract.md"]) assert.ok(docs.includes(expected), `${expected} is not among the documents checked`);
  for (const doc of docs) {
    const text = readFileSync(join(ROOT, doc), "utf8");
    assert.doesNotMatch(text, /\]\(\.\.\/shared\//, `${doc} links into ../shared, which a clone does not have`);
  }
});

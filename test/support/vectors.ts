// Where the external test vectors live: test/vectors, vendored into the repository with
// their licences and sources (test/vectors/README.md), unless ZT_TEST_VECTORS names
// another copy. A missing file or directory fails the test: skipping would make a green
// build prove nothing.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import process from "node:process";
import { pathToFileURL } from "node:url";

/** The URL of `sub` (a file, or a directory ending in "/") under the vectors directory; fails if absent. */
export function vectorPath(sub: string): URL {
  const override = process.env["ZT_TEST_VECTORS"];
  const root = override !== undefined && override !== ""
    ? pathToFileURL(override.endsWith("/") ? override : `${override}/`)
    : new URL("../vectors/", import.meta.url);
  const url = new URL(sub, root);
  if (!existsSync(url)) {
    assert.fail(`test vectors not found at ${url.pathname}; set ZT_TEST_VECTORS to the test-vectors directory`);
  }
  return url;
}

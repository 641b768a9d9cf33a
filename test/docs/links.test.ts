/**
 * Every relative link in the repository's documents resolves: to a file inside the
 * repository, and, for a `#anchor` into a Markdown file, to one of its headings by the
 * slug GitHub gives it (lowercase, punctuation other than hyphens and underscores
 * removed, each space a hyphen, `-1`, `-2`… on repeats). Links in code are not links.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { test } from "node:test";
import { documents, ROOT } from "./documents.ts";

const FENCE = /^\s*(```|~~~)/;

/** The lines of a Markdown text outside fenced code blocks. */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split("\n").filter((line) => {
    if (FENCE.test(line)) {
      fenced = !fenced;
      return false;
    }
    return !fenced;
  });
}

/** GitHub's anchor for a heading's text. */
function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1") // a link reads as its text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\s_-]/gu, "")
    .trim()
    .replace(/\s/g, "-");
}

/** Every anchor a Markdown text's headings give, repeats numbered as GitHub does. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const line of prose(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading === null) continue;
    const base = slug(heading[1] ?? "");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** The targets of the inline links and images of a Markdown text, code spans left out. */
function links(markdown: string): string[] {
  const targets: string[] = [];
  for (const line of prose(markdown)) {
    const text = line.replace(/`+[^`]*`+/g, "``");
    for (const match of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(match[1] ?? "");
  }
  return targets;
}

test("slug gives GitHub's anchors", () => {
  assert.equal(slug("`POST /actions`"), "post-actions");
  assert.equal(slug("`GET /decisions/:id`"), "get-decisionsid");
  assert.equal(slug("EventStoreDB / KurrentDB"), "eventstoredb--kurrentdb");
  assert.equal(slug("Limits, and why"), "limits-and-why");
  assert.equal(slug("On-chain verification: against an insider"), "on-chain-verification-against-an-insider");
  assert.equal(slug("0.2.0 (unreleased)"), "020-unreleased");
  assert.equal(slug("`zt anchor deploy`"), "zt-anchor-deploy");
  assert.equal(slug("snake_case stays"), "snake_case-stays");
});

test("links and anchors are read from prose only", () => {
  const text = "# A\n\n## A\n\n[x](b.md#c) `[y](no.md)`\n\n```\n# not a heading\n[z](no.md)\n```\n";
  assert.deepEqual([...anchors(text)], ["a", "a-1"]);
  assert.deepEqual(links(text), ["b.md#c"]);
});

test("every relative link in the documents resolves inside the repository", () => {
  const problems: string[] = [];
  let checked = 0;
  for (const doc of documents()) {
    const text = readFileSync(join(ROOT, doc), "utf8");
    for (const target of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: not a file here
      checked++;
      const hash = target.indexOf("#");
      const path = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
      const anchor = hash === -1 ? undefined : target.slice(hash + 1);
      const file = path === "" ? join(ROOT, doc) : join(ROOT, dirname(doc), path);
      const inside = relative(ROOT, file);
      if (inside.startsWith("..") || inside.startsWith(sep)) {
        problems.push(`${doc}: ${target} leaves the repository`);
        continue;
      }
      if (!existsSync(file)) {
        problems.push(`${doc}: ${target}: no file ${inside}`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!file.endsWith(".md") || statSync(file).isDirectory()) {
        problems.push(`${doc}: ${target}: an anchor into something that is not a Markdown file`);
        continue;
      }
      if (!anchors(readFileSync(file, "utf8")).has(anchor)) problems.push(`${doc}: ${target}: ${inside} has no heading #${anchor}`);
    }
  }
  assert.ok(checked >= 50, `only ${checked} relative links found: is the link pattern still right?`);
  assert.deepEqual(problems, []);
});

// The repository's own documents: every Markdown file at its root and under docs/ (the
// README, CONTRIBUTING.md, CHANGELOG.md, the documents the README maps and the contract).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Paths, relative to the repository root, of every document; sorted. */
export function documents(): string[] {
  const markdown = (dir: string) =>
    readdirSync(join(ROOT, dir), { withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith(".md"))
      .map((entry) => (dir === "." ? entry.name : join(dir, entry.name)));
  return [...markdown("."), ...markdown("docs")].sort();
}

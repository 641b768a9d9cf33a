/**
 * Path arguments resolved as the reference filesystem server resolves them, on a real
 * directory: each hostile spelling lands where the server would open it, so `within`
 * names the directory the server will really touch.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, describe, test } from "node:test";
import { resolveServerPath } from "../../src/mcp/resolveServerPath.ts";
// The reference server's own path validation, to check that both land on the same file.
// @ts-expect-error the package ships JavaScript without type declarations
import { setAllowedDirectories, validatePath } from "@modelcontextprotocol/server-filesystem/dist/lib.js";

const base = realpathSync(mkdtempSync(join(tmpdir(), "zt-mcp-paths-")));
const root = join(base, "fs");
const outside = join(base, "outside.txt");
mkdirSync(join(root, "public", "sub"), { recursive: true });
mkdirSync(join(root, "private"), { recursive: true });
writeFileSync(join(root, "public", "a.txt"), "a");
writeFileSync(join(root, "private", "secret.txt"), "s");
writeFileSync(outside, "o");
symlinkSync(join(root, "private", "secret.txt"), join(root, "public", "to-private.txt"));
symlinkSync("../private", join(root, "public", "private-dir"));
symlinkSync(outside, join(root, "public", "to-outside.txt"));
symlinkSync(join(root, "public", "missing"), join(root, "public", "dangling"));
// An existing name whose NFC spelling differs from a request's NFD spelling: the server opens it.
symlinkSync(join(root, "private", "secret.txt"), join(root, "public", "caf\u00e9"));
after(() => rmSync(base, { recursive: true, force: true }));

describe("resolveServerPath", () => {
  const cases: Array<[string, string, string | null]> = [
    ["an absolute path inside", join(root, "public", "a.txt"), "public/a.txt"],
    ["a relative path (against the server's directory)", "public/a.txt", "public/a.txt"],
    ["the directory itself", root, "."],
    ["a file that does not exist yet", join(root, "public", "new.txt"), "public/new.txt"],
    ["a new file under a directory that does not exist", "public/nodir/new.txt", "public/nodir/new.txt"],
    ["a ../ escape into private", join(root, "public", "..", "private", "secret.txt"), "private/secret.txt"],
    ["a relative ../ escape", "public/../private/secret.txt", "private/secret.txt"],
    ["a ../ escape out of the directory", "public/../../outside.txt", null],
    ["a symlink into private", join(root, "public", "to-private.txt"), "private/secret.txt"],
    ["a path through a symlinked directory", "public/private-dir/secret.txt", "private/secret.txt"],
    ["a new file through a symlinked directory", "public/private-dir/new.txt", "private/new.txt"],
    ["a symlink out of the directory", "public/to-outside.txt", null],
    ["a dangling symlink", "public/dangling", null],
    ["an NFD spelling of an NFC name that is a symlink into private", "public/cafe\u0301", "private/secret.txt"],
    ["an absolute path elsewhere", "/etc/passwd", null],
    ["a home path (the server expands it)", "~/public/a.txt", null],
    ["a NUL byte", "public/a.txt\u0000.png", null],
    ["doubled and trailing slashes", "public//sub/", "public/sub"],
  ];
  for (const [what, requested, expected] of cases) {
    test(`${what}: ${expected ?? "outside (null)"}, where the filesystem server itself lands`, async () => {
      assert.equal(await resolveServerPath(root, requested), expected);
      setAllowedDirectories([root]);
      const served = await (validatePath as (path: string) => Promise<string>)(requested).then(
        (path) => relative(root, path) || ".",
        () => null,
      );
      assert.equal(served, expected, "the server opens the file the decision was about");
    });
  }
});

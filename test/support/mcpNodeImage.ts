/**
 * A local Docker image that can run a Node MCP server whose code is bound in read-only
 * (the docker sandbox binds mcp.json's read paths): `/usr/bin/env` and the C and C++
 * runtime libraries the `node` binary of node_modules links against, copied from this
 * host into a rootfs and `docker import`ed, as `npm run sandbox:image` builds the
 * busybox image. Nothing is pulled from a registry. Built once per engine.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { REPO_ROOT } from "./harness.ts";

export const MCP_NODE_IMAGE = "zt-mcp-node:test";

/** The shared libraries `ldd` names for a binary (with the dynamic loader). */
function libraries(binary: string): string[] {
  const out = execFileSync("ldd", [binary], { encoding: "utf8" });
  return [...out.matchAll(/(\/[^\s]+\.so[^\s]*)/g)].map((match) => match[1]!);
}

export function buildMcpNodeImage(): string {
  try {
    execFileSync("docker", ["image", "inspect", MCP_NODE_IMAGE], { stdio: "ignore" });
    return MCP_NODE_IMAGE;
  } catch {
    // not built yet
  }
  const root = mkdtempSync(join(tmpdir(), "zt-mcp-node-image-"));
  try {
    for (const dir of ["usr/bin", "usr/lib/x86_64-linux-gnu", "usr/lib64", "etc", "tmp"]) mkdirSync(join(root, dir), { recursive: true });
    symlinkSync("usr/bin", join(root, "bin"));
    symlinkSync("usr/lib", join(root, "lib"));
    symlinkSync("usr/lib64", join(root, "lib64"));
    copyFileSync("/usr/bin/env", join(root, "usr/bin/env"));
    chmodSync(join(root, "usr/bin/env"), 0o755);
    const node = realpathSync(join(REPO_ROOT, "node_modules", ".bin", "node"));
    for (const library of new Set([...libraries(node), ...libraries("/usr/bin/env")])) {
      const real = realpathSync(library);
      const target = join(root, "usr/lib/x86_64-linux-gnu", basename(library));
      copyFileSync(real, target);
      if (library.startsWith("/lib64/")) symlinkSync(`../lib/x86_64-linux-gnu/${basename(library)}`, join(root, "usr/lib64", basename(library)));
      if (dirname(library) !== "/lib/x86_64-linux-gnu" && !library.startsWith("/lib64/")) throw new Error(`unexpected library location ${library}`);
    }
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
    chmodSync(join(root, "tmp"), 0o1777);
    const tar = execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", root, "-c", "."], { maxBuffer: 512 * 1024 * 1024 });
    execFileSync("docker", ["import", "--message", "zt-infra test image: a runtime for Node MCP servers bound in read-only", "-", MCP_NODE_IMAGE], { input: tar, stdio: ["pipe", "ignore", "inherit"] });
    return MCP_NODE_IMAGE;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

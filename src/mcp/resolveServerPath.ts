/**
 * Where a path argument lands, resolved the way the reference filesystem server
 * (`@modelcontextprotocol/server-filesystem`) resolves it, so that Cedar decides on the
 * file the server will open rather than on the text the caller wrote. The input is
 * hostile: `..` segments, symlinks planted anywhere along the path, Unicode spellings of
 * an existing name that the server matches after NFC normalisation, `~`, NUL bytes.
 *
 * The server makes a relative path absolute against its directory, normalises it
 * lexically, then follows symlinks (fs.realpath); a name that does not exist is matched
 * against its directory's entries after NFC normalisation; below the first name that
 * does not exist nothing is resolved further. The answer is the resolved path relative
 * to the server's directory ("." for the directory itself), or null when it leaves the
 * directory or cannot be resolved: a `~` path (the server expands it against a home we
 * do not decide on), an ambiguous Unicode match, or an error reading the filesystem.
 *
 * A symlink changed between this resolution and the server's own is not seen: where
 * callers may create symlinks (a write tool allowed to someone) the policy must not rely
 * on `within` alone.
 */
import { lstat, readdir, realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/** The real path of `absolute` (already lexically normalised), following the server's rules for names that do not exist. */
async function realPathOf(absolute: string): Promise<string | null> {
  const parts = absolute.split(sep).filter((part) => part.length > 0);
  let current: string = sep;
  for (let index = 0; index < parts.length; index++) {
    const part = parts[index]!;
    const candidate = resolve(current, part);
    if (await exists(candidate)) {
      current = await realpath(candidate);
      continue;
    }
    const entries = await readdir(current).catch(() => [] as string[]);
    const equivalent = entries.filter((entry) => entry.normalize("NFC") === part.normalize("NFC"));
    if (equivalent.length > 1) return null;
    if (equivalent.length === 1) {
      current = await realpath(resolve(current, equivalent[0]!));
      continue;
    }
    return resolve(current, ...parts.slice(index));
  }
  return current;
}

/** The path relative to the server's real directory `root` that `requested` resolves to, or null (see above). */
export async function resolveServerPath(root: string, requested: string): Promise<string | null> {
  if (requested.includes("\0") || requested.startsWith("~")) return null;
  try {
    const real = await realPathOf(isAbsolute(requested) ? resolve(requested) : resolve(root, requested));
    if (real === null) return null;
    const inside = relative(root, real);
    if (inside === "") return ".";
    if (inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside)) return null;
    return inside.split(sep).join("/");
  } catch {
    return null;
  }
}

/**
 * A minimal POSIX ustar archive (POSIX.1-1988 / IEEE Std 1003.1 "ustar Interchange
 * Format"): regular files only, each under one canonical header (mode 0644, uid and gid 0,
 * mtime 0, no owner names, no prefix), content padded with zeros to 512-byte blocks, and
 * two zero blocks at the end. Any `tar` lists and extracts it; `readTar` accepts exactly
 * what `writeTar` writes, so no byte of an archive goes unchecked.
 *
 * `readTar` takes hostile bytes and never throws: it answers the entries or where the
 * archive stops being one.
 */

export interface ArchiveEntry {
  readonly name: string;
  readonly content: Uint8Array;
}

export type TarRead = { readonly ok: true; readonly entries: ReadonlyArray<ArchiveEntry> } | { readonly ok: false; readonly reason: string };

const BLOCK = 512;
const NAME_LENGTH = 100;
/** The size field holds 11 octal digits: files up to 8 GiB - 1. */
export const TAR_MAX_FILE_BYTES = 8 ** 11 - 1;
const CHECKSUM_OFFSET = 148;
const CHECKSUM_LENGTH = 8;

const ascii = new TextEncoder();
const readAscii = new TextDecoder("ascii");

function octal(value: number, digits: number): string {
  return value.toString(8).padStart(digits, "0");
}

/** The one header this format writes for a file of this name and size. Throws a RangeError on a name or size it cannot carry (a caller defect). */
function header(name: string, size: number): Uint8Array {
  const nameBytes = ascii.encode(name);
  if (nameBytes.length === 0 || nameBytes.length > NAME_LENGTH || !/^[A-Za-z0-9._-]+$/.test(name)) throw new RangeError(`tar entry name not supported: ${name}`);
  if (!Number.isSafeInteger(size) || size < 0 || size > TAR_MAX_FILE_BYTES) throw new RangeError(`tar entry too large: ${name}`);
  const block = new Uint8Array(BLOCK);
  const put = (offset: number, text: string) => block.set(ascii.encode(text), offset);
  block.set(nameBytes, 0);
  put(100, "0000644\0"); // mode
  put(108, "0000000\0"); // uid
  put(116, "0000000\0"); // gid
  put(124, `${octal(size, 11)}\0`); // size
  put(136, "00000000000\0"); // mtime
  put(156, "0"); // typeflag: regular file
  put(257, "ustar\0"); // magic
  put(263, "00"); // version
  // The checksum is the sum of the header's bytes with its own field read as spaces.
  block.fill(0x20, CHECKSUM_OFFSET, CHECKSUM_OFFSET + CHECKSUM_LENGTH);
  const sum = block.reduce((total, byte) => total + byte, 0);
  put(CHECKSUM_OFFSET, `${octal(sum, 6)}\0 `);
  return block;
}

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

/** The archive of these files, in this order. Throws a RangeError on a name or size ustar cannot carry. */
export function writeTar(entries: ReadonlyArray<ArchiveEntry>): Uint8Array {
  const total = entries.reduce((sum, entry) => sum + BLOCK + entry.content.length + padding(entry.content.length), 2 * BLOCK);
  const archive = new Uint8Array(total);
  let offset = 0;
  for (const entry of entries) {
    archive.set(header(entry.name, entry.content.length), offset);
    offset += BLOCK;
    archive.set(entry.content, offset);
    offset += entry.content.length + padding(entry.content.length);
  }
  return archive;
}

const isZero = (bytes: Uint8Array) => bytes.every((byte) => byte === 0);

/** The entries of an archive `writeTar` wrote, or the first place it is not one: a header, padding or end it would not have written. */
export function readTar(bytes: Uint8Array): TarRead {
  if (!(bytes instanceof Uint8Array)) return { ok: false, reason: "not bytes" };
  const entries: ArchiveEntry[] = [];
  let offset = 0;
  for (;;) {
    if (offset + BLOCK > bytes.length) return { ok: false, reason: `the archive ends at byte ${bytes.length} without its two closing zero blocks` };
    const block = bytes.subarray(offset, offset + BLOCK);
    if (isZero(block)) break;
    const at = `the header of entry ${entries.length + 1} (byte ${offset})`;
    const nameEnd = block.subarray(0, NAME_LENGTH).indexOf(0);
    const name = readAscii.decode(block.subarray(0, nameEnd === -1 ? NAME_LENGTH : nameEnd));
    const sizeText = readAscii.decode(block.subarray(124, 135));
    if (!/^[0-7]{11}$/.test(sizeText)) return { ok: false, reason: `${at} has no octal size` };
    const size = Number.parseInt(sizeText, 8);
    let expected: Uint8Array;
    try {
      expected = header(name, size);
    } catch {
      return { ok: false, reason: `${at} names no file this format writes` };
    }
    if (!block.every((byte, i) => byte === expected[i])) return { ok: false, reason: `${at} (${name}) is not the header this format writes: altered` };
    const start = offset + BLOCK;
    const end = start + size;
    if (end + padding(size) > bytes.length) return { ok: false, reason: `${name} is cut short: the archive ends inside it` };
    if (!isZero(bytes.subarray(end, end + padding(size)))) return { ok: false, reason: `the padding after ${name} is not zeros: altered` };
    entries.push({ name, content: bytes.subarray(start, end) });
    offset = end + padding(size);
  }
  if (bytes.length !== offset + 2 * BLOCK || !isZero(bytes.subarray(offset))) {
    return { ok: false, reason: `the archive does not end with exactly two zero blocks after its last entry (byte ${offset})` };
  }
  return { ok: true, entries };
}

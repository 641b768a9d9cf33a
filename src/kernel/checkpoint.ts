// C2SP checkpoints (https://c2sp.org/tlog-checkpoint): the text of a Merkle tree head,
// "<origin>\n<decimal tree size>\n<base64 root>\n" plus optional extension lines,
// carried in a C2SP signed note (https://c2sp.org/signed-note) with Ed25519 signatures
// (signature type 0x01). Base64 is RFC 4648 section 4, padded.
//
// Notes and checkpoint bodies reaching verifyNote, verifyCheckpoint and
// parseCheckpointBody are attacker-controlled; those functions never throw. The
// builders (checkpointBody, signNote) take the program's own values and throw a
// RangeError on a defect, as sign does on a bad seed, rather than emit a note no
// verifier would accept.
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { ED25519_PUBLIC_KEY_LENGTH, ED25519_SIGNATURE_LENGTH, publicKeyFromSeed, sign, verify, type Ed25519Verifier } from "./ed25519.ts";
import { sha256 } from "./hashing.ts";
import { RFC6962_HASH_LENGTH } from "./merkle.ts";

/** signed-note "Signature types": the identifier byte of Ed25519 signatures. */
export const SIGNED_NOTE_ED25519_TYPE = 0x01;
/** signed-note "Format": a signature starts with a 4-byte key ID. */
export const SIGNED_NOTE_KEY_HASH_LENGTH = 4;
/**
 * signed-note "Format": verifiers SHOULD cap the number of signatures and MUST accept
 * at least 16. Notes with more signature lines are refused.
 */
export const SIGNED_NOTE_MAX_SIGNATURES = 100;

// U+2014 EM DASH and a space open every signature line.
const SIGNATURE_LINE_PREFIX = "\u2014 ";
// signed-note "Format": no ASCII control characters other than newline. This is what
// refuses CRLF line ends and tabs.
const FORBIDDEN_CONTROL = /[\u0000-\u0009\u000B-\u001F]/;
// Key names: non-empty, no Unicode spaces (the White_Space property, as Go's
// unicode.IsSpace reads it) and no '+'.
const KEY_NAME = /^[^\p{White_Space}+]+$/u;
// tlog-checkpoint: the tree size is ASCII decimal without leading zeros.
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

const utf8 = new TextEncoder();

export type Checkpoint = {
  readonly origin: string;
  readonly treeSize: number;
  readonly root: Uint8Array;
};

export type ParsedCheckpoint = Checkpoint & {
  /** tlog-checkpoint extension lines after the root, opaque, each non-empty; usually none. */
  readonly extensions: ReadonlyArray<string>;
};

export type CheckpointParse =
  | ({ readonly ok: true } & ParsedCheckpoint)
  | { readonly ok: false; readonly reason: string };

export type NoteVerification =
  | { readonly ok: true; readonly body: string }
  | { readonly ok: false; readonly reason: string };

/**
 * The checkpoint note text: origin, decimal tree size and base64 root, each ending in a
 * newline. Throws a RangeError on an empty origin or one with a newline or other control
 * character, a tree size that is not a non-negative safe integer, or a root that is not
 * 32 bytes.
 */
export function checkpointBody(checkpoint: Checkpoint): string {
  const { origin, treeSize, root } = checkpoint;
  if (!isNoteLine(origin)) throw new RangeError("checkpoint origin must be a non-empty line without control characters");
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) {
    throw new RangeError("checkpoint tree size must be a non-negative safe integer");
  }
  if (!(root instanceof Uint8Array) || root.length !== RFC6962_HASH_LENGTH) {
    throw new RangeError(`checkpoint root must be ${RFC6962_HASH_LENGTH} bytes`);
  }
  return `${origin}\n${treeSize}\n${encodeBase64(root)}\n`;
}

/**
 * Strict parse of hostile checkpoint text (the note text, before or after verifyNote):
 * at least three lines, each ending in a newline and none empty; a tree size in
 * canonical decimal no larger than Number.MAX_SAFE_INTEGER; a root in canonical padded
 * base64 of exactly 32 bytes. Lines after the third are returned as extensions.
 */
export function parseCheckpointBody(text: string): CheckpointParse {
  if (typeof text !== "string") return fail("checkpoint is not text");
  if (!text.isWellFormed()) return fail("checkpoint is not valid Unicode (lone surrogate)");
  if (FORBIDDEN_CONTROL.test(text)) return fail("checkpoint contains a control character other than newline");
  if (!text.endsWith("\n")) return fail("checkpoint does not end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) return fail(`checkpoint has ${lines.length} lines, needs origin, tree size and root`);
  const emptyLine = lines.indexOf("");
  if (emptyLine !== -1) return fail(`checkpoint line ${emptyLine + 1} is empty`);
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!DECIMAL.test(sizeText)) return fail("checkpoint tree size is not canonical decimal");
  const treeSize = Number(sizeText);
  if (!Number.isSafeInteger(treeSize)) return fail("checkpoint tree size is larger than this verifier supports (2^53 - 1)");
  const root = decodeBase64(rootText);
  if (root === undefined) return fail("checkpoint root is not canonical padded base64");
  if (root.length !== RFC6962_HASH_LENGTH) return fail(`checkpoint root is ${root.length} bytes, not ${RFC6962_HASH_LENGTH}`);
  return { ok: true, origin, treeSize, root, extensions };
}

/**
 * The signed-note key ID of an Ed25519 key:
 * SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4].
 */
export function noteKeyHash(keyName: string, publicKey: Uint8Array): Uint8Array {
  const name = utf8.encode(keyName);
  const input = new Uint8Array(name.length + 2 + publicKey.length);
  input.set(name, 0);
  input[name.length] = 0x0a;
  input[name.length + 1] = SIGNED_NOTE_ED25519_TYPE;
  input.set(publicKey, name.length + 2);
  return sha256(input).slice(0, SIGNED_NOTE_KEY_HASH_LENGTH);
}

/**
 * A signed note with one Ed25519 signature: body, a blank line, and
 * "— <keyName> base64(key ID || signature over the UTF-8 body)\n". Throws a RangeError
 * if the body is not note text (valid Unicode, ends in a newline, no control characters
 * but newline), if the key name is empty or has a space or '+', or if the seed is not
 * 32 bytes.
 */
export function signNote(body: string, keyName: string, seed: Uint8Array): string {
  const bodyProblem = noteTextProblem(body);
  if (bodyProblem !== undefined) throw new RangeError(`note body ${bodyProblem}`);
  if (!isKeyName(keyName)) throw new RangeError("note key name must be non-empty, without spaces, '+' or control characters");
  const keyHash = noteKeyHash(keyName, publicKeyFromSeed(seed));
  const signature = sign(utf8.encode(body), seed);
  const payload = new Uint8Array(SIGNED_NOTE_KEY_HASH_LENGTH + signature.length);
  payload.set(keyHash, 0);
  payload.set(signature, SIGNED_NOTE_KEY_HASH_LENGTH);
  return `${body}\n${SIGNATURE_LINE_PREFIX}${keyName} ${encodeBase64(payload)}\n`;
}

/**
 * Opens a hostile signed note for one trusted Ed25519 key and answers its text (the body,
 * with its final newline). Following signed-note "Format" and "Signatures": the note must
 * be valid Unicode without control characters but newline; the text ends at the last
 * blank line; every signature line must be well-formed ("— ", a valid key name, a space,
 * canonical padded base64 of at least 5 bytes), at most SIGNED_NOTE_MAX_SIGNATURES of
 * them; lines from other keys (name or key ID differ) are ignored; every line from this
 * key must verify, and at least one must exist.
 */
export function verifyNote(note: string, keyName: string, publicKey: Uint8Array): NoteVerification {
  const opened = openNote(note, keyName, publicKey);
  if (!opened.ok) return opened;
  return noteVerdict(keyName, opened, opened.signatures.map((signature) => verify(signature, opened.message, publicKey)));
}

/**
 * verifyNote with an asynchronous Ed25519 verifier (WebCrypto's, in a browser) in place
 * of the synchronous one: the same parsing, the same answers.
 */
export async function verifyNoteWith(note: string, keyName: string, publicKey: Uint8Array, verifier: Ed25519Verifier): Promise<NoteVerification> {
  const opened = openNote(note, keyName, publicKey);
  if (!opened.ok) return opened;
  return noteVerdict(keyName, opened, await Promise.all(opened.signatures.map((signature) => verifier(signature, opened.message, publicKey))));
}

/** verifyNote for one trusted key, then parseCheckpointBody of the verified text. */
export function verifyCheckpoint(note: string, keyName: string, publicKey: Uint8Array): CheckpointParse {
  const opened = verifyNote(note, keyName, publicKey);
  if (!opened.ok) return opened;
  return parseCheckpointBody(opened.body);
}

/** verifyCheckpoint with an asynchronous Ed25519 verifier (see verifyNoteWith). */
export async function verifyCheckpointWith(note: string, keyName: string, publicKey: Uint8Array, verifier: Ed25519Verifier): Promise<CheckpointParse> {
  const opened = await verifyNoteWith(note, keyName, publicKey, verifier);
  if (!opened.ok) return opened;
  return parseCheckpointBody(opened.body);
}

type OpenedNote = {
  readonly ok: true;
  readonly body: string;
  /** The UTF-8 bytes of the body: what each signature signs. */
  readonly message: Uint8Array;
  /** The signature of every line from the trusted key (name and key ID), to be verified. */
  readonly signatures: ReadonlyArray<Uint8Array>;
};

// Everything of verifyNote but the signature checks themselves.
function openNote(note: string, keyName: string, publicKey: Uint8Array): OpenedNote | { readonly ok: false; readonly reason: string } {
  if (!isKeyName(keyName)) return fail("trusted key name is not a valid note key name");
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) {
    return fail(`trusted public key is not ${ED25519_PUBLIC_KEY_LENGTH} bytes`);
  }
  if (typeof note !== "string") return fail("note is not text");
  if (!note.isWellFormed()) return fail("note is not valid Unicode (lone surrogate)");
  if (FORBIDDEN_CONTROL.test(note)) return fail("note contains a control character other than newline (CR, tab, ...)");
  const split = note.lastIndexOf("\n\n");
  if (split === -1) return fail("note has no blank line before its signatures");
  const body = note.slice(0, split + 1);
  const signatureBlock = note.slice(split + 2);
  if (signatureBlock === "") return fail("note has no signature lines");
  if (!signatureBlock.endsWith("\n")) return fail("note does not end with a newline");
  const lines = signatureBlock.slice(0, -1).split("\n");
  if (lines.length > SIGNED_NOTE_MAX_SIGNATURES) {
    return fail(`note has ${lines.length} signature lines, more than ${SIGNED_NOTE_MAX_SIGNATURES}`);
  }

  // Parse every line first: one malformed line makes the whole note malformed.
  const parsed: Array<{ readonly name: string; readonly payload: Uint8Array }> = [];
  for (const [i, line] of lines.entries()) {
    const signatureLine = parseSignatureLine(line);
    if (signatureLine === undefined) return fail(`note signature line ${i + 1} is malformed`);
    parsed.push(signatureLine);
  }

  // The key is identified by name and key ID together; a line sharing only one of them
  // is someone else's and is ignored.
  const keyHash = noteKeyHash(keyName, publicKey);
  const signatures = parsed
    .filter(({ name, payload }) => name === keyName && prefixEquals(payload, keyHash))
    .map(({ payload }) => payload.subarray(SIGNED_NOTE_KEY_HASH_LENGTH));
  return { ok: true, body, message: utf8.encode(body), signatures };
}

// Every line from the trusted key must verify, and there must be one.
function noteVerdict(keyName: string, opened: OpenedNote, valid: ReadonlyArray<boolean>): NoteVerification {
  if (opened.signatures.length === 0) return fail(`note is not signed by ${keyName}`);
  const bad = opened.signatures.some((signature, i) => signature.length !== ED25519_SIGNATURE_LENGTH || !valid[i]);
  return bad ? fail(`note signature by ${keyName} does not verify`) : { ok: true, body: opened.body };
}

// "— <name> <base64>": undefined unless the name is valid and the base64 is canonical
// and carries a key ID and at least one signature byte.
function parseSignatureLine(line: string): { name: string; payload: Uint8Array } | undefined {
  if (!line.startsWith(SIGNATURE_LINE_PREFIX)) return undefined;
  const rest = line.slice(SIGNATURE_LINE_PREFIX.length);
  const space = rest.indexOf(" ");
  if (space === -1) return undefined;
  const name = rest.slice(0, space);
  if (!isKeyName(name)) return undefined;
  const payload = decodeBase64(rest.slice(space + 1));
  if (payload === undefined || payload.length <= SIGNED_NOTE_KEY_HASH_LENGTH) return undefined;
  return { name, payload };
}

function noteTextProblem(text: string): string | undefined {
  if (typeof text !== "string") return "is not text";
  if (!text.isWellFormed()) return "is not valid Unicode (lone surrogate)";
  if (FORBIDDEN_CONTROL.test(text)) return "contains a control character other than newline";
  if (!text.endsWith("\n")) return "does not end with a newline";
  return undefined;
}

function isNoteLine(text: unknown): text is string {
  return typeof text === "string" && text !== "" && text.isWellFormed() && !text.includes("\n") &&
    !FORBIDDEN_CONTROL.test(text);
}

function isKeyName(name: unknown): name is string {
  // KEY_NAME already excludes newline and the other White_Space controls; the control
  // test catches the rest.
  return typeof name === "string" && name.isWellFormed() && KEY_NAME.test(name) && !FORBIDDEN_CONTROL.test(name);
}

function prefixEquals(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function fail(reason: string): { readonly ok: false; readonly reason: string } {
  return { ok: false, reason };
}

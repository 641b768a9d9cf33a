// RFC 4648 section 4 "base64", the standard alphabet with '=' padding (section 3.2), as
// C2SP signed notes and checkpoints use it. Built on the strict base64url codec: the two
// alphabets differ only in characters 62 and 63 ('+' '/' against '-' '_'), so this file
// owns just the alphabet swap and the padding rules. Decoding takes hostile text and
// accepts exactly one encoding per byte string: length a multiple of 4, padding only as
// needed and only at the end, no whitespace, no URL-safe characters, and zero unused
// low bits in the last character (section 3.5, "canonical encoding").
import { decodeBase64Url, encodeBase64Url } from "./base64url.ts";

const PADDING = ["", "", "==", "="] as const;

export function encodeBase64(bytes: Uint8Array): string {
  const unpadded = encodeBase64Url(bytes).replaceAll("-", "+").replaceAll("_", "/");
  return unpadded + PADDING[unpadded.length % 4]!;
}

/** Strict decoding of hostile text; undefined for anything but the one canonical padded encoding. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (typeof text !== "string" || text.length % 4 !== 0) return undefined;
  // '-' and '_' are base64url's; refuse them before the swap below would let them pass.
  if (text.includes("-") || text.includes("_")) return undefined;
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  // Any '=' left in the body is refused by the base64url alphabet, and so is a third '='.
  const body = text.slice(0, text.length - pad).replaceAll("+", "-").replaceAll("/", "_");
  // Padding must be exactly what the body length implies: 2 leftover characters need
  // "==", 3 need "=". decodeBase64Url refuses 1 leftover, and checks the unused bits.
  if (PADDING[body.length % 4]!.length !== pad) return undefined;
  return decodeBase64Url(body);
}

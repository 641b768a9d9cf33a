// Identifiers. ULID per https://github.com/ulid/spec: 48-bit big-endian millisecond
// time then 80 random bits, as 26 Crockford base32 characters, so the text sorts by
// time. UUID version 4 per RFC 9562 section 5.4. Both are pure: the clock reading and
// the random bytes are inputs, so deciders stay deterministic. Wrong-sized inputs come
// from the program, not from attackers, so they throw as defects.
const CROCKFORD_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ULID_TIME_MAX = 2 ** 48 - 1;
export const ULID_RANDOM_LENGTH = 10;
export const UUID_RANDOM_LENGTH = 16;

export function ulid(timeMs: number, random: Uint8Array): string {
  if (!Number.isSafeInteger(timeMs) || timeMs < 0 || timeMs > ULID_TIME_MAX) {
    throw new RangeError(`ULID time must be an integer in [0, 2^48), got ${timeMs}`);
  }
  if (random.length !== ULID_RANDOM_LENGTH) {
    throw new RangeError(`ULID randomness must be ${ULID_RANDOM_LENGTH} bytes, got ${random.length}`);
  }
  // 10 characters hold 50 bits; the top two are zero. Division, not bit shifts, because
  // JS bitwise operators truncate to 32 bits.
  let time = "";
  let t = timeMs;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD_BASE32[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  // 80 bits = 16 characters exactly; take 5 bits at a time from a small bit buffer.
  let rand = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of random) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      rand += CROCKFORD_BASE32[(buffer >> bits) & 31]!;
    }
    buffer &= (1 << bits) - 1;
  }
  return time + rand;
}

/** A version 4 UUID from 16 random bytes; the version and variant bits are overwritten. */
export function uuidV4(random: Uint8Array): string {
  if (random.length !== UUID_RANDOM_LENGTH) {
    throw new RangeError(`UUID v4 randomness must be ${UUID_RANDOM_LENGTH} bytes, got ${random.length}`);
  }
  const b = Uint8Array.from(random);
  b[6] = (b[6]! & 0x0f) | 0x40; // version 4 (RFC 9562 section 4.2)
  b[8] = (b[8]! & 0x3f) | 0x80; // variant 10xx (RFC 9562 section 4.1)
  const hex = Array.from(b, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** True only for the lowercase canonical text of a version 4, variant 10xx UUID. */
export function isUuidV4(text: string): boolean {
  return UUID_V4.test(text);
}

// RFC 6962 section 2.1, as revised by RFC 9162 section 2.1: the Merkle Tree Hash (MTH)
// over SHA-256 with domain-separated leaves and nodes (2.1.1), inclusion proofs (2.1.3)
// and consistency proofs (2.1.4): generation in an append-only in-memory tree, and
// verification of hostile proofs.
//
// Sizes and indices are JavaScript numbers limited to safe integers (< 2^53), far past
// any tree this process can hold. Bit operators are 32-bit in JavaScript, so the bit
// steps of the RFC algorithms ("LSB", "right-shift") are written as % 2 and division.
//
// Conventions:
// - Verifiers take attacker-controlled input (indices, sizes, hashes, proofs) and never
//   throw; they answer { ok: true } or { ok: false, reason }.
// - MerkleTree methods asked about leaves, sizes or ranges the tree does not hold answer
//   undefined. Only append throws, and only on a defect of the caller (a leaf hash that
//   is not 32 bytes), since the tree would otherwise be silently corrupted.
// - Every hash handed out is a fresh copy; callers may keep or mutate it.
import { sha256 } from "./hashing.ts";

/** RFC 6962 / RFC 9162 section 2.1.1: prefix byte of a leaf hash input. */
export const RFC6962_LEAF_PREFIX = 0x00;
/** RFC 6962 / RFC 9162 section 2.1.1: prefix byte of an interior node hash input. */
export const RFC6962_NODE_PREFIX = 0x01;
/** SHA-256 output length: every tree hash, proof node and root is this long. */
export const RFC6962_HASH_LENGTH = 32;

export type ProofVerification = { readonly ok: true } | { readonly ok: false; readonly reason: string };
export type RootFromProof =
  | { readonly ok: true; readonly root: Uint8Array }
  | { readonly ok: false; readonly reason: string };

/** MTH({d}) = SHA-256(0x00 || d), RFC 9162 section 2.1.1. */
export function leafHash(data: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + data.length);
  input[0] = RFC6962_LEAF_PREFIX;
  input.set(data, 1);
  return sha256(input);
}

/** SHA-256(0x01 || left || right), the interior node of RFC 9162 section 2.1.1. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = RFC6962_NODE_PREFIX;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

/** MTH({}) = SHA-256(), the hash of the empty string (RFC 9162 section 2.1.1). */
export function emptyRoot(): Uint8Array {
  return sha256(new Uint8Array(0));
}

/**
 * The MTH of a list of leaf hashes by the recursive definition of RFC 9162 section
 * 2.1.1, with no stored state: O(n) hashes and O(log n) recursion. For tests and small
 * trees; MerkleTree is the efficient form.
 */
export function rootOf(leafHashes: ReadonlyArray<Uint8Array>): Uint8Array {
  const n = leafHashes.length;
  if (n === 0) return emptyRoot();
  if (n === 1) return leafHashes[0]!.slice();
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(rootOf(leafHashes.slice(0, k)), rootOf(leafHashes.slice(k)));
}

/**
 * An append-only Merkle tree of leaf hashes, in memory. Level k holds, in one
 * contiguous buffer, the hash of every complete aligned range [i*2^k, (i+1)*2^k), so the
 * hash of any range the RFC 9162 recursion visits costs O(log n) node hashes, and
 * roots, inclusion proofs and consistency proofs at any past size cost O(log^2 n) at
 * worst. Memory is 64 bytes per leaf, up to twice that while a level buffer has just
 * doubled.
 */
export class MerkleTree {
  readonly #levels: HashLevel[] = [new HashLevel()];

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#levels[0]!.count;
  }

  /**
   * Appends one leaf hash (already SHA-256(0x00 || data), see leafHash) and completes
   * every aligned subtree it closes. Throws a RangeError if it is not a 32-byte
   * Uint8Array: leaf hashes are the program's own values, so that is a defect.
   */
  append(leafHash: Uint8Array): void {
    if (!isHash(leafHash)) {
      throw new RangeError(`leaf hash must be a ${RFC6962_HASH_LENGTH}-byte Uint8Array`);
    }
    let level = 0;
    let index = this.#levels[0]!.push(leafHash);
    // An odd index is a right child: its aligned pair is now complete, so store the
    // parent one level up, and carry on while the parent is itself a right child.
    while (index % 2 === 1) {
      const below = this.#levels[level]!;
      const parent = nodeHash(below.at(index - 1), below.at(index));
      level++;
      const above = this.#levels[level] ?? (this.#levels[level] = new HashLevel());
      index = above.push(parent);
    }
  }

  /** The leaf hash at `index`, or undefined unless 0 <= index < size. */
  leaf(index: number): Uint8Array | undefined {
    if (!isIndex(index) || index >= this.size) return undefined;
    return this.#levels[0]!.at(index).slice();
  }

  /**
   * MTH of the first `size` leaves (RFC 9162 section 2.1.1), for the current or any
   * earlier size; the empty-string hash for size 0. Undefined unless 0 <= size <= this.size.
   */
  root(): Uint8Array;
  root(size: number): Uint8Array | undefined;
  root(size: number = this.size): Uint8Array | undefined {
    if (!isIndex(size) || size > this.size) return undefined;
    if (size === 0) return emptyRoot();
    return this.#rangeHash(0, size).slice();
  }

  /**
   * PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1, ordered from the leaf's sibling
   * up to the child of the root. Undefined unless 0 <= index < size <= this.size.
   */
  inclusionProof(index: number, size: number): Uint8Array[] | undefined {
    if (!isIndex(index) || !isIndex(size) || index >= size || size > this.size) return undefined;
    // Walk down the recursion PATH(m, D[start:end]) collecting the sibling subtree at
    // each step; the RFC lists them bottom-up, so reverse at the end.
    const siblings: Uint8Array[] = [];
    let start = 0;
    let end = size;
    while (end - start > 1) {
      const k = largestPowerOfTwoBelow(end - start);
      if (index < start + k) {
        siblings.push(this.#rangeHash(start + k, end));
        end = start + k;
      } else {
        siblings.push(this.#rangeHash(start, start + k));
        start += k;
      }
    }
    return siblings.reverse().map((hash) => hash.slice());
  }

  /**
   * PROOF(from, D[0:to]) = SUBPROOF(from, D[0:to], true) of RFC 9162 section 2.1.4.1.
   * The RFC defines it for 0 < from < to; for from == to this answers the empty proof,
   * which verifyConsistency accepts for equal sizes and equal roots. Undefined unless
   * 0 < from <= to <= this.size (no proof starts from the empty tree).
   */
  consistencyProof(from: number, to: number): Uint8Array[] | undefined {
    if (!isIndex(from) || !isIndex(to) || from === 0 || from > to || to > this.size) return undefined;
    // Walk down SUBPROOF(m, D[start:end], b) collecting the sibling subtree at each
    // step. At the bottom (m == n) the RFC emits MTH(D[start:end]) only if b is false,
    // i.e. once the walk has gone right at least once, since otherwise that hash is the
    // old root the verifier already has. The bottom element comes first.
    const siblings: Uint8Array[] = [];
    let start = 0;
    let end = to;
    let isOldRoot = true;
    while (from !== end) {
      const k = largestPowerOfTwoBelow(end - start);
      if (from <= start + k) {
        siblings.push(this.#rangeHash(start + k, end));
        end = start + k;
      } else {
        siblings.push(this.#rangeHash(start, start + k));
        start += k;
        isOldRoot = false;
      }
    }
    const proof = isOldRoot ? [] : [this.#rangeHash(start, end)];
    return [...proof, ...siblings.reverse()].map((hash) => hash.slice());
  }

  /**
   * The compact range of the first `size` leaves: MTH of each perfect subtree that the
   * binary expansion of `size` cuts [0, size) into, largest (leftmost) first. With the
   * leaves that follow, it gives every later root (MerkleFrontier) without the leaves
   * before. Undefined unless 0 <= size <= this.size.
   */
  compactRange(size: number): Uint8Array[] | undefined {
    if (!isIndex(size) || size > this.size) return undefined;
    const hashes: Uint8Array[] = [];
    let start = 0;
    for (let width = largestPowerOfTwoAtMost(size); width >= 1; width /= 2) {
      if (size - start < width) continue;
      hashes.push(this.#rangeHash(start, start + width).slice());
      start += width;
    }
    return hashes;
  }

  // MTH(D[start:end]) for 0 <= start < end <= size. A complete aligned range is read
  // from its level; otherwise split as RFC 9162 section 2.1.1 does. The ranges the RFC
  // recursion visits always start on a multiple of the split size, so the left half is
  // stored and only the right edge recurses: O(log n) node hashes. Answers views into
  // the level buffers; public methods copy.
  #rangeHash(start: number, end: number): Uint8Array {
    const width = end - start;
    const level = exactLog2(width);
    if (level !== undefined && start % width === 0) return this.#levels[level]!.at(start / width);
    const k = largestPowerOfTwoBelow(width);
    return nodeHash(this.#rangeHash(start, start + k), this.#rangeHash(start + k, end));
  }
}

/**
 * The right edge of an append-only tree: the compact range (MerkleTree.compactRange) of
 * its first `size` leaves. Appending leaf hashes and asking for the root costs O(log n)
 * memory and hashes, with none of the leaves before: how a verifier that holds only a
 * later part of the log recomputes the roots of checkpoints sealing that part.
 */
export class MerkleFrontier {
  #size: number;
  readonly #hashes: Uint8Array[];

  private constructor(size: number, hashes: Uint8Array[]) {
    this.#size = size;
    this.#hashes = hashes;
  }

  /**
   * The frontier of a tree of `size` leaves from its compact range, which is
   * attacker-controlled: undefined unless `size` is a safe non-negative integer and there
   * is one 32-byte hash per set bit of `size`. Nothing here shows the hashes are right;
   * a root they lead to must be compared with a signed one.
   */
  static from(size: number, compactRange: ReadonlyArray<Uint8Array>): MerkleFrontier | undefined {
    if (!isIndex(size) || !Array.isArray(compactRange)) return undefined;
    if (compactRange.length !== setBits(size) || !compactRange.every(isHash)) return undefined;
    return new MerkleFrontier(size, compactRange.map((hash) => hash.slice()));
  }

  get size(): number {
    return this.#size;
  }

  /** Appends one leaf hash; throws a RangeError if it is not 32 bytes (a caller defect, as in MerkleTree.append). */
  append(leafHash: Uint8Array): void {
    if (!isHash(leafHash)) throw new RangeError(`leaf hash must be a ${RFC6962_HASH_LENGTH}-byte Uint8Array`);
    let merged: Uint8Array = leafHash.slice();
    // Each set low bit of the old size is a perfect subtree of that width on the right
    // edge, which the new leaf's subtree now completes: carry as in binary addition.
    for (let width = 1; Math.floor(this.#size / width) % 2 === 1; width *= 2) {
      merged = nodeHash(this.#hashes.pop()!, merged);
    }
    this.#hashes.push(merged);
    this.#size += 1;
  }

  /** MTH of the leaves so far (RFC 9162 section 2.1.1): the subtrees folded from the right. */
  root(): Uint8Array {
    if (this.#hashes.length === 0) return emptyRoot();
    let root = this.#hashes[this.#hashes.length - 1]!;
    for (let i = this.#hashes.length - 2; i >= 0; i--) root = nodeHash(this.#hashes[i]!, root);
    return root.slice();
  }
}

// One level of stored hashes, packed in a growable buffer: one allocation per doubling
// instead of one object per hash, which matters at a million leaves.
class HashLevel {
  #bytes = new Uint8Array(RFC6962_HASH_LENGTH * 16);
  #count = 0;

  get count(): number {
    return this.#count;
  }

  /** Appends a hash and answers its index. */
  push(hash: Uint8Array): number {
    const offset = this.#count * RFC6962_HASH_LENGTH;
    if (offset + RFC6962_HASH_LENGTH > this.#bytes.length) {
      const grown = new Uint8Array(this.#bytes.length * 2);
      grown.set(this.#bytes);
      this.#bytes = grown;
    }
    this.#bytes.set(hash, offset);
    return this.#count++;
  }

  /** A view of the hash at `index` (no copy); valid until the next push. */
  at(index: number): Uint8Array {
    const offset = index * RFC6962_HASH_LENGTH;
    return this.#bytes.subarray(offset, offset + RFC6962_HASH_LENGTH);
  }
}

/**
 * Recomputes the root from an inclusion proof: RFC 9162 section 2.1.3.2 steps 1 to 5,
 * minus the final comparison with a root. All four arguments are attacker-controlled:
 * refuses leafIndex >= treeSize, non-integer or unsafe sizes, a leaf hash or consumed
 * proof node that is not 32 bytes, and a proof of the wrong length (too many nodes
 * trip step 4a, too few leave sn != 0 in step 5).
 */
export function rootFromInclusionProof(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: ReadonlyArray<Uint8Array>,
): RootFromProof {
  if (!isIndex(leafIndex)) return fail("leaf index is not a non-negative safe integer");
  if (!isIndex(treeSize)) return fail("tree size is not a non-negative safe integer");
  // Step 1.
  if (leafIndex >= treeSize) return fail(`leaf index ${leafIndex} is not below tree size ${treeSize}`);
  if (!isHash(leafHash)) return fail(`leaf hash is not ${RFC6962_HASH_LENGTH} bytes`);
  if (!Array.isArray(proof)) return fail("inclusion proof is not an array");
  // Steps 2 and 3.
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  // Step 4. A hostile proof may be arbitrarily long; at most 53 nodes are consumed
  // before sn reaches 0 and the next node fails step 4a.
  for (let i = 0; i < proof.length; i++) {
    const p: unknown = proof[i];
    // 4a.
    if (sn === 0) return fail(`inclusion proof has ${proof.length} nodes, more than the path needs`);
    if (!isHash(p)) return fail(`inclusion proof node ${i} is not ${RFC6962_HASH_LENGTH} bytes`);
    // 4b.
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // The node is on the right edge: skip the levels where it has no right sibling.
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    // 4c.
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 5, first half: the path must reach the root.
  if (sn !== 0) return fail(`inclusion proof has ${proof.length} nodes, fewer than the path needs`);
  return { ok: true, root: r === leafHash ? r.slice() : r };
}

/**
 * RFC 9162 section 2.1.3.2: does `proof` show the leaf hash at leafIndex in the tree of
 * treeSize leaves with this root? Every argument is attacker-controlled.
 */
export function verifyInclusion(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: ReadonlyArray<Uint8Array>,
  root: Uint8Array,
): ProofVerification {
  if (!isHash(root)) return fail(`root is not ${RFC6962_HASH_LENGTH} bytes`);
  const computed = rootFromInclusionProof(leafIndex, treeSize, leafHash, proof);
  if (!computed.ok) return computed;
  // Step 5, second half.
  return bytesEqual(computed.root, root) ? OK : fail("inclusion proof does not lead to the root");
}

/**
 * RFC 9162 section 2.1.4.2: does `proof` show that the tree of size2 leaves with root2
 * extends the tree of size1 leaves with root1? Every argument is attacker-controlled.
 *
 * Around the RFC algorithm, with the transparency-dev/merkle test vectors:
 * - size1 > size2 is refused.
 * - size1 == 0 is refused, even with size2 == 0: section 2.1.4.1 defines proofs for
 *   0 < first, and the empty tree proves nothing about a log.
 * - size1 == size2 > 0 needs an empty proof and byte-identical roots (the RFC's step 1
 *   would refuse the empty proof); the roots are then compared as opaque bytes, not
 *   checked for length, since equal sizes need no hashing.
 * - Otherwise both roots and every consumed proof node must be 32 bytes, and a proof
 *   of the wrong length is refused by steps 1, 6 ("sn is 0") and 7 ("sn is 0").
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: ReadonlyArray<Uint8Array>,
): ProofVerification {
  if (!isIndex(size1)) return fail("size1 is not a non-negative safe integer");
  if (!isIndex(size2)) return fail("size2 is not a non-negative safe integer");
  if (size1 > size2) return fail(`size1 ${size1} is greater than size2 ${size2}`);
  if (size1 === 0) return fail("no consistency proof starts from the empty tree (RFC 9162 section 2.1.4.1: 0 < first)");
  if (!Array.isArray(proof)) return fail("consistency proof is not an array");
  if (size1 === size2) {
    if (proof.length !== 0) return fail("sizes are equal but the consistency proof is not empty");
    if (!(root1 instanceof Uint8Array) || !(root2 instanceof Uint8Array)) return fail("a root is not bytes");
    return bytesEqual(root1, root2) ? OK : fail("sizes are equal but the roots differ");
  }
  if (!isHash(root1)) return fail(`root1 is not ${RFC6962_HASH_LENGTH} bytes`);
  if (!isHash(root2)) return fail(`root2 is not ${RFC6962_HASH_LENGTH} bytes`);
  // Step 1.
  if (proof.length === 0) return fail("consistency proof is empty");
  // Step 2: when size1 is a power of two the old root is a node of the new tree and the
  // proof omits it; put it back in front (by index, without copying a hostile array).
  const offset = exactLog2(size1) !== undefined ? 1 : 0;
  const pathLength = proof.length + offset;
  const pathNode = (i: number): unknown => (i < offset ? root1 : proof[i - offset]);
  const nodeName = (i: number): string => (i < offset ? "root1" : `consistency proof node ${i - offset}`);
  // Steps 3 and 4: skip the levels where the old tree's last leaf is a right child.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  // Step 5.
  const first = pathNode(0);
  if (!isHash(first)) return fail(`${nodeName(0)} is not ${RFC6962_HASH_LENGTH} bytes`);
  let fr = first;
  let sr = first;
  // Step 6. As with inclusion, a hostile proof is consumed for at most ~53 nodes.
  for (let i = 1; i < pathLength; i++) {
    const c = pathNode(i);
    if (sn === 0) return fail(`consistency proof has ${proof.length} nodes, more than it needs`);
    if (!isHash(c)) return fail(`${nodeName(i)} is not ${RFC6962_HASH_LENGTH} bytes`);
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 7.
  if (sn !== 0) return fail(`consistency proof has ${proof.length} nodes, fewer than it needs`);
  if (!bytesEqual(fr, root1)) return fail("consistency proof does not lead to root1");
  if (!bytesEqual(sr, root2)) return fail("consistency proof does not lead to root2");
  return OK;
}

const OK: ProofVerification = { ok: true };

function fail(reason: string): { readonly ok: false; readonly reason: string } {
  return { ok: false, reason };
}

function isIndex(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === RFC6962_HASH_LENGTH;
}

// Hashes here are public, so no constant-time comparison is needed.
function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// The k of RFC 9162 section 2.1.1: the largest power of two smaller than n, for n > 1.
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// The largest power of two not above n, for n >= 1; 0 for n = 0.
function largestPowerOfTwoAtMost(n: number): number {
  if (n < 1) return 0;
  let k = 1;
  while (k * 2 <= n) k *= 2;
  return k;
}

// The number of set bits of a safe non-negative integer (beyond 32 bits, so no bit operators).
function setBits(n: number): number {
  let count = 0;
  for (let rest = n; rest > 0; rest = Math.floor(rest / 2)) count += rest % 2;
  return count;
}

// log2(n) when n is a power of two (n >= 1), else undefined.
function exactLog2(n: number): number | undefined {
  let level = 0;
  let power = 1;
  while (power < n) {
    power *= 2;
    level++;
  }
  return power === n ? level : undefined;
}

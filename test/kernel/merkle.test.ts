import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { decodeBase64 } from "../../src/kernel/base64.ts";
import { bytesToHex, hexToBytes } from "../../src/kernel/hashing.ts";
import {
  emptyRoot,
  leafHash,
  MerkleFrontier,
  MerkleTree,
  nodeHash,
  RFC6962_LEAF_PREFIX,
  RFC6962_NODE_PREFIX,
  rootFromInclusionProof,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from "../../src/kernel/merkle.ts";
import { vectorPath } from "../support/vectors.ts";

const utf8 = new TextEncoder();

function hex(text: string): Uint8Array {
  const bytes = hexToBytes(text);
  assert.ok(bytes !== undefined, `bad hex: ${text}`);
  return bytes;
}

function b64(text: string, where: string): Uint8Array {
  const bytes = decodeBase64(text);
  assert.ok(bytes !== undefined, `${where}: bad base64 ${JSON.stringify(text)}`);
  return bytes;
}

function flipBit(proof: ReadonlyArray<Uint8Array>, node: number, mask = 0x08): Uint8Array[] {
  return proof.map((hash, i) => {
    if (i !== node) return hash;
    const copy = hash.slice();
    copy[0]! ^= mask;
    return copy;
  });
}

// ---------------------------------------------------------------------------------------
// transparency-dev/merkle vectors (testdata/inclusion and testdata/consistency).

type InclusionVector = {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
};

type ConsistencyVector = {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
};

// Every *.json below dir, recursively, in a stable order.
function jsonFiles(dir: URL): URL[] {
  const files: URL[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.isDirectory()) files.push(...jsonFiles(new URL(`${entry.name}/`, dir)));
    else if (entry.name.endsWith(".json")) files.push(new URL(entry.name, dir));
  }
  return files;
}

function relative(file: URL, dir: URL): string {
  return file.pathname.slice(dir.pathname.length);
}

// Outcome of a verifier on one vector, catching what must never happen: a throw.
function outcome(run: () => { ok: boolean; reason?: string }): { ok: boolean; detail: string } {
  try {
    const result = run();
    return { ok: result.ok, detail: result.ok ? "accepted" : `refused: ${result.reason}` };
  } catch (error) {
    return { ok: false, detail: `THREW ${String(error)}` };
  }
}

test("every transparency-dev inclusion vector behaves as wantErr says", (t) => {
  const dir = vectorPath("merkle/inclusion/");
  const files = jsonFiles(dir);
  assert.ok(files.length > 0, `no inclusion vectors under ${dir.pathname}`);
  const disagreements: string[] = [];
  let happy = 0;
  for (const file of files) {
    const name = relative(file, dir);
    const v = JSON.parse(readFileSync(file, "utf8")) as InclusionVector;
    // Go writes a nil proof as null; it means the empty proof.
    const proof = (v.proof ?? []).map((node, i) => b64(node, `${name} proof[${i}]`));
    const result = outcome(() =>
      verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash, name), proof, b64(v.root, name))
    );
    if (result.detail.startsWith("THREW") || result.ok === v.wantErr) {
      disagreements.push(`${name} (${v.desc}, wantErr ${v.wantErr}): ${result.detail}`);
    }
    if (!v.wantErr) happy++;
  }
  t.diagnostic(`${files.length} inclusion vectors, ${happy} valid`);
  assert.ok(happy > 0, "no valid inclusion vector: the run would only prove refusals");
  assert.deepEqual(disagreements, []);
});

test("every transparency-dev consistency vector behaves as wantErr says", (t) => {
  const dir = vectorPath("merkle/consistency/");
  const files = jsonFiles(dir);
  assert.ok(files.length > 0, `no consistency vectors under ${dir.pathname}`);
  const disagreements: string[] = [];
  let happy = 0;
  for (const file of files) {
    const name = relative(file, dir);
    const v = JSON.parse(readFileSync(file, "utf8")) as ConsistencyVector;
    const proof = (v.proof ?? []).map((node, i) => b64(node, `${name} proof[${i}]`));
    const result = outcome(() =>
      verifyConsistency(v.size1, v.size2, b64(v.root1, name), b64(v.root2, name), proof)
    );
    if (result.detail.startsWith("THREW") || result.ok === v.wantErr) {
      disagreements.push(`${name} (${v.desc}, wantErr ${v.wantErr}): ${result.detail}`);
    }
    if (!v.wantErr) happy++;
  }
  t.diagnostic(`${files.length} consistency vectors, ${happy} valid`);
  assert.ok(happy > 0, "no valid consistency vector: the run would only prove refusals");
  assert.deepEqual(disagreements, []);
});

// ---------------------------------------------------------------------------------------
// Known answers: the 8-leaf reference tree of RFC 6962's test data, as transparency-dev
// uses it (proof/verify_test.go). Leaves are raw data; roots[n-1] is MTH of the first n.

const REFERENCE_LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map(hex);

const REFERENCE_ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

// [leaf index (0-based), tree size, audit path]
const REFERENCE_INCLUSION: ReadonlyArray<readonly [number, number, ReadonlyArray<string>]> = [
  [0, 1, []],
  [0, 8, [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
  ]],
  [5, 8, [
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  ]],
  [2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]],
  [1, 5, [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
  ]],
];

// [size1, size2, consistency proof]
const REFERENCE_CONSISTENCY: ReadonlyArray<readonly [number, number, ReadonlyArray<string>]> = [
  [1, 1, []],
  [1, 8, [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
  ]],
  [6, 8, [
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  ]],
  [2, 5, [
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
  ]],
  [6, 7, [
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  ]],
];

function referenceTree(): MerkleTree {
  const tree = new MerkleTree();
  for (const data of REFERENCE_LEAVES) tree.append(leafHash(data));
  return tree;
}

test("RFC 9162 2.1.1 hashes: domain prefixes, empty tree, leaf and node", () => {
  assert.equal(RFC6962_LEAF_PREFIX, 0x00);
  assert.equal(RFC6962_NODE_PREFIX, 0x01);
  assert.equal(bytesToHex(emptyRoot()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.deepEqual(rootOf([]), emptyRoot());
  assert.deepEqual(new MerkleTree().root(), emptyRoot());
  // MTH({""}) = SHA-256(0x00): the first reference root.
  assert.equal(bytesToHex(leafHash(new Uint8Array(0))), REFERENCE_ROOTS[0]);
  // A node is not a leaf of the concatenation: the prefixes separate the domains.
  const [a, b] = [leafHash(utf8.encode("a")), leafHash(utf8.encode("b"))];
  const concatenated = new Uint8Array(64);
  concatenated.set(a, 0);
  concatenated.set(b, 32);
  assert.notDeepEqual(nodeHash(a, b), leafHash(concatenated));
  assert.equal(bytesToHex(nodeHash(hex(REFERENCE_ROOTS[0]!), leafHash(hex("00")))), REFERENCE_ROOTS[1]);
});

test("reference tree: every root, audit path and consistency proof, byte for byte", () => {
  const tree = referenceTree();
  const leaves = REFERENCE_LEAVES.map(leafHash);
  for (let n = 1; n <= 8; n++) {
    assert.equal(bytesToHex(tree.root(n)!), REFERENCE_ROOTS[n - 1], `root(${n})`);
    assert.equal(bytesToHex(rootOf(leaves.slice(0, n))), REFERENCE_ROOTS[n - 1], `rootOf ${n}`);
  }
  for (const [index, size, path] of REFERENCE_INCLUSION) {
    assert.deepEqual(tree.inclusionProof(index, size)!.map(bytesToHex), path, `PATH(${index}, ${size})`);
    const root = hex(REFERENCE_ROOTS[size - 1]!);
    assert.deepEqual(verifyInclusion(index, size, leaves[index]!, path.map(hex), root), { ok: true });
    const recomputed = rootFromInclusionProof(index, size, leaves[index]!, path.map(hex));
    assert.ok(recomputed.ok);
    assert.deepEqual(recomputed.root, root);
  }
  for (const [size1, size2, proof] of REFERENCE_CONSISTENCY) {
    assert.deepEqual(tree.consistencyProof(size1, size2)!.map(bytesToHex), proof, `PROOF(${size1}, ${size2})`);
    const verdict = verifyConsistency(size1, size2, hex(REFERENCE_ROOTS[size1 - 1]!), hex(REFERENCE_ROOTS[size2 - 1]!), proof.map(hex));
    assert.deepEqual(verdict, { ok: true });
  }
});

test("the vectors' 8-leaf tree is the reference tree", () => {
  const v = JSON.parse(readFileSync(vectorPath("merkle/inclusion/1/happy-path.json"), "utf8")) as InclusionVector;
  assert.equal(v.treeSize, 8);
  assert.deepEqual(b64(v.root, "inclusion/1/happy-path"), referenceTree().root(8));
});

// ---------------------------------------------------------------------------------------
// Brute force: every size up to 64, every leaf, every pair of sizes, with mutated probes.

const BRUTE = 64;
// Twice as many leaves, so probes claiming a larger size have a genuine root to use.
const bruteLeaves = Array.from({ length: BRUTE * 2 }, (_, i) => leafHash(utf8.encode(`leaf-${i}`)));
const bruteTree = new MerkleTree();
for (const leaf of bruteLeaves) bruteTree.append(leaf);
const naiveRoots = Array.from({ length: BRUTE * 2 + 1 }, (_, n) => rootOf(bruteLeaves.slice(0, n)));

test("brute force: root(n) is the naive MTH for every n up to 64", () => {
  for (let n = 0; n <= BRUTE; n++) assert.deepEqual(bruteTree.root(n), naiveRoots[n], `n=${n}`);
  // Growing one leaf at a time gives the same roots as reading a bigger tree's past.
  const growing = new MerkleTree();
  for (let n = 1; n <= BRUTE; n++) {
    growing.append(bruteLeaves[n - 1]!);
    assert.deepEqual(growing.root(), naiveRoots[n], `growing n=${n}`);
    assert.equal(growing.size, n);
  }
});

test("brute force: every inclusion proof verifies and every mutation is refused", () => {
  const wrongly: string[] = [];
  let checked = 0;
  const expectRefused = (what: string, result: { ok: boolean }) => {
    if (result.ok) wrongly.push(what);
  };
  for (let n = 1; n <= BRUTE; n++) {
    const root = naiveRoots[n]!;
    for (let i = 0; i < n; i++) {
      const leaf = bruteLeaves[i]!;
      const proof = bruteTree.inclusionProof(i, n)!;
      const at = `leaf ${i} of ${n}`;
      const verdict = verifyInclusion(i, n, leaf, proof, root);
      if (!verdict.ok) wrongly.push(`${at}: genuine proof refused: ${verdict.reason}`);
      checked++;
      for (let node = 0; node < proof.length; node++) {
        expectRefused(`${at}: bit flipped in node ${node}`, verifyInclusion(i, n, leaf, flipBit(proof, node), root));
      }
      if (proof.length > 0) {
        expectRefused(`${at}: last node missing`, verifyInclusion(i, n, leaf, proof.slice(0, -1), root));
        expectRefused(`${at}: first node missing`, verifyInclusion(i, n, leaf, proof.slice(1), root));
      }
      expectRefused(`${at}: extra node at the end`, verifyInclusion(i, n, leaf, [...proof, root], root));
      expectRefused(`${at}: extra node in front`, verifyInclusion(i, n, leaf, [leaf, ...proof], root));
      expectRefused(`${at}: empty node at the end`, verifyInclusion(i, n, leaf, [...proof, new Uint8Array(0)], root));
      for (const j of [i - 1, i + 1, i ^ 1, i ^ 2, n]) {
        if (j !== i && j >= 0) expectRefused(`${at}: claimed index ${j}`, verifyInclusion(j, n, leaf, proof, root));
      }
      // A wrong size is refused against the genuine root of that size (see the next test
      // for why the root must be the one bound to the claimed size).
      for (const m of [n - 1, n + 1, n * 2, Math.floor(n / 2)]) {
        if (m !== n && m > i) expectRefused(`${at}: claimed size ${m}`, verifyInclusion(i, m, leaf, proof, naiveRoots[m]!));
      }
      for (const j of [i - 1, i + 1, (i + 7) % n]) {
        if (j !== i && j >= 0 && j < n) {
          expectRefused(`${at}: hash of leaf ${j}`, verifyInclusion(i, n, bruteLeaves[j]!, proof, root));
        }
      }
      expectRefused(`${at}: root of ${n + 1}`, verifyInclusion(i, n, leaf, proof, naiveRoots[n + 1]!));
    }
  }
  assert.equal(checked, (BRUTE * (BRUTE + 1)) / 2);
  assert.deepEqual(wrongly, []);
});

test("RFC 9162 verification binds the size only through the root: use roots from signed checkpoints", () => {
  // Leaf 0's path in the 3-leaf tree has the same shape as in a 4-leaf tree, so the RFC
  // algorithm accepts it for a claimed size 4 with the 3-leaf root. Nothing is forged:
  // that root is not the 4-leaf root, and a checkpoint signs size and root together.
  const proof = bruteTree.inclusionProof(0, 3)!;
  assert.deepEqual(verifyInclusion(0, 4, bruteLeaves[0]!, proof, naiveRoots[3]!), { ok: true });
  assert.equal(verifyInclusion(0, 4, bruteLeaves[0]!, proof, naiveRoots[4]!).ok, false);
});

test("brute force: every consistency proof verifies and every mutation is refused", () => {
  const wrongly: string[] = [];
  let checked = 0;
  const expectRefused = (what: string, result: { ok: boolean }) => {
    if (result.ok) wrongly.push(what);
  };
  for (let n = 1; n <= BRUTE; n++) {
    for (let m = 1; m <= n; m++) {
      const [root1, root2] = [naiveRoots[m]!, naiveRoots[n]!];
      const proof = bruteTree.consistencyProof(m, n)!;
      const at = `${m} -> ${n}`;
      const verdict = verifyConsistency(m, n, root1, root2, proof);
      if (!verdict.ok) wrongly.push(`${at}: genuine proof refused: ${verdict.reason}`);
      checked++;
      if (m === n) {
        if (proof.length !== 0) wrongly.push(`${at}: proof for equal sizes is not empty`);
        expectRefused(`${at}: equal sizes, other root`, verifyConsistency(m, n, root1, naiveRoots[n + 1]!, proof));
        expectRefused(`${at}: equal sizes, non-empty proof`, verifyConsistency(m, n, root1, root2, [root1]));
        continue;
      }
      for (let node = 0; node < proof.length; node++) {
        expectRefused(`${at}: bit flipped in node ${node}`, verifyConsistency(m, n, root1, root2, flipBit(proof, node, 0x10)));
      }
      expectRefused(`${at}: empty proof`, verifyConsistency(m, n, root1, root2, []));
      expectRefused(`${at}: last node missing`, verifyConsistency(m, n, root1, root2, proof.slice(0, -1)));
      expectRefused(`${at}: first node missing`, verifyConsistency(m, n, root1, root2, proof.slice(1)));
      expectRefused(`${at}: extra node at the end`, verifyConsistency(m, n, root1, root2, [...proof, root2]));
      expectRefused(`${at}: extra node in front`, verifyConsistency(m, n, root1, root2, [root1, ...proof]));
      expectRefused(`${at}: first node repeated`, verifyConsistency(m, n, root1, root2, [proof[0]!, ...proof]));
      expectRefused(`${at}: swapped roots`, verifyConsistency(m, n, root2, root1, proof));
      expectRefused(`${at}: wrong root1`, verifyConsistency(m, n, naiveRoots[m - 1]!, root2, proof));
      expectRefused(`${at}: wrong root2`, verifyConsistency(m, n, root1, naiveRoots[n + 1]!, proof));
      expectRefused(`${at}: sizes swapped`, verifyConsistency(n, m, root2, root1, proof));
      // Wrong sizes, each with the genuine root of the claimed size.
      for (const m2 of [m - 1, m + 1, m ^ 2]) {
        if (m2 !== m && m2 >= 1 && m2 <= n) {
          expectRefused(`${at}: claimed size1 ${m2}`, verifyConsistency(m2, n, naiveRoots[m2]!, root2, proof));
        }
      }
      for (const n2 of [n - 1, n + 1, n * 2, Math.floor(n / 2)]) {
        if (n2 !== n && n2 >= m) {
          expectRefused(`${at}: claimed size2 ${n2}`, verifyConsistency(m, n2, root1, naiveRoots[n2]!, proof));
        }
      }
    }
  }
  assert.equal(checked, (BRUTE * (BRUTE + 1)) / 2);
  assert.deepEqual(wrongly, []);
});

test("property: random trees up to 2000 leaves agree with the naive MTH and their proofs verify", () => {
  const MAX = 2000;
  const leaves = Array.from({ length: MAX }, (_, i) => leafHash(utf8.encode(`property-${i}`)));
  const tree = new MerkleTree();
  for (const leaf of leaves) tree.append(leaf);
  const sizes = fc.integer({ min: 1, max: MAX }).chain((n) =>
    fc.record({ n: fc.constant(n), i: fc.integer({ min: 0, max: n - 1 }), m: fc.integer({ min: 1, max: n }) })
  );
  fc.assert(
    fc.property(sizes, ({ n, i, m }) => {
      const root = rootOf(leaves.slice(0, n));
      assert.deepEqual(tree.root(n), root);
      const path = tree.inclusionProof(i, n)!;
      assert.deepEqual(verifyInclusion(i, n, leaves[i]!, path, root), { ok: true });
      if (path.length > 0) assert.equal(verifyInclusion(i, n, leaves[i]!, flipBit(path, path.length - 1), root).ok, false);
      const root1 = rootOf(leaves.slice(0, m));
      const proof = tree.consistencyProof(m, n)!;
      assert.deepEqual(verifyConsistency(m, n, root1, root, proof), { ok: true });
      if (proof.length > 0) assert.equal(verifyConsistency(m, n, root1, root, flipBit(proof, 0, 0x10)).ok, false);
    }),
    { numRuns: 200 },
  );
});

test("a tree past 2^17 leaves: proofs at old and new sizes verify against its roots", () => {
  const size = (1 << 17) + 3;
  const tree = new MerkleTree();
  const leaf = (i: number) => leafHash(utf8.encode(`big-${i}`));
  for (let i = 0; i < size; i++) tree.append(leaf(i));
  assert.equal(tree.size, size);
  for (const [index, at] of [[0, size], [size - 1, size], [77_777, 100_000], [65_535, 65_536], [65_536, 65_537]] as const) {
    assert.deepEqual(tree.leaf(index), leaf(index));
    assert.deepEqual(verifyInclusion(index, at, leaf(index), tree.inclusionProof(index, at)!, tree.root(at)!), { ok: true }, `${index}@${at}`);
  }
  for (const [from, to] of [[1, size], [65_536, size], [99_999, 100_001], [size - 1, size]] as const) {
    assert.deepEqual(verifyConsistency(from, to, tree.root(from)!, tree.root(to)!, tree.consistencyProof(from, to)!), { ok: true }, `${from}->${to}`);
  }
});

test("brute force: a frontier from any compact range gives every later root, leaf by leaf", () => {
  for (let from = 0; from <= BRUTE; from++) {
    const range = bruteTree.compactRange(from)!;
    assert.equal(range.length, from.toString(2).replaceAll("0", "").length, `one hash per set bit of ${from}`);
    const frontier = MerkleFrontier.from(from, range)!;
    assert.deepEqual(frontier.root(), naiveRoots[from], `root at ${from}`);
    for (let n = from + 1; n <= BRUTE; n++) {
      frontier.append(bruteLeaves[n - 1]!);
      assert.equal(frontier.size, n);
      assert.deepEqual(frontier.root(), naiveRoots[n], `${from} then up to ${n}`);
    }
  }
  assert.deepEqual(bruteTree.compactRange(0), []);
  assert.equal(bruteTree.compactRange(bruteTree.size + 1), undefined);
  assert.equal(bruteTree.compactRange(-1), undefined);
});

test("a frontier past 2^17 leaves agrees with the tree", () => {
  const tree = new MerkleTree();
  const leaf = (i: number) => leafHash(utf8.encode(`frontier-${i}`));
  const size = (1 << 17) + 5;
  for (let i = 0; i < size; i++) tree.append(leaf(i));
  const from = 77_777;
  const frontier = MerkleFrontier.from(from, tree.compactRange(from)!)!;
  for (let i = from; i < size; i++) frontier.append(leaf(i));
  assert.deepEqual(frontier.root(), tree.root());
});

test("MerkleFrontier.from refuses a hostile compact range; one altered hash changes the root", () => {
  const range = bruteTree.compactRange(13)!;
  for (const [what, size, hashes] of [
    ["too few hashes", 13, range.slice(1)],
    ["too many hashes", 12, range],
    ["a short hash", 13, [range[0]!, range[1]!, range[2]!.slice(1)]],
    ["a fractional size", 12.5, range],
    ["a negative size", -1, []],
    ["not an array", 13, "nope" as unknown as Uint8Array[]],
  ] as const) {
    assert.equal(MerkleFrontier.from(size, hashes), undefined, what);
  }
  const altered = MerkleFrontier.from(13, flipBit(range, 1))!;
  for (let n = 13; n < 20; n++) altered.append(bruteLeaves[n]!);
  assert.notDeepEqual(altered.root(), naiveRoots[20]);
});

// ---------------------------------------------------------------------------------------
// Conventions: out-of-range questions answer undefined; hostile verifier input is refused.

test("MerkleTree answers undefined for leaves, sizes and ranges it does not hold", () => {
  const tree = referenceTree();
  for (const bad of [-1, 8, 1.5, Number.NaN, Infinity, 2 ** 53]) assert.equal(tree.leaf(bad), undefined, `leaf(${bad})`);
  for (const bad of [-1, 9, 0.5, Number.NaN]) assert.equal(tree.root(bad), undefined, `root(${bad})`);
  assert.deepEqual(tree.root(0), emptyRoot());
  assert.equal(tree.inclusionProof(0, 0), undefined);
  assert.equal(tree.inclusionProof(8, 8), undefined);
  assert.equal(tree.inclusionProof(0, 9), undefined);
  assert.equal(tree.inclusionProof(-1, 4), undefined);
  assert.equal(tree.consistencyProof(0, 4), undefined, "no proof starts from the empty tree");
  assert.equal(tree.consistencyProof(5, 4), undefined);
  assert.equal(tree.consistencyProof(4, 9), undefined);
  assert.equal(tree.consistencyProof(1.5, 4), undefined);
  assert.deepEqual(tree.consistencyProof(4, 4), [], "equal sizes: the empty proof");
  assert.deepEqual(tree.inclusionProof(0, 1), [], "a one-leaf tree: the empty path");
});

test("MerkleTree hands out copies, so callers cannot corrupt it", () => {
  const tree = referenceTree();
  tree.leaf(3)!.fill(0);
  tree.root(8)!.fill(0);
  tree.inclusionProof(3, 8)![0]!.fill(0);
  tree.consistencyProof(3, 8)![0]!.fill(0);
  const appended = leafHash(utf8.encode("x"));
  tree.append(appended);
  appended.fill(0);
  assert.equal(bytesToHex(tree.root(8)!), REFERENCE_ROOTS[7]);
  assert.deepEqual(tree.leaf(8), leafHash(utf8.encode("x")));
});

test("MerkleTree.append refuses a leaf hash that is not 32 bytes (a caller defect)", () => {
  const tree = new MerkleTree();
  assert.throws(() => tree.append(new Uint8Array(31)), RangeError);
  assert.throws(() => tree.append("ab" as unknown as Uint8Array), RangeError);
  assert.equal(tree.size, 0);
});

test("verifiers refuse hostile shapes without throwing", () => {
  const leaves = REFERENCE_LEAVES.map(leafHash);
  const tree = referenceTree();
  const root = tree.root(8)!;
  const proof = tree.inclusionProof(5, 8)!;
  const junk: ReadonlyArray<readonly [string, () => { ok: boolean }]> = [
    ["NaN index", () => verifyInclusion(Number.NaN, 8, leaves[5]!, proof, root)],
    ["negative index", () => verifyInclusion(-1, 8, leaves[5]!, proof, root)],
    ["fractional size", () => verifyInclusion(5, 8.5, leaves[5]!, proof, root)],
    ["unsafe size", () => verifyInclusion(5, 2 ** 64, leaves[5]!, proof, root)],
    ["string index", () => verifyInclusion("5" as unknown as number, 8, leaves[5]!, proof, root)],
    ["null proof", () => verifyInclusion(5, 8, leaves[5]!, null as unknown as Uint8Array[], root)],
    ["string in proof", () => verifyInclusion(5, 8, leaves[5]!, ["x" as unknown as Uint8Array, ...proof.slice(1)], root)],
    ["33-byte node", () => verifyInclusion(5, 8, leaves[5]!, [new Uint8Array(33), ...proof.slice(1)], root)],
    ["hex string root", () => verifyInclusion(5, 8, leaves[5]!, proof, bytesToHex(root) as unknown as Uint8Array)],
    ["31-byte leaf", () => verifyInclusion(5, 8, leaves[5]!.subarray(1), proof, root)],
    ["a million-node proof", () => verifyInclusion(5, 8, leaves[5]!, new Array<Uint8Array>(1_000_000).fill(root), root)],
    ["consistency: NaN size", () => verifyConsistency(Number.NaN, 8, root, root, [])],
    ["consistency: null proof", () => verifyConsistency(3, 8, tree.root(3)!, root, null as unknown as Uint8Array[])],
    ["consistency: undefined root", () => verifyConsistency(3, 8, undefined as unknown as Uint8Array, root, tree.consistencyProof(3, 8)!)],
    ["consistency: equal sizes, string roots", () => verifyConsistency(3, 3, "a" as unknown as Uint8Array, "a" as unknown as Uint8Array, [])],
    ["consistency: power-of-two size1 with a short root1", () => verifyConsistency(4, 8, tree.root(4)!.subarray(1), root, tree.consistencyProof(4, 8)!)],
    ["consistency: a million-node proof", () => verifyConsistency(3, 8, tree.root(3)!, root, new Array<Uint8Array>(1_000_000).fill(root))],
    ["consistency: size1 0 to size2 0", () => verifyConsistency(0, 0, emptyRoot(), emptyRoot(), [])],
  ];
  for (const [name, run] of junk) {
    let result: { ok: boolean } | undefined;
    assert.doesNotThrow(() => {
      result = run();
    }, name);
    assert.equal(result?.ok, false, name);
  }
  const refused = verifyInclusion(8, 8, leaves[5]!, proof, root);
  assert.ok(!refused.ok);
  assert.match(refused.reason, /leaf index 8 is not below tree size 8/);
});

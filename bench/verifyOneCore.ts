/**
 * One core's WebCrypto Ed25519 verify rate, the reference of `zt audit verify`'s target:
 * run with UV_THREADPOOL_SIZE=1, so every verification runs on the one thread-pool thread
 * (WebCrypto's jobs run there) while the main thread only queues them. 64 in flight, the
 * median of 5 rounds of 4,000 audit-record-sized messages; prints ops/s.
 */
import { generateKeyPairSync, sign } from "node:crypto";
import { median } from "./report.ts";

const { publicKey, privateKey } = generateKeyPairSync("ed25519");
const message = new Uint8Array(400).fill(7);
const signature = new Uint8Array(sign(null, message, privateKey));
const key = await crypto.subtle.importKey("jwk", publicKey.export({ format: "jwk" }), { name: "Ed25519" }, false, ["verify"]);
const PER_ROUND = 4000;
const rates: number[] = [];
for (let round = 0; round < 6; round++) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next++ < PER_ROUND) if (!(await crypto.subtle.verify("Ed25519", key, signature, message))) throw new Error("verify failed");
    }),
  );
  if (round > 0) rates.push(PER_ROUND / ((performance.now() - started) / 1000)); // round 0 warms up
}
console.log(JSON.stringify({ opsPerSecond: median(rates) }));

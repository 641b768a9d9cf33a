/**
 * W3C Trace Context `traceparent` (Level 1, section 3.2): the examples of the
 * specification parse, and every malformed or invalid header is ignored, never echoed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatTraceParent, parseTraceParent } from "../../src/kernel/traceparent.ts";

test("traceparent: the specification's examples parse, with the sampled flag", () => {
  assert.deepEqual(parseTraceParent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    parentId: "b7ad6b7169203331",
    sampled: true,
    header: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  });
  assert.equal(parseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled, false);
  // Section 3.2.4: a later version is read by its version-00 prefix, and passed on as version 00.
  assert.equal(parseTraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds")?.header, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  assert.equal(formatTraceParent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
});

test("traceparent: malformed or invalid headers are ignored", () => {
  for (const header of [
    undefined,
    "",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\nX: y",
    `00-${"a".repeat(600)}`,
  ]) {
    assert.equal(parseTraceParent(header), undefined, String(header));
  }
});

/**
 * "Verify": checks a decision's evidence here, in the browser, with the very code `zt audit
 * check-proof` runs (audit/checkEvidence.ts and the kernel's RFC 9162, JCS and signed-note
 * code, served from src/ with types stripped) and the browser's own WebCrypto Ed25519. It
 * fetches the decision's event, audit record and inclusion proof, and the audit key the
 * server publishes at GET /keys, and says which checkpoint and which key it checked
 * against, so the reader can compare them with what they trust (a key pinned elsewhere, a
 * root anchored on-chain).
 */
import { ApiError, getJson } from "./api.ts";
import { byId, el, shortHash } from "./dom.ts";

/** What each check of checkDecisionEvidence establishes, in words. */
const MEANING: Readonly<Record<string, string>> = {
  decision: "the event is this decision",
  receipt_hash: "its intent and receipt hashes recompute from its recorded fields",
  event_hash: "the event hashes (SHA-256 of its JCS) to the event_hash its audit record commits to",
  record_hash: "the audit record's hash is the hash of its fields, which link it to the record before",
  record_signature: "the audit record is signed by the audit key (Ed25519, checked by this browser's WebCrypto)",
  proof_record: "the inclusion proof is this record's",
  leaf_hash: "the Merkle leaf is SHA-256(0x00 || record hash)",
  inclusion: "the audit path leads from the leaf to the checkpoint's root (RFC 9162, section 2.1.3.2)",
  checkpoint_signature: "the checkpoint (a signed note of tree size and root) is signed by the audit key",
  evidence_format: "the server's answer has the shape of decision evidence",
  proof_format: "the proof has the shape of an inclusion proof",
};

export function verifyPanel(): { readonly open: (decisionId: string, from: HTMLElement) => void } {
  const dialog = byId<HTMLDialogElement>("verify-dialog");
  const title = byId("verify-title");
  const summary = byId("verify-summary");
  const checks = byId("verify-checks");
  const basis = byId("verify-basis");
  let returnTo: HTMLElement | null = null;
  let run = 0;
  dialog.addEventListener("close", () => returnTo?.focus());

  const verdict = (ok: boolean, text: string) => summary.replaceChildren(el("span", { class: ok ? "verdict-ok" : "verdict-failed" }, text));

  const verify = async (decisionId: string, attempt: number) => {
    if (globalThis.crypto?.subtle === undefined) {
      verdict(false, "This page is not in a secure context (HTTPS or localhost): the browser offers no WebCrypto, so nothing can be verified here.");
      return;
    }
    const [{ auditKeysFrom, checkDecisionEvidence }, { makeWebCryptoVerifier }] = await Promise.all([import("../../audit/checkEvidence.ts"), import("../../kernel/ed25519.ts")]);
    let evidence: any;
    let published: unknown;
    try {
      [evidence, published] = await Promise.all([getJson(`/console/api/evidence/${encodeURIComponent(decisionId)}`), getJson("/keys")]);
    } catch (error) {
      if (attempt !== run) return;
      const sealed = error instanceof ApiError && error.reason === "not_yet_sealed";
      verdict(false, sealed ? "Not yet: no sealed checkpoint covers this decision. Try again in a few seconds." : `Cannot fetch the evidence: ${(error as Error).message}`);
      return;
    }
    const keys = auditKeysFrom(published);
    const report = await checkDecisionEvidence(decisionId, evidence, keys, makeWebCryptoVerifier());
    if (attempt !== run) return;
    checks.replaceChildren(
      ...report.checks.map((check) =>
        el("li", { class: check.ok ? "ok" : "failed" }, `${check.name}: ${check.ok ? (MEANING[check.name] ?? "holds") : `FAILS: ${check.detail ?? MEANING[check.name] ?? ""}`}`),
      ),
    );
    const failed = report.checks.filter((c) => !c.ok).map((c) => c.name);
    verdict(report.ok, report.ok ? "Verified in this browser: the decision is in the audit log under a checkpoint signed by the audit key." : `Verification FAILED: ${failed.join(", ")}.`);
    const checkpoint = report.checkpoint;
    const anchor = evidence?.proof?.anchor;
    const parts: Array<Node | string> = [];
    if (checkpoint !== null) {
      parts.push(
        "Checked against checkpoint ",
        el("strong", {}, checkpoint.batch_id ?? "(unnamed)"),
        ` (tree size ${checkpoint.tree_size}, root `,
        el("span", { class: "mono", title: checkpoint.root }, shortHash(checkpoint.root)),
        ")",
      );
      if (checkpoint.key_id === null) parts.push(", whose signature no published audit key verifies");
      else parts.push(", signed by audit key ", el("strong", { class: "mono" }, checkpoint.key_id), " as published at /keys");
      parts.push(`. Record seq ${typeof evidence?.record?.seq === "number" ? evidence.record.seq : "?"}.`);
    }
    if (anchor && typeof anchor === "object") {
      parts.push(` Anchor: ${anchor.status}${anchor.tx_hash ? ` in transaction ${anchor.tx_hash}` : ""} on chain ${anchor.chain_id} (as the server reports it; check it on-chain with zt audit check-proof --rpc).`);
    } else {
      parts.push(" This checkpoint is not anchored on-chain (anchoring is off).");
    }
    basis.replaceChildren(...parts);
  };

  return {
    open: (decisionId, from) => {
      run += 1;
      returnTo = from;
      title.textContent = `Verifying ${decisionId}`;
      summary.textContent = "Checking in this browser…";
      checks.replaceChildren();
      basis.replaceChildren();
      if (!dialog.open) dialog.showModal();
      const attempt = run;
      verify(decisionId, attempt).catch((error: unknown) => {
        if (attempt === run) verdict(false, `Verification could not run: ${(error as Error).message}`);
      });
    },
  };
}

/**
 * The audit head and the sealed checkpoints with their anchor status; "Receipt" opens what
 * the anchoring sidecar recorded for a checkpoint (the transaction, its block, the DAAL),
 * with a link to a public block explorer for the chains that have one.
 */
import { getJson } from "./api.ts";
import { badge, byId, el, facts, shortHash, shortTime } from "./dom.ts";
import { refreshedView } from "./refreshedView.ts";

const REFRESH_MS = 5000;
const SHOWN_CHECKPOINTS = 200;
/** Block explorers of public chains, by chain id (a local anvil has none). */
const EXPLORERS: Readonly<Record<number, string>> = {
  1: "https://etherscan.io",
  10: "https://optimistic.etherscan.io",
  137: "https://polygonscan.com",
  8453: "https://basescan.org",
  42161: "https://arbiscan.io",
  84532: "https://sepolia.basescan.org",
  11155111: "https://sepolia.etherscan.io",
};

interface Batch {
  readonly batch_id: string;
  readonly tree_size: number;
  readonly root: string;
  readonly sealed_at: string;
  readonly anchor: { chain_id: number; contract: string; tx_hash: string | null; status: string } | null;
}

export function auditView(): { readonly show: () => void; readonly hide: () => void } {
  const head = byId("audit-head");
  const rows = byId("checkpoints");
  const state = byId("audit-state");
  const dialog = byId<HTMLDialogElement>("receipt-dialog");
  let returnTo: HTMLElement | null = null;
  dialog.addEventListener("close", () => returnTo?.focus());

  const openReceipt = async (batchId: string, from: HTMLElement) => {
    returnTo = from;
    byId("receipt-title").textContent = `Anchor receipt of ${batchId}`;
    const link = byId("receipt-link");
    const events = byId("receipt-events");
    link.replaceChildren();
    events.textContent = "Loading…";
    dialog.showModal();
    try {
      const receipt = await getJson(`/console/api/anchors/${encodeURIComponent(batchId)}`);
      const anchor = receipt.anchor as Batch["anchor"];
      const confirmed = (receipt.events as Array<{ type: string; data: Record<string, unknown> }>).filter((e) => e.type === "AnchorConfirmed.v1").at(-1);
      facts(byId("receipt-facts"), [
        ["Checkpoint", `${receipt.batch_id}, tree size ${receipt.tree_size}`],
        ["Root", el("span", { class: "mono" }, receipt.root)],
        ["Status", badge(anchor?.status ?? "not anchored")],
        ["Chain", anchor ? String(anchor.chain_id) : "anchoring is off"],
        ["DAAL contract", anchor ? el("span", { class: "mono" }, anchor.contract) : "none"],
        ["Transaction", anchor?.tx_hash ? el("span", { class: "mono" }, anchor.tx_hash) : "none yet"],
        ["Block", confirmed ? String(confirmed.data["block_number"]) : "not confirmed"],
      ]);
      const explorer = anchor ? EXPLORERS[anchor.chain_id] : undefined;
      if (explorer && anchor?.tx_hash) {
        link.replaceChildren(el("a", { href: `${explorer}/tx/${anchor.tx_hash}`, target: "_blank", rel: "noopener noreferrer" }, "Open the transaction in a block explorer"), " (a third party's view of the chain).");
      } else if (anchor?.tx_hash) {
        link.textContent = `Chain ${anchor.chain_id} has no public explorer; check it with: npx zt audit check-proof PROOF.json --rpc URL --contract ${anchor.contract}`;
      }
      events.textContent = JSON.stringify(receipt.events, null, 2);
    } catch (error) {
      events.textContent = `Cannot load the receipt: ${(error as Error).message}`;
    }
  };

  const load = async () => {
    try {
      const [current, sealed] = await Promise.all([getJson("/audit/head"), getJson("/audit/batches")]);
      facts(head, [
        ["Records", String(current.seq)],
        ["Head hash", el("span", { class: "mono" }, current.hash ?? "none")],
        ["Tree size", String(current.tree_size)],
        ["Root", el("span", { class: "mono" }, current.root ?? "none")],
        ["Last checkpoint", current.last_checkpoint ?? "none yet"],
        ["Projection lag", `${current.lag} event(s)`],
        ["Signed by", el("span", { class: "mono" }, current.key_id ?? "none")],
      ]);
      const batches = (sealed.batches as Batch[]).slice(-SHOWN_CHECKPOINTS).reverse();
      state.textContent = batches.length === 0 ? "No checkpoint is sealed yet." : `${(sealed.batches as Batch[]).length} checkpoints, newest first${batches.length < sealed.batches.length ? ` (the latest ${SHOWN_CHECKPOINTS} shown)` : ""}.`;
      rows.replaceChildren(
        ...batches.map((batch) => {
          const receipt = el("button", { type: "button", class: "quiet", "aria-label": `Receipt of ${batch.batch_id}` }, "Receipt");
          receipt.addEventListener("click", () => void openReceipt(batch.batch_id, receipt));
          return el(
            "tr",
            {},
            el("th", { scope: "row" }, batch.batch_id),
            el("td", { class: "num" }, String(batch.tree_size)),
            el("td", { class: "mono", title: batch.root }, shortHash(batch.root)),
            el("td", { title: batch.sealed_at }, shortTime(batch.sealed_at)),
            el("td", {}, badge(batch.anchor?.status ?? null)),
            el("td", {}, receipt),
          );
        }),
      );
    } catch (error) {
      state.textContent = `Cannot load the audit trail: ${(error as Error).message}`;
    }
  };

  // Redrawing would take focus from a Receipt button.
  return refreshedView(load, REFRESH_MS, () => !rows.contains(document.activeElement) && !dialog.open);
}

/**
 * The approvals queue (contract section 9): pending requests with approve and reject,
 * each with an optional note. The approver is whoever's token this is; the server
 * records it, never a field sent from here.
 */
import { getJson, postJson } from "./api.ts";
import { byId, el, facts, shortTime } from "./dom.ts";
import { refreshedView } from "./refreshedView.ts";

const REFRESH_MS = 5000;
/** What a pending approval shows, in this order, when the server sends it. */
const FIELDS: ReadonlyArray<readonly [string, string]> = [
  ["actor", "Agent"],
  ["action", "Action"],
  ["resource", "Resource"],
  ["notional_usd", "Notional (USD)"],
  ["rule_id", "Rule"],
  ["quorum", "Approvals required"],
  ["granted_by", "Granted by"],
  ["decision_id", "Decision"],
  ["request_digest", "Request digest"],
  ["requested_at", "Requested"],
  ["expires_at", "Expires"],
];

/** `linked`: the approval a link named (the webhook's `console_url`), shown and focused once it loads. */
export function approvalsView(linked: string | null): { readonly show: () => void; readonly hide: () => void } {
  const state = byId("approvals-state");
  const list = byId("approvals-list");
  let toFocus = linked;

  const card = (approval: Record<string, unknown>) => {
    const id = String(approval["approval_id"] ?? "");
    const details = el("dl", { class: "facts" });
    facts(
      details,
      FIELDS.filter(([key]) => approval[key] !== undefined && approval[key] !== null && !(Array.isArray(approval[key]) && (approval[key] as unknown[]).length === 0)).map(([key, label]) => {
        const value = Array.isArray(approval[key]) ? (approval[key] as unknown[]).join(", ") : String(approval[key]);
        return [label, key.endsWith("_at") ? shortTime(value) : value] as const;
      }),
    );
    const noteId = `note-${id}`;
    const note = el("input", { id: noteId, name: "note", autocomplete: "off", maxlength: "1024" });
    const message = el("p", { class: "error", role: "alert" });
    const decide = (verdict: "approve" | "reject") => async () => {
      buttons.forEach((b) => (b.disabled = true));
      try {
        await postJson(`/approvals/${encodeURIComponent(id)}/${verdict}`, note.value.trim() === "" ? {} : { note: note.value.trim() });
        message.textContent = "";
        await load();
      } catch (error) {
        message.textContent = `Could not ${verdict}: ${(error as Error).message}`;
        buttons.forEach((b) => (b.disabled = false));
      }
    };
    const approve = el("button", { type: "button", "aria-label": `Approve ${id}` }, "Approve");
    const reject = el("button", { type: "button", class: "quiet", "aria-label": `Reject ${id}` }, "Reject");
    const buttons = [approve, reject];
    approve.addEventListener("click", decide("approve"));
    reject.addEventListener("click", decide("reject"));
    return el(
      "li",
      { "data-approval": id },
      el("h2", { class: "mono" }, id),
      details,
      el("div", { class: "decide" }, el("div", { class: "field" }, el("label", { for: noteId }, "Note (optional)"), note), approve, reject),
      message,
    );
  };

  const load = async () => {
    try {
      const answer = await getJson("/approvals?status=pending");
      const pending: Array<Record<string, unknown>> = Array.isArray(answer?.approvals) ? answer.approvals : [];
      state.textContent = pending.length === 0 ? "No request is waiting for approval." : `${pending.length} request(s) waiting for approval.`;
      // Leave the list alone while someone is typing a note in it.
      if (!list.contains(document.activeElement)) list.replaceChildren(...pending.map(card));
      if (toFocus !== null) {
        const id = toFocus;
        toFocus = null;
        const target = pending.some((approval) => approval["approval_id"] === id) ? list.querySelector<HTMLElement>(`li[data-approval="${CSS.escape(id)}"]`) : null;
        if (target === null) state.textContent += ` The linked request ${id} is not waiting for approval (granted, rejected, expired or used).`;
        else {
          target.classList.add("linked");
          target.scrollIntoView({ block: "center" });
          target.querySelector<HTMLInputElement>("input[name=note]")?.focus();
        }
      }
    } catch (error) {
      state.textContent = `Cannot load approvals: ${(error as Error).message}`;
      list.replaceChildren();
    }
  };

  return refreshedView(load, REFRESH_MS);
}

/**
 * The approvals queue (contract section 9): pending requests with approve and reject,
 * each with an optional note. The approver is whoever's token this is; the server
 * records it, never a field sent from here. A server without approvals answers 404 to
 * `GET /approvals`, and the view says so.
 */
import { ApiError, getJson, postJson } from "./api.ts";
import { byId, el, facts, shortTime } from "./dom.ts";
import { refreshedView } from "./refreshedView.ts";

const REFRESH_MS = 5000;
/** What a pending approval shows, in this order, when the server sends it. */
const FIELDS: ReadonlyArray<readonly [string, string]> = [
  ["actor", "Agent"],
  ["action", "Action"],
  ["resource", "Resource"],
  ["notional_usd", "Notional (USD)"],
  ["decision_id", "Decision"],
  ["request_digest", "Request digest"],
  ["requested_at", "Requested"],
  ["expires_at", "Expires"],
  ["approvals_required", "Approvals required"],
];

export function approvalsView(): { readonly show: () => void; readonly hide: () => void } {
  const state = byId("approvals-state");
  const list = byId("approvals-list");
  let enabled = true;

  const card = (approval: Record<string, unknown>) => {
    const id = String(approval["approval_id"] ?? "");
    const details = el("dl", { class: "facts" });
    facts(
      details,
      FIELDS.filter(([key]) => approval[key] !== undefined && approval[key] !== null).map(([key, label]) => {
        const value = String(approval[key]);
        return [label, key.endsWith("_at") ? shortTime(value) : value] as const;
      }),
    );
    const noteId = `note-${id}`;
    const note = el("input", { id: noteId, name: "note", autocomplete: "off", maxlength: "500" });
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
      const pending: Array<Record<string, unknown>> = Array.isArray(answer) ? answer : Array.isArray(answer?.approvals) ? answer.approvals : [];
      state.textContent = pending.length === 0 ? "No request is waiting for approval." : `${pending.length} request(s) waiting for approval.`;
      // Leave the list alone while someone is typing a note in it.
      if (!list.contains(document.activeElement)) list.replaceChildren(...pending.map(card));
    } catch (error) {
      const notEnabled = error instanceof ApiError && error.status === 404;
      state.textContent = notEnabled ? "Approvals are not enabled on this server." : `Cannot load approvals: ${(error as Error).message}`;
      list.replaceChildren();
      enabled = !notEnabled;
    }
  };

  // A server without approvals is asked again only when the view is shown again.
  return refreshedView(load, REFRESH_MS, () => enabled);
}

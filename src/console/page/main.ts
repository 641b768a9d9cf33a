/**
 * The console page's entry: sign-in with a bearer token (kept in this tab's session
 * storage), then the views the token may see, one at a time by the URL's fragment.
 * Operators: decisions, denials, approvals, audit. Agents: their own decisions and
 * denials (the server enforces it; the page only leaves out what would be refused).
 */
import { ApiError, getJson, session } from "./api.ts";
import { approvalsView } from "./approvalsView.ts";
import { auditView } from "./auditView.ts";
import { decisionsView } from "./decisionsView.ts";
import { denialsView } from "./denialsView.ts";
import { byId } from "./dom.ts";
import { verifyPanel } from "./verifyPanel.ts";

interface Session {
  readonly role: "operator" | "agent";
  readonly actor: string | null;
  /** The operator's name (`operator:alice`), for an operator's token. */
  readonly operator?: string;
}

interface View {
  readonly show: () => void;
  readonly hide: () => void;
}

const signIn = byId("sign-in");
const form = byId<HTMLFormElement>("sign-in-form");
const tokenInput = byId<HTMLInputElement>("token");
const error = byId("sign-in-error");
const nav = byId("views");
const who = byId("who");
const signOut = byId<HTMLButtonElement>("sign-out");
const main = byId("main");

async function whoAmI(): Promise<Session | null> {
  try {
    return (await getJson("/console/api/session")) as Session;
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) return null;
    throw failure;
  }
}

function start(current: Session): void {
  signIn.hidden = true;
  nav.hidden = false;
  who.hidden = false;
  signOut.hidden = false;
  who.textContent = `Signed in as ${current.role === "operator" ? current.operator : current.actor}`;
  const operator = current.role === "operator";
  nav.querySelectorAll<HTMLElement>("[data-operator]").forEach((item) => (item.hidden = !operator));

  // A link from the approvals webhook (`console_url`, `?approval=<id>`) opens the approvals view at that request.
  const linkedApproval = operator ? new URLSearchParams(location.search).get("approval") : null;
  if (linkedApproval !== null && location.hash === "") history.replaceState(null, "", "#approvals");
  const verify = verifyPanel();
  const views: Record<string, View> = {
    decisions: decisionsView({ agentActor: current.actor, onVerify: verify.open }),
    denials: denialsView(),
    ...(operator ? { approvals: approvalsView(linkedApproval), audit: auditView() } : {}),
  };
  let shown: string | null = null;

  const route = () => {
    const wanted = location.hash.slice(1);
    const name = wanted in views ? wanted : "decisions";
    if (name === shown) return;
    if (shown !== null) {
      views[shown]!.hide();
      byId(`view-${shown}`).hidden = true;
    }
    shown = name;
    byId(`view-${name}`).hidden = false;
    nav.querySelectorAll<HTMLAnchorElement>("a[data-view]").forEach((link) => {
      if (link.dataset["view"] === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    });
    document.title = `${byId(`${name}-title`).textContent} · ZT-Infra console`;
    views[name]!.show();
  };
  window.addEventListener("hashchange", () => {
    route();
    main.focus();
  });
  route();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (token === "") {
    error.textContent = "Enter a bearer token.";
    tokenInput.focus();
    return;
  }
  session.keep(token);
  error.textContent = "";
  try {
    const current = await whoAmI();
    if (current === null) {
      session.forget();
      error.textContent = "This token is not valid on this server.";
      tokenInput.select();
      return;
    }
    tokenInput.value = "";
    start(current);
    main.focus();
  } catch (failure) {
    session.forget();
    error.textContent = `Cannot sign in: ${(failure as Error).message}`;
  }
});

signOut.addEventListener("click", () => {
  session.forget();
  // A fresh page: no view, stream or timer of the old session survives.
  location.hash = "";
  location.reload();
});

// A token already in this tab's session: go straight in.
if (session.token() !== null) {
  const current = await whoAmI().catch(() => null);
  if (current === null) session.forget();
  else start(current);
}
if (signIn.hidden === false) tokenInput.focus();

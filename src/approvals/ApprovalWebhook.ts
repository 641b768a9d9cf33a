/**
 * Announces each pending approval to the bundle's webhook (`approvals.webhook.url`),
 * never on the decision path: a background loop finds approvals still pending that this
 * process has not announced and delivers each on a fiber of its own, retried with
 * exponential backoff until the receiver answers 2xx or the attempts run out. Delivery is
 * at least once: a restart announces what is still pending again, and so does every
 * instance sharing a store; a receiver dedupes by `webhook-id` (the approval id).
 *
 * The request follows Standard Webhooks (standardwebhooks.com) with its asymmetric
 * scheme, signed by the audit key: `webhook-id`, `webhook-timestamp` (Unix seconds) and
 * `webhook-signature: v1a,<base64 Ed25519 signature>` over
 * `<webhook-id>.<webhook-timestamp>.<body>`; `zt-key-id` names the key (GET /keys, `use`
 * `audit`). The body is the JCS of the notice. The URL may carry a secret: it is never
 * logged. The webhook is the active bundle's at each round, so a policy reload that adds,
 * moves or removes it takes effect without a restart; with none, a round reads nothing.
 */
import { Clock, Context, Duration, Effect, Layer, Schedule } from "effect";
import { Identity } from "../identity/Identity.ts";
import { encodeBase64 } from "../kernel/base64.ts";
import { sign } from "../kernel/ed25519.ts";
import { canonicalJsonTrusted } from "../kernel/jcs.ts";
import { ActivePolicy } from "../policy/ActivePolicy.ts";
import type { ApprovalWebhook as WebhookSettings } from "../policy/PolicyManifest.ts";
import { approvalStatus, type Approval } from "./Approval.ts";
import { ApprovalBook } from "./ApprovalBook.ts";

export interface ApprovalWebhookOptions {
  /** How often new pending approvals are looked for (default 1000 ms). */
  readonly intervalMs?: number;
  /** The first retry's delay, doubled each time up to `retryMaxMs` (defaults 1000 / 60000 ms). */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Attempts per notice, the first included (default 8). */
  readonly maxAttempts?: number;
  /** How long one attempt waits for the receiver's answer (default 5000 ms). */
  readonly timeoutMs?: number;
}

/** What the receiver is told of a pending approval: never the intent's or context's values. */
export function approvalNotice(approval: Approval, consoleUrl: string | undefined): Record<string, unknown> {
  const requested = approval.requested;
  const link = consoleUrl === undefined ? null : `${consoleUrl}${consoleUrl.includes("?") ? "&" : "?"}approval=${requested.approval_id}`;
  return {
    type: "approval.requested",
    approval_id: requested.approval_id,
    decision_id: requested.decision_id,
    request_digest: requested.request_digest,
    actor: requested.request.actor,
    action: requested.request.action,
    resource: requested.request.resource,
    notional_usd: requested.notional_usd,
    rule_id: requested.rule_id,
    quorum: requested.quorum,
    requested_at: requested.requested_at,
    expires_at: requested.expires_at,
    policy_id: requested.policy_id,
    console_url: link,
  };
}

/** Standard Webhooks' signed content and its `v1a` (Ed25519) signature header value. */
export function webhookSignature(id: string, timestampSeconds: number, body: string, seed: Uint8Array): string {
  return `v1a,${encodeBase64(sign(new TextEncoder().encode(`${id}.${timestampSeconds}.${body}`), seed))}`;
}

/** The announcing loop, running for as long as the service's scope (it idles while the active bundle names no webhook). */
export class ApprovalWebhook extends Context.Tag("zt/ApprovalWebhook")<ApprovalWebhook, { readonly running: true }>() {
  static readonly layer = (options: ApprovalWebhookOptions = {}): Layer.Layer<ApprovalWebhook, never, ApprovalBook | ActivePolicy | Identity> =>
    Layer.scoped(
      ApprovalWebhook,
      Effect.gen(function* () {
        const policy = yield* ActivePolicy;
        const book = yield* ApprovalBook;
        const key = (yield* Identity).auditKey;
        const timeoutMs = options.timeoutMs ?? 5000;
        const retry = Schedule.exponential(Duration.millis(options.retryBaseMs ?? 1000)).pipe(
          Schedule.either(Schedule.spaced(Duration.millis(options.retryMaxMs ?? 60_000))),
          Schedule.intersect(Schedule.recurs((options.maxAttempts ?? 8) - 1)),
        );

        /** One attempt: a fresh timestamp and signature; fails unless the receiver answers 2xx. */
        const attempt = (url: string, id: string, body: string) =>
          Effect.gen(function* () {
            const timestamp = Math.floor((yield* Clock.currentTimeMillis) / 1000);
            const headers = {
              "content-type": "application/json",
              "webhook-id": id,
              "webhook-timestamp": String(timestamp),
              "webhook-signature": webhookSignature(id, timestamp, body, key.seed),
              "zt-key-id": key.keyId,
            };
            const status = yield* Effect.tryPromise({
              try: async (signal) => {
                const response = await fetch(url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) });
                await response.body?.cancel().catch(() => undefined);
                return response.status;
              },
              catch: () => "unreachable" as const,
            });
            if (status < 200 || status > 299) return yield* Effect.fail(status);
          });

        const deliver = (approval: Approval, webhook: WebhookSettings) => {
          const id = approval.requested.approval_id;
          const body = canonicalJsonTrusted(approvalNotice(approval, webhook.console_url));
          return attempt(webhook.url, id, body).pipe(
            Effect.tapError((failure) => Effect.logInfo("approval webhook attempt failed; retrying").pipe(Effect.annotateLogs({ approval_id: id, answer: failure }))),
            Effect.retry(retry),
            Effect.matchEffect({
              onSuccess: () => Effect.logInfo("approval webhook delivered").pipe(Effect.annotateLogs({ approval_id: id })),
              onFailure: (failure) => Effect.logWarning("approval webhook not delivered; giving up").pipe(Effect.annotateLogs({ approval_id: id, answer: failure })),
            }),
          );
        };

        const announced = new Set<string>();
        const round = Effect.gen(function* () {
          const webhook = policy.manifest.approvals.webhook;
          if (webhook === undefined) return;
          const now = yield* Clock.currentTimeMillis;
          for (const approval of yield* book.all) {
            const id = approval.requested.approval_id;
            if (announced.has(id) || approvalStatus(approval, now) !== "pending") continue;
            announced.add(id);
            yield* Effect.forkScoped(deliver(approval, webhook));
          }
        }).pipe(Effect.catchAll((error) => Effect.logWarning("pending approvals not read for the webhook this round").pipe(Effect.annotateLogs({ reason: error.reason }))));
        yield* Effect.forkScoped(Effect.forever(Effect.zipRight(round, Effect.sleep(options.intervalMs ?? 1000))));
        return { running: true };
      }),
    );
}

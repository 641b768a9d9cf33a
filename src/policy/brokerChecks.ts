/**
 * Broker rules (contract section 3): which brokers, images, limits and network access an
 * actor may use for an action, from the manifest's `execution.rules`. Pure. Docker images
 * match exactly; an entry pinned as `name:tag@sha256:...` (inline, or through the bundle's
 * images.lock.json) admits `name:tag` (and the pinned form itself) and binds the run to
 * that digest, which the Docker broker checks against the engine before it creates
 * anything. An image the policy names but does not pin is never run: whoever can retag
 * images on the engine would otherwise choose what runs.
 */
import type { Check } from "../vocabulary/Check.ts";
import type { ExecuteSpec } from "../vocabulary/ActionRequest.ts";
import type { BrokerRule, PolicyManifest } from "./PolicyManifest.ts";

/** The longest timeout a rule without `limits.timeout_ms` allows. */
export const MAX_TIMEOUT_MS = 300_000;
/** The timeout of an `execute` block without `timeout_ms`. */
export const DEFAULT_TIMEOUT_MS = 5_000;

export function brokerRuleFor(manifest: Pick<PolicyManifest, "execution">, actor: string, action: string, broker: string): BrokerRule | undefined {
  const rule = manifest.execution.rules.find((candidate) => candidate.actor === actor && candidate.action === action);
  if (!rule || !Object.hasOwn(rule.brokers, broker)) return undefined;
  return rule.brokers[broker as keyof typeof rule.brokers];
}

/** The image a request may run under a rule, with the digest the policy pins; undefined when not allowed. */
export function allowedImage(rule: BrokerRule | undefined, image: string | undefined): { ref: string; digest?: string } | undefined {
  if (image === undefined) return undefined;
  for (const entry of rule?.images ?? []) {
    const at = entry.indexOf("@sha256:");
    if (at < 0) {
      if (entry === image) return { ref: image };
    } else if (entry === image || entry.slice(0, at) === image) {
      return { ref: image, digest: entry.slice(at + 1) };
    }
  }
  return undefined;
}

/** broker_allowed then, for docker, image_allowed. */
export function brokerChecks(
  manifest: Pick<PolicyManifest, "execution">,
  actor: string,
  action: string,
  execute: ExecuteSpec,
): ReadonlyArray<Check> {
  const rule = brokerRuleFor(manifest, actor, action, execute.broker);
  const checks: Check[] = [
    {
      name: "broker_allowed",
      run: () => {
        if (rule === undefined) return { reason: "broker_not_allowed", detail: `${actor} may not run ${action} through this broker` };
        if (execute.network === true && rule.network !== true) {
          return { reason: "broker_not_allowed", detail: `network access is not allowed for ${action} through ${execute.broker}` };
        }
        const maxTimeout = rule.limits?.timeout_ms ?? MAX_TIMEOUT_MS;
        if ((execute.timeout_ms ?? DEFAULT_TIMEOUT_MS) > maxTimeout) {
          return { reason: "broker_not_allowed", detail: `timeout_ms over the policy's ${maxTimeout} for ${action} through ${execute.broker}` };
        }
        return null;
      },
    },
  ];
  if (execute.broker === "docker") {
    checks.push({
      name: "image_allowed",
      run: () => {
        if (execute.image === undefined) return { reason: "image_not_allowed", detail: `a docker run of ${action} needs an image from the policy's allowlist` };
        const image = allowedImage(rule, execute.image);
        if (image === undefined) return { reason: "image_not_allowed", detail: `the image is not on the policy's allowlist for ${action}` };
        if (image.digest === undefined) {
          return { reason: "image_not_allowed", detail: "the policy pins no digest for this image (inline as name:tag@sha256:..., or in images.lock.json, which npm run sandbox:image writes)" };
        }
        return null;
      },
    });
  }
  return checks;
}

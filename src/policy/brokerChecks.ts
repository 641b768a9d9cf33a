/**
 * Broker rules (contract section 3): which brokers, images and network access an actor
 * may use for an action, from the manifest's `execution.rules`. Pure. Docker images
 * match exactly (`name:tag`, or `name@sha256:...` where the policy pins a digest).
 */
import type { Check } from "../decisions/Check.ts";
import type { ExecuteSpec } from "../decisions/ActionRequest.ts";
import type { BrokerRule, PolicyManifest } from "./PolicyManifest.ts";

function ruleFor(manifest: Pick<PolicyManifest, "execution">, actor: string, action: string, broker: string): BrokerRule | undefined {
  const rule = manifest.execution.rules.find((candidate) => candidate.actor === actor && candidate.action === action);
  if (!rule || !Object.hasOwn(rule.brokers, broker)) return undefined;
  return rule.brokers[broker as keyof typeof rule.brokers];
}

/** broker_allowed then, for docker, image_allowed. */
export function brokerChecks(
  manifest: Pick<PolicyManifest, "execution">,
  actor: string,
  action: string,
  execute: ExecuteSpec,
): ReadonlyArray<Check> {
  const rule = ruleFor(manifest, actor, action, execute.broker);
  const checks: Check[] = [
    {
      name: "broker_allowed",
      run: () => {
        if (rule === undefined) return { reason: "broker_not_allowed", detail: `${actor} may not run ${action} through broker ${execute.broker}` };
        if (execute.network === true && rule.network !== true) {
          return { reason: "broker_not_allowed", detail: `network access is not allowed for ${action} through ${execute.broker}` };
        }
        return null;
      },
    },
  ];
  if (execute.broker === "docker") {
    checks.push({
      name: "image_allowed",
      run: () =>
        execute.image !== undefined && (rule?.images ?? []).includes(execute.image)
          ? null
          : { reason: "image_not_allowed", detail: `image ${execute.image ?? "(missing)"} is not allowed for ${action}` },
    });
  }
  return checks;
}

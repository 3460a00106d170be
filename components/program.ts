import * as pulumi from "@pulumi/pulumi";
import type { StackModel } from "../config/model";
import { HardenedRke2 } from "./hardenedRke2";
import type { CisScanOutput } from "./scan/cisScan";

/** What `pulumi stack output` shows. */
export interface StackOutputs {
  /** Rancher's v1 id of the cluster (`c-m-…`). */
  readonly clusterV1Id: pulumi.Output<string>;
  /** The cluster's name in Rancher. */
  readonly clusterName: pulumi.Output<string>;
  /** The RKE2 profile in effect, or "none". */
  readonly profile: string;
  /** Admin kubeconfig (secret): `pulumi stack output --show-secrets kubeconfig`. */
  readonly kubeconfig: pulumi.Output<string>;
  /** The CIS scan: `{enabled, profile, schedule, toleratedFailures}` and, after a run, `{pass, fail, warn, skip, notApplicable, total}`. */
  readonly cisScan: pulumi.Output<CisScanOutput>;
}

/** Builds the whole stack from a validated model and returns its outputs; `index.ts` exports them. */
export function defineStack(stack: string, model: StackModel): StackOutputs {
  const app = new HardenedRke2(stack, model);
  return {
    clusterV1Id: app.clusterV1Id,
    clusterName: app.clusterName,
    profile: app.profile,
    kubeconfig: app.kubeconfig,
    cisScan: app.cisScan,
  };
}

/**
 * The oldest Pulumi CLI that applies every resource option the program sets: `replacementTrigger` arrived in 3.215,
 * and an older engine drops it without a word (readiness would then not be waited for again after a node change).
 */
export const MINIMUM_PULUMI_CLI = "3.215.0";

/**
 * Fails the run, before any resource registers, when the Pulumi CLI is older than {@link MINIMUM_PULUMI_CLI}.
 * @param check the engine's version check (`pulumi.runtime.requirePulumiVersion`; with no engine, as under mocks, it
 *   passes).
 */
export async function requirePulumiCli(
  check: (range: string) => Promise<void> = pulumi.runtime.requirePulumiVersion,
): Promise<void> {
  try {
    await check(`>=${MINIMUM_PULUMI_CLI}`);
  } catch (error) {
    throw new pulumi.RunError(
      `hardened-rke2 needs the Pulumi CLI ${MINIMUM_PULUMI_CLI} or later: older ones ignore replacementTrigger, with ` +
        `which readiness is waited for again after a node or cluster change. Upgrade it ` +
        `(https://www.pulumi.com/docs/install/), then run again. (${(error as Error).message})`,
    );
  }
}

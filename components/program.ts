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

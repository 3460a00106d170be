import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { NodeModel } from "../../config/model";
import { renderAuditPolicyUpdateScript } from "../host/auditRollout";
import { nodeCommand, sha256 } from "../host/nodeCommand";
import { renderRemoteCommand } from "../host/render";
import { inheritedDependsOn } from "../options";

export interface AuditPolicyRolloutArgs {
  /** The stack's nodes; only control-plane nodes run kube-apiserver and take part. */
  readonly nodes: readonly NodeModel[];
  /** The audit policy every API server should run with. */
  readonly auditPolicyYaml: string;
  /** New node name to former name, so that a renamed node's step keeps its state (aliases). */
  readonly formerNames?: Readonly<Record<string, string>>;
}

/** Only nodes that run kube-apiserver read the audit policy; etcd-only servers and agents never restart for it. */
export function runsApiServer(node: Pick<NodeModel, "roles">): boolean {
  return node.roles.includes("controlplane");
}

/**
 * Brings the audit policy of every API server to the configured one after installation (CIS 1.2.22–1.2.25), one
 * control-plane node at a time: each node's step depends on the previous one, and a step ends only when that node's
 * kube-apiserver, started after the new policy was written, answers `/readyz` (see `components/host/audit-rollout.sh`
 * for the health check before, and the restore of the previous policy after a failure). A node whose policy is
 * already identical and whose API server is ready is not restarted (the usual case right after installation, when
 * host preparation wrote the same file).
 */
export class AuditPolicyRollout extends pulumi.ComponentResource {
  /** The per-node steps, in roll-out order. */
  public readonly steps: readonly command.remote.Command[];

  constructor(name: string, args: AuditPolicyRolloutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hardened-rke2:hardening:AuditPolicyRollout", name, {}, opts);
    const steps: command.remote.Command[] = [];
    for (const node of args.nodes.filter(runsApiServer)) {
      const previous = steps[steps.length - 1];
      steps.push(
        nodeCommand(
          `${name}-${node.name}`,
          {
            node,
            create: renderRemoteCommand(renderAuditPolicyUpdateScript(node.name, args.auditPolicyYaml)),
            // The node's name is only printed: a rename (lifecycle.renamedNodes) runs nothing.
            triggers: [sha256(renderAuditPolicyUpdateScript("", args.auditPolicyYaml))],
          },
          {
            parent: this,
            dependsOn: inheritedDependsOn(opts, ...(previous ? [previous] : [])),
            ...(args.formerNames?.[node.name] !== undefined
              ? { aliases: [{ name: `${name}-${args.formerNames[node.name]}` }] }
              : {}),
          },
        ),
      );
    }
    this.steps = steps;
    this.registerOutputs({});
  }
}

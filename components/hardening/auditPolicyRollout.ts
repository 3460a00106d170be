import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { type NodeModel, isServer } from "../../config/model";
import { sha256 } from "../host/hostPreparation";
import { renderRemoteCommand } from "../host/render";
import { renderAuditPolicyUpdateScript } from "../host/auditRollout";
import { inheritedDependsOn } from "../options";
import { sshConnection } from "../ssh";

export interface AuditPolicyRolloutArgs {
  /** The stack's nodes; only servers (etcd or controlplane) run an API server and get the rollout. */
  readonly nodes: readonly NodeModel[];
  /** The audit policy every API server should run with. */
  readonly auditPolicyYaml: string;
}

/**
 * Brings the audit policy of every API server to the configured one after installation (CIS 1.2.22–1.2.25), one
 * server at a time: each server's step depends on the previous one, and a step that restarts `rke2-server` ends
 * only when that node's API server answers `/readyz` again, so etcd keeps quorum and the API stays up.
 * A server whose policy file is already identical is not restarted (the usual case right after installation,
 * when host preparation wrote the same file).
 */
export class AuditPolicyRollout extends pulumi.ComponentResource {
  /** The per-server steps, in rollout order. */
  public readonly steps: readonly command.remote.Command[];

  constructor(name: string, args: AuditPolicyRolloutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hardened-rke2:hardening:AuditPolicyRollout", name, {}, opts);
    const script = renderAuditPolicyUpdateScript(args.auditPolicyYaml);
    const steps: command.remote.Command[] = [];
    for (const node of args.nodes.filter(isServer)) {
      const previous = steps[steps.length - 1];
      steps.push(
        new command.remote.Command(
          `${name}-${node.name}`,
          {
            connection: sshConnection(node),
            create: renderRemoteCommand(script),
            triggers: [sha256(args.auditPolicyYaml)],
            logging: "stdoutAndStderr",
          },
          { parent: this, dependsOn: inheritedDependsOn(opts, ...(previous ? [previous] : [])) },
        ),
      );
    }
    this.steps = steps;
    this.registerOutputs({});
  }
}

import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { type NodeModel, isServer } from "../../config/model";
import { childAliases } from "../options";
import { nodeCommand, sha256 } from "./nodeCommand";
import { renderHostPrepScript, renderRemoteCommand } from "./render";

export interface HostPreparationArgs {
  /** The node to prepare. */
  readonly node: NodeModel;
  /**
   * The audit policy to place at `/etc/rancher/rke2/audit-policy.yaml` before RKE2 starts; server nodes only.
   * Later changes reach the servers through {@link AuditPolicyRollout}, never through this step.
   */
  readonly auditPolicyYaml?: string;
  /**
   * Create the `etcd` user and group on this node.
   * @default true on nodes with the etcd or controlplane role
   */
  readonly createEtcdUser?: boolean;
  /**
   * On a node where RKE2 already runs, make the changes host preparation would make (the seed allows this step only
   * on fresh installs; without it such a node is left as it is, and the step fails naming the changes, if any).
   * @default false
   */
  readonly allowExistingInstall?: boolean;
}

/**
 * Prepares one node for a CIS-hardened RKE2 as the seed's "Setting up hosts" section says: kernel parameters, the
 * etcd user and group, and the API server's audit policy, in one idempotent script over one SSH session.
 *
 * Runs again only when its script changes (a new release of this program, `allowExistingInstall`, the node's roles):
 * never for connection details, and never for a new audit policy, which travels on `stdin` and is the roll-out's
 * once RKE2 runs (the script writes the policy then only when the file is missing, so a re-run never puts an older
 * policy over a newer one).
 */
export class HostPreparation extends pulumi.ComponentResource {
  /** The command's stdout: one line per step saying what changed or was already correct. */
  public readonly stdout: pulumi.Output<string>;
  /** The remote command; node registration depends on it. */
  public readonly command: command.remote.Command;

  constructor(name: string, args: HostPreparationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hardened-rke2:host:HostPreparation", name, {}, opts);
    const { node } = args;
    const server = isServer(node);
    if (args.auditPolicyYaml !== undefined && !server) {
      throw new Error(
        `Node ${node.name} is an agent: only server nodes (etcd or controlplane) get an audit policy.`,
      );
    }

    const options = {
      nodeName: node.name,
      createEtcdUser: args.createEtcdUser ?? server,
      writeAuditPolicy: args.auditPolicyYaml !== undefined,
      allowExistingInstall: args.allowExistingInstall ?? false,
    };
    const script = renderHostPrepScript(options);
    // The SSH host-key warning is config's (one per endpoint, issue 13), not repeated here.
    this.command = nodeCommand(
      name,
      {
        node,
        create: renderRemoteCommand(script),
        stdin: args.auditPolicyYaml,
        // The node's name is only printed: a rename (lifecycle.renamedNodes) runs nothing.
        triggers: [sha256(renderHostPrepScript({ ...options, nodeName: "" }))],
      },
      { parent: this, ...childAliases(name, name, opts) },
    );
    this.stdout = this.command.stdout;
    this.registerOutputs({ stdout: this.stdout });
  }
}

import * as crypto from "node:crypto";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { type NodeModel, isServer } from "../../config/model";
import { sshConnection, unpinnedHostKeys } from "../ssh";
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
   * Prepare the node even when RKE2 is already installed on it (the seed allows this step only on fresh installs).
   * @default false
   */
  readonly allowExistingInstall?: boolean;
}

/**
 * Prepares one node for a CIS-hardened RKE2 as the seed's "Setting up hosts" section says: kernel parameters, the
 * etcd user and group, and the API server's audit policy, in one idempotent script over one SSH session.
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

    const script = renderHostPrepScript({
      nodeName: node.name,
      createEtcdUser: args.createEtcdUser ?? server,
      writeAuditPolicy: args.auditPolicyYaml !== undefined,
      allowExistingInstall: args.allowExistingInstall ?? false,
    });
    for (const endpoint of unpinnedHostKeys(node)) {
      void pulumi.log.warn(
        `The SSH host key of ${endpoint} (node ${node.name}) is not pinned, so the host's identity is not verified. ` +
          `Pin it: pulumi config set --path 'hardened-rke2:nodes[N].hostKey' "$(ssh-keyscan -t ed25519 HOST | cut -d' ' -f2-)"`,
        this,
      );
    }

    this.command = new command.remote.Command(
      name,
      {
        connection: sshConnection(node),
        // The script travels in the command and the policy on stdin, so that a later policy change (ignored
        // below, and rolled out by AuditPolicyRollout) never re-runs host preparation on an installed node.
        create: renderRemoteCommand(script),
        stdin: args.auditPolicyYaml,
        triggers: [sha256(script)],
        logging: "stdoutAndStderr",
      },
      { parent: this, ignoreChanges: ["stdin"] },
    );
    this.stdout = this.command.stdout;
    this.registerOutputs({ stdout: this.stdout });
  }
}

export function sha256(text: string): string {
  return crypto.createHash("sha256").update(text).digest("hex");
}

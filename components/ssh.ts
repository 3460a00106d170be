import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import type { NodeModel } from "../config/model";

export type SshConnection = command.types.input.remote.ConnectionArgs;

/**
 * The SSH connection to a node, as a secret: it carries the private key, and Pulumi would otherwise store the
 * connection in plain text in the state. Bastions use the node's key, as `ssh -J` would with one agent.
 */
export function sshConnection(node: NodeModel): pulumi.Output<SshConnection> {
  const { ssh, bastion } = node;
  return pulumi.secret(
    node.privateKey.apply((privateKey): SshConnection => ({
      host: ssh.host,
      port: ssh.port,
      user: ssh.user,
      privateKey,
      ...(ssh.hostKey !== undefined ? { hostKey: ssh.hostKey } : {}),
      // A node that is rebooting or slow to start sshd gets about a minute before the step fails.
      dialErrorLimit: 4,
      perDialTimeout: 15,
      ...(bastion
        ? {
            proxy: {
              host: bastion.host,
              port: bastion.port,
              user: bastion.user,
              privateKey,
              ...(bastion.hostKey !== undefined ? { hostKey: bastion.hostKey } : {}),
            },
          }
        : {}),
    })),
  );
}

/** Names what is unverified about a node's SSH connection, or nothing when every host key is pinned. */
export function unpinnedHostKeys(node: NodeModel): string[] {
  const unpinned: string[] = [];
  if (node.ssh.hostKey === undefined) unpinned.push(`${node.ssh.host}:${node.ssh.port}`);
  if (node.bastion && node.bastion.hostKey === undefined)
    unpinned.push(`bastion ${node.bastion.host}:${node.bastion.port}`);
  return unpinned;
}

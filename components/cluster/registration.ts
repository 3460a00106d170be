import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { NodeModel, NodeRole } from "../../config/model";
import { renderRemoteCommand, shellQuote } from "../host/render";
import { childAliases, inheritedDependsOn } from "../options";
import { NO_OP_UPDATE } from "../host/nodeCommand";
import { sshConnection } from "../ssh";

/** Marker the registration leaves on a node: which Rancher cluster (v1 id) this stack registered it to. */
export const REGISTRATION_MARKER = "/etc/rancher/hardened-rke2/registered-cluster";
export const REGISTRATION_LOG = "/var/log/hardened-rke2-registration.log";

export function roleFlags(roles: readonly NodeRole[]): string[] {
  // Rancher's installer takes the flags in this order in its own UI; keeping it makes commands comparable.
  return (["etcd", "controlplane", "worker"] as const)
    .filter((role) => roles.includes(role))
    .map((role) => `--${role}`);
}

export interface RegistrationScriptOptions {
  readonly nodeName: string;
  /** The Rancher (v1) id of the cluster the node joins. */
  readonly clusterId: string;
  readonly roles: readonly NodeRole[];
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * The script that registers a node with Rancher, run as root with Rancher's registration command on stdin (the
 * command embeds the cluster's registration token, so it never appears in the script, the plan or the logs).
 * Idempotent: a node this stack already registered to the same
 * cluster is left alone; a node registered elsewhere is an error naming the node.
 */
export function renderRegistrationScript(options: RegistrationScriptOptions): string {
  const flags = [
    ...roleFlags(options.roles),
    "--node-name",
    options.nodeName,
    ...Object.entries(options.labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([key, value]) => ["--label", `${key}=${value}`]),
  ];
  return `#!/usr/bin/env bash
set -euo pipefail

node_name=${shellQuote(options.nodeName)}
cluster_id=${shellQuote(options.clusterId)}
marker=${shellQuote(REGISTRATION_MARKER)}
log=${shellQuote(REGISTRATION_LOG)}
flags=(${flags.map(shellQuote).join(" ")})

if [ -f "$marker" ]; then
  registered=$(cat "$marker")
  if [ "$registered" = "$cluster_id" ]; then
    echo "registration: $node_name is already registered to cluster $cluster_id; nothing to do"
    exit 0
  fi
  echo "error: node $node_name is registered to cluster $registered, not $cluster_id. Remove it from that cluster and run its uninstall scripts first, or take the node out of this stack." >&2
  exit 1
fi
if [ -e /etc/rancher/agent/config.yaml ] || [ -x /usr/local/bin/rancher-system-agent ]; then
  echo "error: node $node_name already runs rancher-system-agent for a registration this stack did not make. Uninstall it (rancher-system-agent-uninstall.sh) or take the node out of this stack." >&2
  exit 1
fi

registration_command=$(cat)
if [ -z "$registration_command" ]; then
  echo "error: no registration command arrived on stdin for $node_name" >&2
  exit 1
fi
# Rancher's command pipes its installer into 'sudo sh'; this script already runs as root, and sudo may be absent.
registration_command=\${registration_command//| sudo sh/| sh}

umask 077
started=$(date +%s)
if ! bash -c "$registration_command $(printf '%q ' "\${flags[@]}")" >"$log" 2>&1; then
  echo "error: registering $node_name failed; the installer's last lines (full log: $log on the node):" >&2
  tail -n 20 "$log" | sed -E 's/(token[= ]+)[A-Za-z0-9]+/\\1[redacted]/g' >&2
  exit 1
fi
mkdir -p "$(dirname "$marker")"
printf '%s\\n' "$cluster_id" >"$marker.tmp"
mv -f "$marker.tmp" "$marker"
echo "registration: $node_name registered to cluster $cluster_id as \${flags[*]} in $(($(date +%s) - started))s"
`;
}

/** Runs RKE2's and the system agent's own uninstall scripts; for `pulumi destroy` when the stack asks for it. */
export function renderUninstallScript(nodeName: string): string {
  return `#!/usr/bin/env bash
set -euo pipefail

node_name=${shellQuote(nodeName)}
for script in /usr/local/bin/rancher-system-agent-uninstall.sh /usr/local/bin/rke2-uninstall.sh /opt/rke2/bin/rke2-uninstall.sh; do
  if [ -x "$script" ]; then
    echo "uninstall: running $script on $node_name"
    "$script"
  fi
done
rm -f ${shellQuote(REGISTRATION_MARKER)}
echo "uninstall: $node_name no longer runs RKE2 or the Rancher system agent"
`;
}

export interface NodeRegistrationArgs {
  readonly node: NodeModel;
  /** The Rancher (v1) id of the cluster, e.g. `c-m-abcd1234`. */
  readonly clusterV1Id: pulumi.Input<string>;
  /** Rancher's registration command (`nodeCommand` or `insecureNodeCommand`); kept secret. */
  readonly registrationCommand: pulumi.Input<string>;
  /**
   * Run the uninstall scripts on `pulumi destroy`; otherwise destroying the stack leaves the node untouched.
   * @default false
   */
  readonly uninstallOnDestroy?: boolean;
}

/** Registers one prepared node with the Rancher cluster, with its roles, over the node's SSH connection. */
export class NodeRegistration extends pulumi.ComponentResource {
  public readonly command: command.remote.Command;

  constructor(name: string, args: NodeRegistrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hardened-rke2:cluster:NodeRegistration", name, {}, opts);
    const { node } = args;
    this.command = new command.remote.Command(
      name,
      {
        connection: sshConnection(node),
        create: pulumi.output(args.clusterV1Id).apply((clusterId) =>
          renderRemoteCommand(
            renderRegistrationScript({
              nodeName: node.name,
              clusterId,
              roles: node.roles,
              labels: node.labels,
            }),
          ),
        ),
        stdin: pulumi.secret(args.registrationCommand),
        // Day two (components/host/nodeCommand.ts): registering again is needed only for another cluster; a node
        // already registered to this one is a no-op, so nothing else (connection, token, script) runs create again.
        update: NO_OP_UPDATE,
        triggers: [args.clusterV1Id],
        ...(args.uninstallOnDestroy ? { delete: renderRemoteCommand(renderUninstallScript(node.name)) } : {}),
        logging: "stdoutAndStderr",
      },
      { parent: this, dependsOn: inheritedDependsOn(opts), ...childAliases(name, name, opts) },
    );
    this.registerOutputs({ stdout: this.command.stdout });
  }
}

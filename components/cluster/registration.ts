import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { NodeModel, NodeRole } from "../../config/model";
import { renderRemoteCommand } from "../host/render";
import { NO_OP_UPDATE } from "../host/nodeCommand";
import { childAliases, inheritedDependsOn } from "../options";
import { renderScript } from "../shell/script";
import { sshConnection } from "../ssh";
import { parseRegistrationCommand, renderRegistrationInput } from "./registrationCommand";

/** Marker the registration leaves on a node: which Rancher cluster (v1 id) this stack registered it to. */
export const REGISTRATION_MARKER = "/etc/rancher/hardened-rke2/registered-cluster";
/** Marker of a registration under way: names the cluster while Rancher's installer runs. */
export const REGISTRATION_PENDING_MARKER = "/etc/rancher/hardened-rke2/registering-cluster";
/** The installer's output on the node (root only, token redacted). */
export const REGISTRATION_LOG = "/var/log/hardened-rke2-registration.log";
/**
 * How long Rancher's installer may run. It retries for hours (4500 times, 5 s apart) when the token is
 * wrong or Rancher cannot be reached; a bounded run fails with its last lines instead of hanging `pulumi up`.
 */
export const DEFAULT_INSTALLER_TIMEOUT_SECONDS = 900;

const REGISTER_SH = "components/cluster/register.sh";
const UNINSTALL_SH = "components/cluster/uninstall.sh";

export interface RegistrationScriptOptions {
  readonly nodeName: string;
  readonly roles: readonly NodeRole[];
  /** Kubernetes labels of the node, passed to Rancher's installer (`CATTLE_LABELS`). */
  readonly labels: Readonly<Record<string, string>>;
  /** PEM bundle of the CA that signed Rancher's certificate (`rancher.caCerts`); verifies the download. */
  readonly caCerts?: string;
  /** @default DEFAULT_INSTALLER_TIMEOUT_SECONDS */
  readonly installerTimeoutSeconds?: number;
  /** Directory every path of the script is under; only tests set it. @default "" (the node's root) */
  readonly root?: string;
}

/**
 * The script that registers a node with Rancher (components/cluster/register.sh), run as root with Rancher's
 * values, the token among them, on standard input ({@link renderRegistrationInput}). It knows nothing that
 * Rancher decides, so it is the same before and after `pulumi up`, and a plan shows it whole.
 */
export function renderRegistrationScript(options: RegistrationScriptOptions): string {
  return renderScript(REGISTER_SH, {
    node_name: options.nodeName,
    role_etcd: options.roles.includes("etcd"),
    role_controlplane: options.roles.includes("controlplane"),
    role_worker: options.roles.includes("worker"),
    node_labels: Object.entries(options.labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, value]) => `${key}=${value}`),
    ca_certs: options.caCerts ?? "",
    installer_timeout: options.installerTimeoutSeconds ?? DEFAULT_INSTALLER_TIMEOUT_SECONDS,
    root: options.root ?? "",
  });
}

/** Runs RKE2's and the system agent's own uninstall scripts (components/cluster/uninstall.sh). */
export function renderUninstallScript(nodeName: string, root = ""): string {
  return renderScript(UNINSTALL_SH, { node_name: nodeName, root });
}

/**
 * The registration script's standard input from Rancher's outputs.
 * @throws when Rancher's command has a format this program does not know; the message never holds the command.
 */
export function registrationInput(clusterId: string, registrationCommand: string): string {
  const parsed = parseRegistrationCommand(registrationCommand);
  if ("error" in parsed) {
    throw new Error(
      `Rancher's registration command for cluster ${clusterId} has a format this program does not know: ${parsed.error}. ` +
        "Please report it with your Rancher version.",
    );
  }
  return renderRegistrationInput(clusterId, parsed);
}

export interface NodeRegistrationArgs {
  readonly node: NodeModel;
  /** The Rancher (v1) id of the cluster, e.g. `c-m-7q2xbk4d`. */
  readonly clusterV1Id: pulumi.Input<string>;
  /** Rancher's registration command (`nodeCommand` or `insecureNodeCommand`); kept secret. */
  readonly registrationCommand: pulumi.Input<string>;
  /** PEM bundle of the CA that signed Rancher's certificate (`rancher.caCerts`). */
  readonly caCerts?: string;
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
    const input = pulumi
      .all([args.clusterV1Id, args.registrationCommand])
      .apply(([clusterId, registrationCommand]) => registrationInput(clusterId, registrationCommand));
    this.command = new command.remote.Command(
      name,
      {
        connection: sshConnection(node),
        create: renderRemoteCommand(
          renderRegistrationScript({
            nodeName: node.name,
            roles: node.roles,
            labels: node.labels,
            caCerts: args.caCerts,
          }),
        ),
        stdin: pulumi.secret(input),
        // Day two (components/host/nodeCommand.ts): registering again is needed only for another cluster; a node
        // already registered to this one is a no-op, so nothing else (connection, token, script) runs create again.
        update: NO_OP_UPDATE,
        triggers: [args.clusterV1Id],
        ...(args.uninstallOnDestroy ? { delete: renderRemoteCommand(renderUninstallScript(node.name)) } : {}),
        logging: "stdoutAndStderr",
      },
      // The script redacts the token from everything it prints; the state keeps the output secret anyway.
      {
        parent: this,
        dependsOn: inheritedDependsOn(opts),
        additionalSecretOutputs: ["stdout", "stderr"],
        ...childAliases(name, name, opts),
      },
    );
    this.registerOutputs({ stdout: this.command.stdout });
  }
}

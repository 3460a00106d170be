import * as crypto from "node:crypto";

/**
 * Rancher's answers, built the way Rancher builds them, for the offline engine. Each function names the
 * upstream source it follows; the values are derived deterministically from the resource's name, so a plan
 * or a test is byte-identical run to run.
 */

/**
 * rancher/rancher `pkg/controllers/management/clusterregistrationtoken` (`AssignCommands`):
 * `provisioningV2NodeCommandFormat` and `provisioningV2InsecureNodeCommandFormat`. The first slot and the
 * slot between `sudo` and `sh` both get `AgentEnvVars(cluster, Linux)`; the last one is
 * `" --ca-checksum " + systemtemplate.CAChecksum()` when Rancher has a private CA, else empty.
 */
const NODE_COMMAND_FORMAT =
  "%s curl -fL %s | sudo %s sh -s - --server %s --label 'cattle.io/os=linux' --token %s%s";
const INSECURE_NODE_COMMAND_FORMAT =
  "%s curl --insecure -fL %s | sudo %s sh -s - --server %s --label 'cattle.io/os=linux' --token %s%s";

/** rancher/rancher `pkg/capr/installer` `SystemAgentInstallPath`. */
export const SYSTEM_AGENT_INSTALL_PATH = "/system-agent-install.sh";

/** wrangler `pkg/randomtoken`: Kubernetes' vowel-free alphabet, so generated names never spell words. */
const RANDOM_TOKEN_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
/** wrangler `pkg/randomtoken` `tokenLength`: the length of a cluster registration token. */
const REGISTRATION_TOKEN_LENGTH = 54;

/** Go's `fmt.Sprintf` for `%s` only, which is all the formats above use. */
function sprintf(format: string, ...args: string[]): string {
  let i = 0;
  return format.replace(/%s/g, () => args[i++] ?? "");
}

/** A deterministic stand-in for wrangler's `randomtoken.Generate()`, seeded by `seed`. */
export function fakeRandomToken(seed: string, length = REGISTRATION_TOKEN_LENGTH): string {
  let out = "";
  for (let block = 0; out.length < length; block++) {
    const digest = crypto.createHash("sha256").update(`${seed}#${block}`).digest();
    for (const byte of digest) out += RANDOM_TOKEN_ALPHABET[byte % RANDOM_TOKEN_ALPHABET.length];
  }
  return out.slice(0, length);
}

/**
 * The management (v1) cluster id Rancher gives a provisioning-v2 cluster: rancher/rancher
 * `pkg/controllers/provisioningv2/cluster/controller.go` `mgmtClusterName()`,
 * `name.SafeConcatName("c", "m", randomtoken.Generate()[:8])`, e.g. `c-m-7q2xbk4d`.
 */
export function fakeClusterV1Id(seed: string): string {
  return `c-m-${fakeRandomToken(seed, 8)}`;
}

/** Rancher's `AgentEnvVars(cluster, Linux)`: `NAME="value"` joined by spaces, empty values left out. */
export function agentEnvVarsText(
  envVars: readonly { readonly name: string; readonly value: string }[],
): string {
  return envVars
    .map(({ name, value }) => ({ name, value: value.replace(/[\r\n]+$/, "") }))
    .filter(({ value }) => value !== "")
    .map(({ name, value }) => `${name}="${value}"`)
    .join(" ");
}

/** `systemtemplate.CAChecksum()`: hex sha256 of the `cacerts` setting, empty when Rancher's CA is public. */
export function caChecksum(caCerts: string | undefined): string {
  return caCerts ? crypto.createHash("sha256").update(caCerts).digest("hex") : "";
}

/** The server URL as `getRootURL()` gives it: the `server-url` setting without its path. */
export function rootUrl(apiUrl: string): string {
  return new URL(apiUrl).origin;
}

export interface NodeCommandParts {
  /** Rancher's URL (`apiUrl` of the provider); only its origin is used. */
  readonly apiUrl: string;
  readonly token: string;
  /** The cluster's `agentEnvVars`. */
  readonly agentEnvVars?: readonly { readonly name: string; readonly value: string }[];
  /** Rancher's `cacerts` setting (a private CA); adds ` --ca-checksum <sha256>`. */
  readonly caCerts?: string;
}

/** `status.nodeCommand` and `status.insecureNodeCommand` of the cluster's registration token. */
export function nodeCommands(parts: NodeCommandParts): { nodeCommand: string; insecureNodeCommand: string } {
  const env = agentEnvVarsText(parts.agentEnvVars ?? []);
  const root = rootUrl(parts.apiUrl);
  const checksum = caChecksum(parts.caCerts);
  const ca = checksum ? ` --ca-checksum ${checksum}` : "";
  const args = [env, root + SYSTEM_AGENT_INSTALL_PATH, env, root, parts.token, ca] as const;
  return {
    nodeCommand: sprintf(NODE_COMMAND_FORMAT, ...args),
    insecureNodeCommand: sprintf(INSECURE_NODE_COMMAND_FORMAT, ...args),
  };
}

/**
 * `pkg/kubeconfig` `formatCertString`: the base64 CA folded inside its YAML double-quoted string, 49
 * characters first, then 76 a line, each continued with a backslash and six spaces of indentation.
 */
function formatCertString(data: string): string {
  if (data.length <= 49) return data;
  const rest = data.slice(49).match(/\S{1,76}/g) ?? [];
  return data.slice(0, 49) + rest.map((part) => `\\\n      ${part}`).join("");
}

/**
 * The kubeconfig Rancher generates for a cluster (ClusterSync's `kubeConfig`): rancher/rancher
 * `pkg/kubeconfig` `tokenTemplateText` via `ForTokenBased`, server `https://<host>/k8s/clusters/<id>`, the
 * CA as `certificate-authority-data` only when Rancher has a private CA, and a `kubeconfig-user-…` token.
 */
export function clusterKubeconfig(options: {
  readonly apiUrl: string;
  readonly clusterName: string;
  readonly clusterV1Id: string;
  readonly caCerts?: string;
}): string {
  const host = new URL(options.apiUrl).host;
  const user = options.clusterName;
  const token = `kubeconfig-user-${fakeRandomToken(`${options.clusterV1Id}user`, 5)}:${fakeRandomToken(`${options.clusterV1Id}key`)}`;
  const cert = options.caCerts ? formatCertString(Buffer.from(options.caCerts).toString("base64")) : "";
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: "${options.clusterName}"`,
    "  cluster:",
    `    server: "https://${host}/k8s/clusters/${options.clusterV1Id}"`,
    ...(cert ? [`    certificate-authority-data: "${cert}"`] : []),
    "",
    "users:",
    `- name: "${user}"`,
    "  user:",
    `    token: "${token}"`,
    "",
    "contexts:",
    `- name: "${options.clusterName}"`,
    "  context:",
    `    user: "${user}"`,
    `    cluster: "${options.clusterName}"`,
    "",
    `current-context: "${options.clusterName}"`,
    "",
  ].join("\n");
}

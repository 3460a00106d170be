/**
 * The hardened-rke2 CrossGuard policies, as plain objects.
 *
 * This module must stay free of side effects: the tests import it directly, and `new PolicyPack(...)`
 * (which starts the gRPC policy server and never returns control) lives only in `./index.ts`.
 *
 * The pack inspects resources by their Pulumi type token (`rancher2:index/clusterV2:ClusterV2`, ...)
 * instead of `args.isType(Class)`, so it does not depend on the provider SDKs.
 */
import type {
  EnforcementLevel,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import * as YAML from "yaml";
import { stackScopedPolicies } from "./stackScope";

export const PACK_NAME = "hardened-rke2";

/** Level of every policy that does not declare its own; `--policy-pack-config` overrides both. */
export const DEFAULT_ENFORCEMENT_LEVEL: EnforcementLevel = "mandatory";

/** The Pulumi project whose stack config declares the operator namespaces. */
export const PROJECT_NAME = "hardened-rke2";

export const TYPES = {
  clusterV2: "rancher2:index/clusterV2:ClusterV2",
  remoteCommand: "command:remote:Command",
  copyToRemote: "command:remote:CopyToRemote",
  namespace: "kubernetes:core/v1:Namespace",
  serviceAccount: "kubernetes:core/v1:ServiceAccount",
  serviceAccountPatch: "kubernetes:core/v1:ServiceAccountPatch",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  rancherProvider: "pulumi:providers:rancher2",
} as const;

/** Resource types whose `connection` opens an SSH session (`@pulumi/command` remote resources). */
export const SSH_RESOURCE_TYPES: readonly string[] = [TYPES.remoteCommand, TYPES.copyToRemote];

/** Values RKE2 accepts for its `profile` flag (see the seed and rancher/rke2 `profile_linux.go`). */
export const CIS_PROFILES = ["cis-1.5", "cis-1.6", "cis-1.23", "cis"] as const;

export const POLICY_NAMES = {
  cisProfile: "rke2-cis-profile",
  protectKernelDefaults: "rke2-protect-kernel-defaults",
  etcdSnapshots: "rke2-etcd-snapshots-enabled",
  plaintextSshKey: "ssh-private-key-not-plaintext",
  namespaceHardening: "namespace-default-sa-and-network-policy",
  sshHostKeyPinned: "ssh-host-key-pinned",
  sshHostKeyPinnedInProduction: "ssh-host-key-pinned-in-production",
  rancherTlsVerified: "rancher-tls-verified",
  rancherTlsVerifiedInProduction: "rancher-tls-verified-in-production",
} as const;

// ---------------------------------------------------------------------------------------------
// Reading resource properties
// ---------------------------------------------------------------------------------------------

type Props = Readonly<Record<string, unknown>>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * During a preview the policy server wraps inputs in a proxy that throws `UnknownValueError` when a
 * value is not known yet (an output of a resource that does not exist). Letting it propagate makes the
 * server report "can't run policy during preview" (advisory), which is right for the values a policy
 * decides on; the policy runs again with known values during `pulumi up`.
 */
export function isUnknownValueError(err: unknown): boolean {
  return err instanceof Error && err.constructor.name === "UnknownValueError";
}

const UNKNOWN: unique symbol = Symbol("unknown during preview");
type Unknown = typeof UNKNOWN;

/** Reads a value, returning `UNKNOWN` instead of throwing when it is not known during a preview. */
function read<T>(get: () => T): T | Unknown {
  try {
    return get();
  } catch (err) {
    if (isUnknownValueError(err)) {
      return UNKNOWN;
    }
    throw err;
  }
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value.trim() !== "";
}

/** RKE2 config values come from YAML: `true`, `"true"` and `false`, `"false"` mean the same to RKE2. */
function asBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") {
    return value;
  }
  if (typeof value === "string") {
    const lower = value.trim().toLowerCase();
    if (lower === "true") return true;
    if (lower === "false") return false;
  }
  return undefined;
}

function describe(value: unknown): string {
  return value === undefined ? "unset" : JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------
// ClusterV2: RKE2 configuration from machineGlobalConfig and machineSelectorConfigs
// ---------------------------------------------------------------------------------------------

/** One RKE2 configuration source of a ClusterV2, parsed. */
export interface Rke2ConfigSource {
  /** e.g. `rkeConfig.machineSelectorConfigs[0]` */
  readonly where: string;
  /** Applies to every machine (no label selector, or an empty one). */
  readonly clusterWide: boolean;
  /** The parsed configuration keys; `undefined` when the YAML is invalid. */
  readonly config: Readonly<Record<string, unknown>> | undefined;
  /** Why `config` is undefined. */
  readonly error?: string;
}

function parseRke2Config(raw: unknown): Pick<Rke2ConfigSource, "config" | "error"> {
  if (raw === undefined || raw === null) {
    return { config: {} };
  }
  if (isRecord(raw)) {
    // rancher2 < 6 took a map; tolerate it.
    return { config: raw };
  }
  if (typeof raw !== "string") {
    return { config: undefined, error: `config is a ${typeof raw}, expected a YAML string` };
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(raw) as unknown;
  } catch (err) {
    return {
      config: undefined,
      error: `config is not valid YAML: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  if (parsed === null || parsed === undefined) {
    return { config: {} };
  }
  if (!isRecord(parsed)) {
    return { config: undefined, error: "config is not a YAML mapping" };
  }
  return { config: parsed };
}

function selectsEveryMachine(selector: unknown): boolean {
  if (!isRecord(selector)) {
    return true;
  }
  const labels = selector["matchLabels"];
  const expressions = selector["matchExpressions"];
  const noLabels =
    labels === undefined || labels === null || (isRecord(labels) && Object.keys(labels).length === 0);
  const noExpressions =
    expressions === undefined ||
    expressions === null ||
    (Array.isArray(expressions) && expressions.length === 0);
  return noLabels && noExpressions;
}

/**
 * The RKE2 configuration sources of a ClusterV2, in the order Rancher merges them: `machineGlobalConfig`
 * first, then each `machineSelectorConfigs[]` entry (later entries override earlier ones).
 */
export function rke2ConfigSources(props: Props): Rke2ConfigSource[] {
  const sources: Rke2ConfigSource[] = [];
  const rkeConfig = props["rkeConfig"];
  if (!isRecord(rkeConfig)) {
    return sources;
  }
  if (rkeConfig["machineGlobalConfig"] !== undefined) {
    const parsed = parseRke2Config(rkeConfig["machineGlobalConfig"]);
    sources.push({ where: "rkeConfig.machineGlobalConfig", clusterWide: true, ...parsed });
  }
  const selectorConfigs = rkeConfig["machineSelectorConfigs"];
  if (Array.isArray(selectorConfigs)) {
    selectorConfigs.forEach((entry: unknown, index) => {
      const where = `rkeConfig.machineSelectorConfigs[${index}]`;
      if (!isRecord(entry)) {
        sources.push({ where, clusterWide: false, config: undefined, error: "entry is not an object" });
        return;
      }
      const parsed = parseRke2Config(entry["config"]);
      sources.push({ where, clusterWide: selectsEveryMachine(entry["machineLabelSelector"]), ...parsed });
    });
  }
  return sources;
}

/** The value of `key` that applies to every machine, after merging the cluster-wide sources in order. */
function clusterWideValue(sources: readonly Rke2ConfigSource[], key: string): unknown {
  let value: unknown = undefined;
  for (const source of sources) {
    if (source.clusterWide && source.config && key in source.config) {
      value = source.config[key];
    }
  }
  return value;
}

function reportInvalidSources(sources: readonly Rke2ConfigSource[], reportViolation: ReportViolation): void {
  for (const source of sources) {
    if (source.error !== undefined) {
      reportViolation(`${source.where}: ${source.error}; the policy cannot tell which RKE2 flags it sets.`);
    }
  }
}

interface CisProfileConfig {
  allowedProfiles?: string[];
}

export const cisProfilePolicy: ResourceValidationPolicy = {
  name: POLICY_NAMES.cisProfile,
  displayName: "RKE2 runs a CIS profile on every machine",
  description:
    "A ClusterV2 must set RKE2's `profile` to a CIS profile in a machine selector config that applies to " +
    "every machine (the seed: `profile: cis-1.6`), and no narrower entry may override it.",
  enforcementLevel: "mandatory",
  severity: "high",
  tags: ["cis", "rke2"],
  framework: {
    name: "CIS Kubernetes Benchmark (RKE2 hardening guide)",
    version: "1.6",
    reference: "1.1.12, 1.2.22-1.2.25, 5.2, 5.3.2",
    specification:
      "RKE2 started with profile cis-1.x enforces the host, etcd, audit, pod security and network policy controls.",
  },
  remediationSteps:
    "Set the stack's cluster profile (e.g. cis-1.6 up to Kubernetes 1.24, cis-1.23 or cis after) so the first " +
    "machineSelectorConfigs entry, without machineLabelSelector, carries `profile: <cis profile>`.",
  configSchema: {
    properties: {
      allowedProfiles: {
        type: "array",
        items: { type: "string", enum: [...CIS_PROFILES] },
        default: [...CIS_PROFILES],
        description: "Profiles accepted as CIS profiles.",
      },
    },
  },
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== TYPES.clusterV2) {
      return args.notApplicable(`applies only to ${TYPES.clusterV2}`);
    }
    const allowed = args.getConfig<CisProfileConfig>().allowedProfiles ?? [...CIS_PROFILES];
    const sources = rke2ConfigSources(args.props);
    reportInvalidSources(sources, reportViolation);

    const profile = clusterWideValue(sources, "profile");
    if (!nonEmptyString(profile)) {
      const narrower = sources.filter(
        (s) => !s.clusterWide && s.config && nonEmptyString(s.config["profile"]),
      );
      reportViolation(
        `ClusterV2 "${args.name}" sets no CIS profile for all machines (profile is ${describe(profile)}); ` +
          `expected one of ${allowed.join(", ")} in a machineSelectorConfigs entry without machineLabelSelector.` +
          (narrower.length > 0
            ? ` Only ${narrower.map((s) => s.where).join(", ")} set one, for some machines.`
            : ""),
      );
    } else if (!allowed.includes(profile)) {
      reportViolation(
        `ClusterV2 "${args.name}" sets profile "${profile}", which is not a CIS profile (allowed: ${allowed.join(", ")}).`,
      );
    }
    for (const source of sources) {
      if (source.clusterWide || !source.config || !("profile" in source.config)) {
        continue;
      }
      const override = source.config["profile"];
      if (!nonEmptyString(override) || !allowed.includes(override)) {
        reportViolation(
          `${source.where} overrides the profile with ${describe(override)} for the machines it selects; ` +
            `those machines would run without a CIS profile.`,
        );
      }
    }
  },
};

export const protectKernelDefaultsPolicy: ResourceValidationPolicy = {
  name: POLICY_NAMES.protectKernelDefaults,
  displayName: "Kubelet protect-kernel-defaults is on",
  description:
    "A ClusterV2 must not turn protect-kernel-defaults off (CIS 4.2.6): no RKE2 config may set it to false, " +
    "and without a profile (which forces it on) the cluster-wide config must set it to true.",
  enforcementLevel: "mandatory",
  severity: "high",
  tags: ["cis", "rke2", "kubelet"],
  framework: {
    name: "CIS Kubernetes Benchmark (RKE2 hardening guide)",
    version: "1.6",
    reference: "4.2.6",
    specification: "Ensure that the --protect-kernel-defaults argument is set to true.",
  },
  remediationSteps:
    "Remove `protect-kernel-defaults: false` from the machine selector configs and keep " +
    "`protect-kernel-defaults: true` next to the profile; prepare the kernel parameters on the hosts.",
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== TYPES.clusterV2) {
      return args.notApplicable(`applies only to ${TYPES.clusterV2}`);
    }
    const sources = rke2ConfigSources(args.props);
    reportInvalidSources(sources, reportViolation);

    for (const source of sources) {
      if (source.config && "protect-kernel-defaults" in source.config) {
        const value = source.config["protect-kernel-defaults"];
        if (asBoolean(value) !== true) {
          reportViolation(
            `${source.where} sets protect-kernel-defaults to ${describe(value)}` +
              (source.clusterWide ? "" : " for the machines it selects") +
              "; the kubelet must protect kernel defaults (CIS 4.2.6), and RKE2 with a CIS profile exits on an explicit false.",
          );
        }
      }
    }
    const explicit = clusterWideValue(sources, "protect-kernel-defaults");
    const profile = clusterWideValue(sources, "profile");
    if (explicit === undefined && !nonEmptyString(profile)) {
      reportViolation(
        `ClusterV2 "${args.name}" leaves protect-kernel-defaults off: it is not set, and no profile forces it. ` +
          "Set `protect-kernel-defaults: true` in the cluster-wide machine selector config.",
      );
    }
  },
};

export const etcdSnapshotsPolicy: ResourceValidationPolicy = {
  name: POLICY_NAMES.etcdSnapshots,
  displayName: "etcd snapshots stay enabled",
  description: "A ClusterV2 must not disable etcd snapshots (`rkeConfig.etcd.disableSnapshots`).",
  enforcementLevel: "mandatory",
  severity: "high",
  tags: ["rke2", "etcd", "backup"],
  remediationSteps:
    "Set rkeConfig.etcd.disableSnapshots to false (the seed keeps 5 snapshots, every 5 hours).",
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== TYPES.clusterV2) {
      return args.notApplicable(`applies only to ${TYPES.clusterV2}`);
    }
    const rkeConfig = args.props["rkeConfig"] as unknown;
    const etcd = isRecord(rkeConfig) ? rkeConfig["etcd"] : undefined;
    const disabled = isRecord(etcd) ? etcd["disableSnapshots"] : undefined;
    if (asBoolean(disabled) === true) {
      reportViolation(
        `ClusterV2 "${args.name}" disables etcd snapshots (rkeConfig.etcd.disableSnapshots: true); ` +
          "a lost etcd quorum could then not be restored.",
      );
    }
  },
};

// ---------------------------------------------------------------------------------------------
// SSH connections of @pulumi/command remote resources
// ---------------------------------------------------------------------------------------------

/** PEM / OpenSSH / PuTTY private key material. */
const PRIVATE_KEY_PATTERN = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----|PuTTY-User-Key-File-\d+:/;

export function containsPrivateKey(text: string): boolean {
  return PRIVATE_KEY_PATTERN.test(text);
}

/**
 * Paths (e.g. `environment.KEY`) of the string values under `value` that contain private key material.
 * Values unknown during a preview are skipped: the policy sees them again, known, during `pulumi up`.
 */
export function findPrivateKeyMaterial(value: unknown, path: string, depth = 0): string[] {
  if (depth > 32) {
    return [];
  }
  if (typeof value === "string") {
    return containsPrivateKey(value) ? [path] : [];
  }
  if (Array.isArray(value)) {
    const found: string[] = [];
    const length = read(() => value.length);
    if (length === UNKNOWN) return found;
    for (let i = 0; i < length; i++) {
      const item = read((): unknown => value[i]);
      if (item !== UNKNOWN) found.push(...findPrivateKeyMaterial(item, `${path}[${i}]`, depth + 1));
    }
    return found;
  }
  if (isRecord(value)) {
    const found: string[] = [];
    for (const key of Object.keys(value)) {
      const item = read(() => value[key]);
      if (item !== UNKNOWN)
        found.push(...findPrivateKeyMaterial(item, path === "" ? key : `${path}.${key}`, depth + 1));
    }
    return found;
  }
  return [];
}

function connectionOf(props: Props): Record<string, unknown> | undefined {
  const connection = props["connection"];
  return isRecord(connection) ? connection : undefined;
}

/** The connection itself and its bastion (`proxy`), with the path used in messages. */
function hops(connection: Record<string, unknown>): { path: string; hop: Record<string, unknown> }[] {
  const result = [{ path: "connection", hop: connection }];
  const proxy = read(() => connection["proxy"]);
  if (proxy !== UNKNOWN && isRecord(proxy)) {
    result.push({ path: "connection.proxy", hop: proxy });
  }
  return result;
}

function hostOf(hop: Record<string, unknown>): string {
  const host = read(() => hop["host"]);
  const port = read(() => hop["port"]);
  if (host === UNKNOWN || !nonEmptyString(host)) {
    return "(host unknown)";
  }
  return typeof port === "number" && port !== 22 ? `${host}:${port}` : host;
}

export const plaintextSshKeyPolicy: ResourceValidationPolicy = {
  name: POLICY_NAMES.plaintextSshKey,
  displayName: "SSH private keys only travel in the secret connection",
  description:
    "A remote Command (host preparation, node registration, audit rollout) must carry its private key only in a " +
    "`connection` marked secret, never in plain-text inputs such as create/update/delete, stdin, environment or triggers.",
  enforcementLevel: "mandatory",
  severity: "critical",
  tags: ["secrets", "ssh"],
  remediationSteps:
    "Pass the key as connection.privateKey from a secret (config --secret or pulumi.secret) with @pulumi/command, " +
    "which marks the connection secret; never interpolate it into commands, stdin, environment or triggers.",
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (!SSH_RESOURCE_TYPES.includes(args.type)) {
      return args.notApplicable(`applies only to ${SSH_RESOURCE_TYPES.join(", ")}`);
    }
    // Policy validation receives the inputs with secrets already decrypted and unwrapped (@pulumi/policy
    // deserializes analyze requests without secret markers), so the pack cannot see whether the value is
    // secret. @pulumi/command registers the connection with `pulumi.secret(...)` together with
    // `additionalSecretOutputs: ["connection"]`: that marker is what the pack can see.
    const connection = connectionOf(args.props);
    if (connection) {
      const markedSecret = args.opts.additionalSecretOutputs.includes("connection");
      for (const { path, hop } of hops(connection)) {
        const key = read(() => hop["privateKey"]);
        if (key !== UNKNOWN && nonEmptyString(key) && !markedSecret) {
          reportViolation(
            `${args.type} "${args.name}": ${path}.privateKey (to ${hostOf(hop)}) is in a connection that is not ` +
              "marked secret; it would be stored and shown in plain text. Register the command with @pulumi/command " +
              "(it makes the connection secret) or wrap the connection in pulumi.secret(...) and additionalSecretOutputs.",
          );
        }
      }
    }
    for (const key of Object.keys(args.props)) {
      if (key === "connection") {
        continue;
      }
      const value = read((): unknown => args.props[key]);
      if (value === UNKNOWN) {
        continue;
      }
      for (const path of findPrivateKeyMaterial(value, key)) {
        reportViolation(
          `${args.type} "${args.name}": input ${path} contains a private key in plain text; it would appear in ` +
            "the preview diff and the state. Keep the key in connection.privateKey only.",
        );
      }
    }
  },
};

/**
 * Unpinned SSH host keys: advisory (`ssh-host-key-pinned`) on most stacks, mandatory
 * (`ssh-host-key-pinned-in-production`) on production stacks; see ./stackScope.
 */
export const [sshHostKeyPinnedPolicy, sshHostKeyPinnedProductionPolicy] = stackScopedPolicies({
  name: POLICY_NAMES.sshHostKeyPinned,
  displayName: "SSH host keys are pinned",
  description:
    "A remote Command's connection (and its bastion) must pin the host's public key (`hostKey`); " +
    "without it @pulumi/command does not check the host key at all.",
  severity: "high",
  tags: ["ssh"],
  remediationSteps:
    "Set the node's (and bastion's) hostKey in the stack config, as in known_hosts: `ssh-ed25519 AAAA...` " +
    "(ssh-keyscan -t ed25519 <host>, checked out of band).",
  types: SSH_RESOURCE_TYPES,
  check: (args, reportViolation) => {
    const connection = connectionOf(args.props);
    if (!connection) {
      return args.notApplicable("the resource has no SSH connection");
    }
    for (const { path, hop } of hops(connection)) {
      const hostKey = read(() => hop["hostKey"]);
      // An unknown host key will be set: it is pinned.
      if (hostKey !== UNKNOWN && !nonEmptyString(hostKey)) {
        reportViolation(
          `${args.type} "${args.name}": ${path} to ${hostOf(hop)} has no hostKey; the SSH host key is not checked ` +
            "and a man in the middle would receive the commands (and the registration token).",
        );
      }
    }
  },
});

/** `curl --insecure` / `curl -k`: Rancher's insecureNodeCommand, which skips TLS verification. */
const INSECURE_CURL = /\bcurl\b[^|;&\n]*\s(?:--insecure|-k)(?=\s|$)/;
/**
 * The program's registration input (components/cluster/registrationCommand.ts `renderRegistrationInput`): the
 * parts of Rancher's command, one `name=value` a line, `insecure=true` when it was the insecureNodeCommand.
 */
const INSECURE_REGISTRATION = /^insecure=true$/m;

/**
 * Rancher reached without verifying its certificate (the stack's `rancher.insecure`): the provider's
 * `insecure` input, and node registration through Rancher's insecureNodeCommand. Advisory on most
 * stacks, mandatory on production stacks; see ./stackScope.
 */
export const [rancherTlsVerifiedPolicy, rancherTlsVerifiedProductionPolicy] = stackScopedPolicies({
  name: POLICY_NAMES.rancherTlsVerified,
  displayName: "Rancher's certificate is verified",
  description:
    "The Rancher provider must not set `insecure`, and nodes must not register with Rancher's insecureNodeCommand " +
    "(`curl --insecure`): without verification a man in the middle receives the Rancher API token and the " +
    "cluster's registration token.",
  severity: "high",
  tags: ["rancher", "tls"],
  remediationSteps:
    "Set rancher.caCerts to the PEM bundle of Rancher's CA and rancher.insecure to false " +
    "(pulumi config set --path 'hardened-rke2:rancher.insecure' false).",
  types: [TYPES.rancherProvider, TYPES.remoteCommand],
  check: (args, reportViolation) => {
    if (args.type === TYPES.rancherProvider) {
      const insecure = read((): unknown => args.props["insecure"]);
      if (insecure !== UNKNOWN && asBoolean(insecure) === true) {
        reportViolation(
          `Rancher provider "${args.name}" sets insecure: Rancher's certificate is not verified, so the API token ` +
            "travels to whoever answers; set rancher.caCerts instead.",
        );
      }
      return;
    }
    // Only what Rancher hands over (on stdin) says whether the download is verified: the fixed registration
    // script fetches Rancher's /cacerts unverified on purpose, to compare it with the command's --ca-checksum.
    const value = read((): unknown => args.props["stdin"]);
    if (
      value !== UNKNOWN &&
      typeof value === "string" &&
      (INSECURE_CURL.test(value) || INSECURE_REGISTRATION.test(value))
    ) {
      reportViolation(
        `${args.type} "${args.name}": registers with curl without certificate verification (Rancher's ` +
          "insecureNodeCommand); the node would fetch its agent and registration token from whoever answers.",
      );
    }
  },
});

// ---------------------------------------------------------------------------------------------
// Namespaces: default ServiceAccount patch (CIS 5.1.5) and NetworkPolicy (CIS 5.3.2)
// ---------------------------------------------------------------------------------------------

interface NamespaceHardeningConfig {
  exemptNamespaces?: string[];
}

/**
 * Namespaces that exist in every cluster. RKE2's CIS profile creates their same-namespace NetworkPolicy
 * (`default-network-policy`) itself, so no resource of the stack carries it; the CIS profile policy is what
 * guarantees it. Their default ServiceAccount patch is still the stack's and still checked. Equal to the
 * program's `BUILTIN_NAMESPACES` (config/grammar.ts); test/policyPlans.test.ts keeps the two the same.
 */
export const PROFILE_HARDENED_NAMESPACES: readonly string[] = [
  "default",
  "kube-system",
  "kube-public",
  "kube-node-lease",
];

/**
 * The operator namespaces declared in the stack config (`hardened-rke2:hardening` → `namespaces[].name`).
 * The Pulumi engine hands a policy pack the stack's configuration in `PULUMI_CONFIG` (a JSON object of
 * `project:key` → string value; structured values are JSON strings). Returns [] when it is absent.
 */
export function declaredNamespacesFromConfig(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env["PULUMI_CONFIG"];
  if (!raw) {
    return [];
  }
  let all: unknown;
  try {
    all = JSON.parse(raw) as unknown;
  } catch {
    return [];
  }
  if (!isRecord(all)) {
    return [];
  }
  const value = all[`${PROJECT_NAME}:hardening`] ?? all[`${PROJECT_NAME}:config:hardening`];
  let hardening: unknown = value;
  if (typeof value === "string") {
    try {
      hardening = JSON.parse(value) as unknown;
    } catch {
      return [];
    }
  }
  if (!isRecord(hardening) || !Array.isArray(hardening["namespaces"])) {
    return [];
  }
  const names: string[] = [];
  for (const entry of hardening["namespaces"] as unknown[]) {
    if (isRecord(entry) && nonEmptyString(entry["name"])) {
      names.push(entry["name"]);
    } else if (nonEmptyString(entry)) {
      names.push(entry);
    }
  }
  return names;
}

function metadataOf(resource: PolicyResource): Record<string, unknown> {
  const metadata = read((): unknown => resource.props["metadata"]);
  return metadata !== UNKNOWN && isRecord(metadata) ? metadata : {};
}

/** `metadata.namespace`, "default" when unset; undefined while unknown during a preview. */
function namespaceOf(resource: PolicyResource): string | undefined {
  const namespace = read(() => metadataOf(resource)["namespace"]);
  if (namespace === UNKNOWN) return undefined;
  return nonEmptyString(namespace) ? namespace : "default";
}

function selectsAllPods(resource: PolicyResource): boolean {
  const spec = read((): unknown => resource.props["spec"]);
  if (spec === UNKNOWN || !isRecord(spec)) {
    return false;
  }
  return selectsEveryMachine(read(() => spec["podSelector"]));
}

interface NamespaceEvidence {
  namespaceUrn?: string;
  patchUrns: string[];
  weakPatchUrns: string[];
  networkPolicyUrns: string[];
  partialNetworkPolicyUrns: string[];
  declared: boolean;
}

export const namespaceHardeningPolicy: StackValidationPolicy = {
  name: POLICY_NAMES.namespaceHardening,
  displayName: "Every operator namespace has its default ServiceAccount patch and NetworkPolicy",
  description:
    "Every Namespace the stack manages, every namespace declared in hardened-rke2:hardening.namespaces, and every " +
    "namespace that has either a default-ServiceAccount patch or a NetworkPolicy must have both: a patch of " +
    "ServiceAccount `default` with automountServiceAccountToken false (CIS 5.1.5) and a NetworkPolicy that " +
    "selects every pod (CIS 5.3.2). The RKE2 profile covers only the built-in namespaces.",
  enforcementLevel: "mandatory",
  severity: "high",
  tags: ["cis", "kubernetes", "namespaces"],
  framework: {
    name: "CIS Kubernetes Benchmark (RKE2 hardening guide)",
    version: "1.6",
    reference: "5.1.5, 5.3.2",
    specification:
      "Ensure that default service accounts are not actively used; ensure that all Namespaces have Network Policies defined.",
  },
  remediationSteps:
    "Declare the namespace in hardened-rke2:hardening.namespaces so the program creates both the " +
    "ServiceAccountPatch (automountServiceAccountToken: false) and the NetworkPolicy for it.",
  configSchema: {
    properties: {
      exemptNamespaces: {
        type: "array",
        items: { type: "string" },
        default: [],
        description: "Namespaces this policy does not check.",
      },
    },
  },
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    const exempt = new Set(args.getConfig<NamespaceHardeningConfig>().exemptNamespaces ?? []);
    const byName = new Map<string, NamespaceEvidence>();
    const evidence = (name: string): NamespaceEvidence => {
      let e = byName.get(name);
      if (!e) {
        e = {
          patchUrns: [],
          weakPatchUrns: [],
          networkPolicyUrns: [],
          partialNetworkPolicyUrns: [],
          declared: false,
        };
        byName.set(name, e);
      }
      return e;
    };

    for (const resource of args.resources) {
      switch (resource.type) {
        case TYPES.namespace: {
          const name = read(() => metadataOf(resource)["name"]);
          if (name !== UNKNOWN && nonEmptyString(name)) {
            evidence(name).namespaceUrn = resource.urn;
          }
          break;
        }
        case TYPES.serviceAccountPatch:
        case TYPES.serviceAccount: {
          const name = read(() => metadataOf(resource)["name"]);
          const namespace = namespaceOf(resource);
          if (name !== "default" || namespace === undefined) {
            break;
          }
          const automount = read((): unknown => resource.props["automountServiceAccountToken"]);
          if (automount === UNKNOWN) {
            break;
          }
          if (asBoolean(automount) === false) {
            evidence(namespace).patchUrns.push(resource.urn);
          } else if (resource.type === TYPES.serviceAccountPatch) {
            evidence(namespace).weakPatchUrns.push(resource.urn);
          }
          break;
        }
        case TYPES.networkPolicy: {
          const namespace = namespaceOf(resource);
          if (namespace === undefined) {
            break;
          }
          if (selectsAllPods(resource)) {
            evidence(namespace).networkPolicyUrns.push(resource.urn);
          } else {
            evidence(namespace).partialNetworkPolicyUrns.push(resource.urn);
          }
          break;
        }
        default:
          break;
      }
    }
    for (const name of declaredNamespacesFromConfig()) {
      evidence(name).declared = true;
    }

    const checked = [...byName.entries()].filter(([name]) => !exempt.has(name));
    if (checked.length === 0) {
      return args.notApplicable("the stack manages and declares no namespaces");
    }
    for (const [name, e] of checked) {
      const anchor = e.namespaceUrn ?? e.patchUrns[0] ?? e.networkPolicyUrns[0] ?? e.weakPatchUrns[0];
      const origin = e.namespaceUrn
        ? "created by the stack"
        : e.declared
          ? "declared in the stack config"
          : "hardened in part";
      for (const urn of e.weakPatchUrns) {
        reportViolation(
          `Namespace "${name}": the patch of ServiceAccount default does not set automountServiceAccountToken to false (CIS 5.1.5).`,
          urn,
        );
      }
      if (e.patchUrns.length === 0) {
        reportViolation(
          `Namespace "${name}" (${origin}) has no patch of ServiceAccount default with ` +
            "automountServiceAccountToken: false (CIS 5.1.5).",
          anchor,
        );
      }
      if (e.networkPolicyUrns.length === 0 && !PROFILE_HARDENED_NAMESPACES.includes(name)) {
        reportViolation(
          `Namespace "${name}" (${origin}) has no NetworkPolicy selecting every pod (CIS 5.3.2)` +
            (e.partialNetworkPolicyUrns.length > 0 ? "; its NetworkPolicies select only some pods." : "."),
          anchor,
        );
      }
    }
  },
};

/** All policies of the pack, in the order they are reported. */
export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  cisProfilePolicy,
  protectKernelDefaultsPolicy,
  etcdSnapshotsPolicy,
  plaintextSshKeyPolicy,
  namespaceHardeningPolicy,
  sshHostKeyPinnedPolicy,
  sshHostKeyPinnedProductionPolicy,
  rancherTlsVerifiedPolicy,
  rancherTlsVerifiedProductionPolicy,
];

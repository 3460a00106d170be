import * as net from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { CronExpressionParser } from "cron-parser";
import { readLifecycle } from "./lifecycle";
import type {
  AllowedSourceModel,
  AuditLevel,
  AuditRuleModel,
  CisProfile,
  ClusterModel,
  DrainOptionsModel,
  EtcdModel,
  HardeningModel,
  MachineSelectorConfigModel,
  NodeModel,
  NodeRole,
  OperatorNamespaceModel,
  RancherConnection,
  ReconcilerModel,
  RegistriesModel,
  SshEndpoint,
  StackModel,
  UpgradeStrategyModel,
} from "./model";
import { type ConfigProblem, describeValue, ProblemCollector, setCommand } from "./problems";
import { DEFAULT_RECONCILER_IMAGE } from "../components/hardening/manifests";
import { DEFAULT_AUDIT_LEVEL } from "../components/host/auditPolicy";
import {
  defaultProfileFor,
  parseRke2Version,
  PROFILES,
  profilesFor,
  usesPodSecurityAdmission,
} from "./profiles";

/** The stack's configuration as Pulumi hands it over: values by key (without namespace), and which are secret. */
export interface RawStackConfig {
  readonly values: Readonly<Record<string, unknown>>;
  readonly secretKeys: ReadonlySet<string>;
  /**
   * Environment fallbacks for the two required secrets, for automation that keeps them out of stack files:
   * `RANCHER_TOKEN` for `rancherToken`, `SSH_PRIVATE_KEY` for `sshPrivateKey`.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Environment variables that stand in for a secret the stack does not set. */
export const SECRET_ENV_FALLBACKS: Readonly<Record<string, string>> = {
  rancherToken: "RANCHER_TOKEN",
  sshPrivateKey: "SSH_PRIVATE_KEY",
};

/** A secret from the stack, or from its environment variable when the stack leaves it empty. */
function secretSource(raw: RawStackConfig, key: string): { value: unknown; secret: boolean } {
  const value = raw.values[key];
  if (value !== undefined && value !== "") return { value, secret: raw.secretKeys.has(key) };
  const fromEnv = raw.env?.[SECRET_ENV_FALLBACKS[key] ?? ""];
  return { value: fromEnv === "" ? undefined : fromEnv, secret: true };
}

export interface ValidationResult {
  /** Present only when there are no errors. */
  readonly model?: StackModel;
  readonly problems: readonly ConfigProblem[];
}

export const TOP_LEVEL_KEYS = [
  "rancher",
  "rancherToken",
  "cluster",
  "nodes",
  "sshPrivateKey",
  "nodeSshPrivateKeys",
  "hardening",
  "lifecycle",
] as const;

export const ROLES: readonly NodeRole[] = ["etcd", "controlplane", "worker"];
export const AUDIT_LEVELS: readonly AuditLevel[] = ["None", "Metadata", "Request", "RequestResponse"];
const AUDIT_STAGES = ["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"];
const BUILTIN_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

/** Rancher's seed values: every default below that the reference template sets equals the template's value. */
export const SEED_DEFAULTS = {
  cni: "canal",
  chartValues: { "rke2-canal": {} },
  disableSnapshots: false,
  snapshotRetention: 5,
  snapshotScheduleCron: "0 */5 * * *",
  controlPlaneConcurrency: "10%",
  workerConcurrency: "10%",
  localAuthEndpointEnabled: false,
  fleetNamespace: "fleet-default",
  protectKernelDefaults: true,
} as const;

export const DEFAULT_PSA_TEMPLATE = "rancher-restricted";
export const DEFAULT_RECONCILER = {
  image: DEFAULT_RECONCILER_IMAGE,
  schedule: "*/5 * * * *",
  namespace: "cis-reconciler",
  networkPolicySelector: "hardened-rke2.io/network-policy=same-namespace",
} as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HOST_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,3}$/;
const CONCURRENCY = /^([1-9]\d*|([1-9]\d?|100)%)$/;
const CRON_DESCRIPTORS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

type Json = Record<string, unknown>;

/**
 * Validates a stack's raw configuration and builds the immutable model. Walks everything before giving up, so
 * that one run reports every problem; returns a model only when there are no errors (warnings allowed).
 */
export function validateStackConfig(raw: RawStackConfig): ValidationResult {
  const problems = new ProblemCollector();
  const v = new Reader(problems);

  for (const key of Object.keys(raw.values)) {
    if (!(TOP_LEVEL_KEYS as readonly string[]).includes(key)) v.unknownKey(key, TOP_LEVEL_KEYS);
  }

  const rancher = readRancher(v, raw);
  const cluster = readCluster(v, raw.values.cluster);
  const hardening = readHardening(v, raw.values.hardening);
  const nodes = readNodes(v, raw);

  if (cluster && nodes) checkClusterShape(v, nodes);
  if (cluster && hardening) checkCrossSection(v, cluster, hardening);
  const lifecycle = readLifecycle(problems, raw.values.lifecycle, nodes, cluster);

  if (problems.hasErrors || !rancher || !cluster || !nodes || !hardening) {
    return { problems: problems.problems };
  }
  return {
    model: deepFreeze({ rancher, cluster, nodes, hardening, lifecycle }),
    problems: problems.problems,
  };
}

function readRancher(v: Reader, raw: RawStackConfig): RancherConnection | undefined {
  const obj = v.object("rancher", raw.values.rancher, ["apiUrl", "caCerts", "insecure"], true);
  const token = readSecretString(v, raw, "rancherToken", "token-abcde:0123456789");
  if (!obj) return undefined;
  const apiUrl = v.string("rancher.apiUrl", obj.apiUrl, {
    required: true,
    example: "https://rancher.example.com",
  });
  if (apiUrl !== undefined && !/^https:\/\/[^\s/]+/.test(apiUrl)) {
    v.error("rancher.apiUrl", "Rancher's API URL must be an https URL.", {
      value: describeValue(apiUrl),
      allowed: "https://HOST[:PORT]",
      fix: setCommand("rancher.apiUrl", "https://rancher.example.com"),
    });
  }
  const caCerts = v.string("rancher.caCerts", obj.caCerts, {});
  const insecure = v.boolean("rancher.insecure", obj.insecure) ?? false;
  if (insecure && caCerts !== undefined) {
    v.error("rancher.insecure", "Set either a CA bundle (caCerts) or insecure, not both.", {
      value: "true",
      fix: `pulumi config set --path 'hardened-rke2:rancher.insecure' false`,
    });
  }
  if (apiUrl === undefined || token === undefined) return undefined;
  return { apiUrl: apiUrl.replace(/\/+$/, ""), token, caCerts, insecure };
}

function readSecretString(
  v: Reader,
  raw: RawStackConfig,
  key: string,
  example: string,
): pulumi.Output<string> | undefined {
  const { value, secret } = secretSource(raw, key);
  if (value === undefined) {
    v.error(key, `This secret is required (or the environment variable ${SECRET_ENV_FALLBACKS[key]}).`, {
      fix: `${setCommand(key, example, true)} (or pipe it in: cat FILE | pulumi config set --secret ${key})`,
    });
    return undefined;
  }
  if (typeof value !== "string") {
    v.error(key, "This secret must be a string.", { allowed: "a string set with --secret" });
    return undefined;
  }
  if (!secret) {
    // Never echo the value: it is the secret.
    v.error(key, "This value is stored in plain text; it must be a secret.", {
      fix: `pulumi config rm ${key}; then set it again with: cat FILE | pulumi config set --secret ${key}`,
    });
    return undefined;
  }
  return pulumi.secret(value);
}

function readCluster(v: Reader, value: unknown): ClusterModel | undefined {
  const obj = v.object(
    "cluster",
    value,
    [
      "name",
      "kubernetesVersion",
      "profile",
      "protectKernelDefaults",
      "cni",
      "chartValues",
      "machineGlobalConfig",
      "machineSelectorConfigs",
      "etcd",
      "upgradeStrategy",
      "registries",
      "labels",
      "annotations",
      "localAuthEndpoint",
      "agentEnvVars",
      "podSecurityAdmissionTemplate",
      "fleetNamespace",
      "uninstallNodesOnDestroy",
    ],
    true,
  );
  if (!obj) return undefined;

  const name = v.string("cluster.name", obj.name, { required: true, example: "prod-rke2" });
  if (name !== undefined && (!DNS_LABEL.test(name) || name.length > 63)) {
    v.error("cluster.name", "The cluster name must be a DNS-1123 label.", {
      value: describeValue(name),
      allowed: "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63",
      fix: setCommand("cluster.name", "prod-rke2"),
    });
  }

  const versionText = v.string("cluster.kubernetesVersion", obj.kubernetesVersion, {
    required: true,
    example: "v1.23.16+rke2r1",
  });
  const version = versionText === undefined ? undefined : parseRke2Version(versionText);
  if (versionText !== undefined && !version) {
    v.error("cluster.kubernetesVersion", "This is not an RKE2 release name.", {
      value: describeValue(versionText),
      allowed: "vMAJOR.MINOR.PATCH+rke2rN, e.g. v1.23.16+rke2r1 (as listed by Rancher)",
      fix: setCommand("cluster.kubernetesVersion", "v1.23.16+rke2r1"),
    });
  }

  let profile: CisProfile | undefined;
  const profileText = v.oneOf("cluster.profile", obj.profile, [...PROFILES, "none"]);
  if (profileText === "none") {
    v.warn(
      "cluster.profile",
      "The CIS profile is disabled: RKE2 will not enforce the host and runtime checks.",
      {
        fix: setCommand("cluster.profile", version ? defaultProfileFor(version) : "cis-1.6"),
      },
    );
  } else if (profileText !== undefined) {
    profile = profileText as CisProfile;
  } else if (obj.profile === undefined && version) {
    profile = defaultProfileFor(version);
  }
  if (profile && version && !profilesFor(version).includes(profile)) {
    const supported = profilesFor(version);
    v.error("cluster.profile", `RKE2 ${versionText} refuses the profile "${profile}" at start-up.`, {
      value: describeValue(profile),
      allowed: `${supported.join(", ")} for ${versionText}`,
      fix: setCommand("cluster.profile", defaultProfileFor(version)),
    });
  }

  const protectKernelDefaults =
    v.boolean("cluster.protectKernelDefaults", obj.protectKernelDefaults) ??
    SEED_DEFAULTS.protectKernelDefaults;
  if (profile && !protectKernelDefaults) {
    v.error(
      "cluster.protectKernelDefaults",
      `RKE2 exits at start-up when profile ${profile} is set with false.`,
      {
        value: "false",
        allowed: "true (or remove the key) with a CIS profile",
        fix: setCommand("cluster.protectKernelDefaults", "true"),
      },
    );
  }

  const psaText = v.string("cluster.podSecurityAdmissionTemplate", obj.podSecurityAdmissionTemplate, {});
  let podSecurityAdmissionTemplate: string | undefined;
  if (profile && usesPodSecurityAdmission(profile)) {
    podSecurityAdmissionTemplate = psaText ?? DEFAULT_PSA_TEMPLATE;
  } else if (psaText !== undefined) {
    if (profile) {
      v.error(
        "cluster.podSecurityAdmissionTemplate",
        `Profile ${profile} uses Pod Security Policies; a Pod Security Admission template needs cis-1.23 or cis.`,
        {
          value: describeValue(psaText),
          fix: `pulumi config rm --path 'hardened-rke2:cluster.podSecurityAdmissionTemplate'`,
        },
      );
    } else {
      podSecurityAdmissionTemplate = psaText;
    }
  }

  const cni = v.string("cluster.cni", obj.cni, {}) ?? SEED_DEFAULTS.cni;
  const chartValues = v.plainObject("cluster.chartValues", obj.chartValues) ?? SEED_DEFAULTS.chartValues;
  const machineGlobalConfig = v.plainObject("cluster.machineGlobalConfig", obj.machineGlobalConfig) ?? {};
  const machineSelectorConfigs = readMachineSelectorConfigs(v, obj.machineSelectorConfigs);
  const etcd = readEtcd(v, obj.etcd);
  const upgradeStrategy = readUpgradeStrategy(v, obj.upgradeStrategy);
  const registries = readRegistries(v, obj.registries);
  const labels = v.stringMap("cluster.labels", obj.labels) ?? {};
  const annotations = v.stringMap("cluster.annotations", obj.annotations) ?? {};
  const localAuthEndpoint = readLocalAuthEndpoint(v, obj.localAuthEndpoint);
  const agentEnvVars = readAgentEnvVars(v, obj.agentEnvVars);
  const fleetNamespace =
    v.string("cluster.fleetNamespace", obj.fleetNamespace, {}) ?? SEED_DEFAULTS.fleetNamespace;
  const uninstallNodesOnDestroy =
    v.boolean("cluster.uninstallNodesOnDestroy", obj.uninstallNodesOnDestroy) ?? false;

  if (name === undefined || versionText === undefined || !etcd || !upgradeStrategy || !registries)
    return undefined;
  return {
    name,
    kubernetesVersion: versionText,
    profile,
    protectKernelDefaults,
    cni,
    chartValues,
    machineGlobalConfig,
    machineSelectorConfigs,
    etcd,
    upgradeStrategy,
    registries,
    labels,
    annotations,
    localAuthEndpoint,
    agentEnvVars,
    podSecurityAdmissionTemplate,
    fleetNamespace,
    uninstallNodesOnDestroy,
  };
}

function readMachineSelectorConfigs(v: Reader, value: unknown): MachineSelectorConfigModel[] {
  const items = v.array("cluster.machineSelectorConfigs", value) ?? [];
  return items.flatMap((item, i) => {
    const path = `cluster.machineSelectorConfigs[${i}]`;
    const obj = v.object(path, item, ["config", "matchLabels"], true);
    if (!obj) return [];
    const config = v.plainObject(`${path}.config`, obj.config) ?? {};
    const matchLabels = v.stringMap(`${path}.matchLabels`, obj.matchLabels) ?? {};
    if (Object.keys(matchLabels).length === 0) {
      v.error(
        `${path}.matchLabels`,
        "An extra selector config needs labels; cluster-wide settings go in machineGlobalConfig.",
        {
          fix: setCommand(`${path}.matchLabels["rke.cattle.io/control-plane-role"]`, "true"),
        },
      );
    }
    for (const reserved of ["profile", "protect-kernel-defaults"]) {
      if (reserved in config) {
        v.error(
          `${path}.config.${reserved}`,
          "The hardening flags are set cluster-wide from cluster.profile and cluster.protectKernelDefaults.",
          {
            fix: `pulumi config rm --path 'hardened-rke2:${path}.config.${reserved}'`,
          },
        );
      }
    }
    return [{ config, matchLabels }];
  });
}

function readEtcd(v: Reader, value: unknown): EtcdModel | undefined {
  const obj = v.object("cluster.etcd", value ?? {}, [
    "disableSnapshots",
    "snapshotRetention",
    "snapshotScheduleCron",
    "s3",
  ]);
  if (!obj) return undefined;
  const disableSnapshots =
    v.boolean("cluster.etcd.disableSnapshots", obj.disableSnapshots) ?? SEED_DEFAULTS.disableSnapshots;
  if (disableSnapshots) {
    v.warn(
      "cluster.etcd.disableSnapshots",
      "etcd snapshots are disabled: a lost control plane cannot be restored.",
    );
  }
  const snapshotRetention =
    v.integer("cluster.etcd.snapshotRetention", obj.snapshotRetention, { min: 1 }) ??
    SEED_DEFAULTS.snapshotRetention;
  const snapshotScheduleCron =
    v.cron("cluster.etcd.snapshotScheduleCron", obj.snapshotScheduleCron) ??
    SEED_DEFAULTS.snapshotScheduleCron;
  let s3: EtcdModel["s3"];
  if (obj.s3 !== undefined) {
    const s = v.object("cluster.etcd.s3", obj.s3, [
      "bucket",
      "endpoint",
      "cloudCredentialName",
      "endpointCa",
      "folder",
      "region",
      "skipSslVerify",
    ]);
    if (s) {
      const bucket = v.string("cluster.etcd.s3.bucket", s.bucket, {
        required: true,
        example: "etcd-snapshots",
      });
      const endpoint = v.string("cluster.etcd.s3.endpoint", s.endpoint, {
        required: true,
        example: "s3.eu-west-1.amazonaws.com",
      });
      const skipSslVerify = v.boolean("cluster.etcd.s3.skipSslVerify", s.skipSslVerify) ?? false;
      if (skipSslVerify)
        v.warn(
          "cluster.etcd.s3.skipSslVerify",
          "Snapshots are uploaded without verifying the endpoint's certificate.",
        );
      if (bucket !== undefined && endpoint !== undefined) {
        s3 = {
          bucket,
          endpoint,
          cloudCredentialName: v.string("cluster.etcd.s3.cloudCredentialName", s.cloudCredentialName, {}),
          endpointCa: v.string("cluster.etcd.s3.endpointCa", s.endpointCa, {}),
          folder: v.string("cluster.etcd.s3.folder", s.folder, {}),
          region: v.string("cluster.etcd.s3.region", s.region, {}),
          skipSslVerify,
        };
      }
    }
  }
  return { disableSnapshots, snapshotRetention, snapshotScheduleCron, s3 };
}

const DRAIN_KEYS = [
  "enabled",
  "deleteEmptyDirData",
  "disableEviction",
  "force",
  "gracePeriod",
  "ignoreDaemonSets",
  "ignoreErrors",
  "skipWaitForDeleteTimeoutSeconds",
  "timeout",
] as const;

function readDrainOptions(v: Reader, path: string, value: unknown): DrainOptionsModel | undefined {
  if (value === undefined) return undefined;
  const obj = v.object(path, value, DRAIN_KEYS);
  if (!obj) return undefined;
  const result: Record<string, boolean | number> = {};
  for (const key of DRAIN_KEYS) {
    const isNumber = key === "gracePeriod" || key === "skipWaitForDeleteTimeoutSeconds" || key === "timeout";
    const read = isNumber
      ? v.integer(`${path}.${key}`, obj[key], { min: key === "gracePeriod" ? -1 : 0 })
      : v.boolean(`${path}.${key}`, obj[key]);
    if (read !== undefined) result[key] = read;
  }
  return result;
}

function readUpgradeStrategy(v: Reader, value: unknown): UpgradeStrategyModel | undefined {
  const obj = v.object("cluster.upgradeStrategy", value ?? {}, [
    "controlPlaneConcurrency",
    "workerConcurrency",
    "controlPlaneDrainOptions",
    "workerDrainOptions",
  ]);
  if (!obj) return undefined;
  const concurrency = (key: "controlPlaneConcurrency" | "workerConcurrency"): string => {
    const path = `cluster.upgradeStrategy.${key}`;
    const raw = obj[key];
    if (raw === undefined) return SEED_DEFAULTS[key];
    const text = typeof raw === "number" ? String(raw) : raw;
    if (typeof text !== "string" || !CONCURRENCY.test(text)) {
      v.error(path, "Concurrency must be a count of nodes or a percentage.", {
        value: describeValue(raw),
        allowed: 'a whole number ≥ 1 ("1") or a percentage from 1% to 100% ("10%")',
        fix: setCommand(path, "10%"),
      });
      return SEED_DEFAULTS[key];
    }
    return text;
  };
  return {
    controlPlaneConcurrency: concurrency("controlPlaneConcurrency"),
    workerConcurrency: concurrency("workerConcurrency"),
    controlPlaneDrainOptions: readDrainOptions(
      v,
      "cluster.upgradeStrategy.controlPlaneDrainOptions",
      obj.controlPlaneDrainOptions,
    ),
    workerDrainOptions: readDrainOptions(
      v,
      "cluster.upgradeStrategy.workerDrainOptions",
      obj.workerDrainOptions,
    ),
  };
}

function readRegistries(v: Reader, value: unknown): RegistriesModel | undefined {
  const obj = v.object("cluster.registries", value ?? {}, ["configs", "mirrors"]);
  if (!obj) return undefined;
  const configs = (v.array("cluster.registries.configs", obj.configs) ?? []).flatMap((item, i) => {
    const path = `cluster.registries.configs[${i}]`;
    const c = v.object(path, item, [
      "hostname",
      "authConfigSecretName",
      "caBundle",
      "insecure",
      "tlsSecretName",
    ]);
    if (!c) return [];
    const hostname = v.string(`${path}.hostname`, c.hostname, {
      required: true,
      example: "registry.example.com",
    });
    const insecure = v.boolean(`${path}.insecure`, c.insecure);
    if (insecure)
      v.warn(`${path}.insecure`, "Images from this registry are pulled without TLS verification.");
    if (hostname === undefined) return [];
    return [
      {
        hostname,
        authConfigSecretName: v.string(`${path}.authConfigSecretName`, c.authConfigSecretName, {}),
        caBundle: v.string(`${path}.caBundle`, c.caBundle, {}),
        insecure,
        tlsSecretName: v.string(`${path}.tlsSecretName`, c.tlsSecretName, {}),
      },
    ];
  });
  const mirrors = (v.array("cluster.registries.mirrors", obj.mirrors) ?? []).flatMap((item, i) => {
    const path = `cluster.registries.mirrors[${i}]`;
    const m = v.object(path, item, ["hostname", "endpoints", "rewrites"]);
    if (!m) return [];
    const hostname = v.string(`${path}.hostname`, m.hostname, { required: true, example: "docker.io" });
    const endpoints = v.stringArray(`${path}.endpoints`, m.endpoints) ?? [];
    if (endpoints.length === 0) {
      v.error(`${path}.endpoints`, "A mirror needs at least one endpoint.", {
        fix: setCommand(`${path}.endpoints[0]`, "https://mirror.example.com"),
      });
    }
    if (hostname === undefined) return [];
    return [{ hostname, endpoints, rewrites: v.stringMap(`${path}.rewrites`, m.rewrites) ?? {} }];
  });
  return { configs, mirrors };
}

function readLocalAuthEndpoint(v: Reader, value: unknown): ClusterModel["localAuthEndpoint"] {
  const obj = v.object("cluster.localAuthEndpoint", value ?? {}, ["enabled", "fqdn", "caCerts"]) ?? {};
  const enabled =
    v.boolean("cluster.localAuthEndpoint.enabled", obj.enabled) ?? SEED_DEFAULTS.localAuthEndpointEnabled;
  return {
    enabled,
    fqdn: v.string("cluster.localAuthEndpoint.fqdn", obj.fqdn, {}),
    caCerts: v.string("cluster.localAuthEndpoint.caCerts", obj.caCerts, {}),
  };
}

function readAgentEnvVars(v: Reader, value: unknown): ClusterModel["agentEnvVars"] {
  return (v.array("cluster.agentEnvVars", value) ?? []).flatMap((item, i) => {
    const path = `cluster.agentEnvVars[${i}]`;
    const obj = v.object(path, item, ["name", "value"]);
    if (!obj) return [];
    const name = v.string(`${path}.name`, obj.name, { required: true, example: "HTTP_PROXY" });
    const envValue = v.string(`${path}.value`, obj.value, {
      required: true,
      allowEmpty: true,
      example: "http://proxy:3128",
    });
    return name === undefined || envValue === undefined ? [] : [{ name, value: envValue }];
  });
}

const NODE_KEYS = ["name", "address", "sshPort", "user", "roles", "hostKey", "bastion", "labels"];

function readNodes(v: Reader, raw: RawStackConfig): NodeModel[] | undefined {
  const items = v.array("nodes", raw.values.nodes, true);
  if (items !== undefined && items.length === 0) {
    v.error("nodes", "The stack needs at least one node.", {
      fix: `pulumi config set --path 'hardened-rke2:nodes[0].name' server-1 (and .address, .roles[0])`,
    });
  }
  const sharedKey = readSharedKey(v, raw);
  const perNodeKeys = readPerNodeKeys(v, raw);
  if (!items) return undefined;

  const nodes: NodeModel[] = [];
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  items.forEach((item, i) => {
    const path = `nodes[${i}]`;
    // Key fields are accepted here only to reject them with a message about secrecy rather than a typo.
    const obj = v.object(path, item, [...NODE_KEYS, "sshPrivateKey", "privateKey"]);
    if (!obj) return;
    if (typeof obj.sshPrivateKey === "string" || typeof obj.privateKey === "string") {
      v.error(
        `${path}`,
        "A private key must never sit in the nodes list (it would be stored in plain text).",
        {
          fix: `pulumi config rm --path 'hardened-rke2:${path}.sshPrivateKey'; cat KEY | pulumi config set --secret --path 'hardened-rke2:nodeSshPrivateKeys.NODE'`,
        },
      );
    }
    const name = v.string(`${path}.name`, obj.name, { required: true, example: `node-${i + 1}` });
    if (name !== undefined) {
      if (!DNS_LABEL.test(name) || name.length > 63) {
        v.error(
          `${path}.name`,
          "A node name must be a DNS-1123 label (it names resources and the Kubernetes node).",
          {
            value: describeValue(name),
            allowed: "lower-case letters, digits and '-', at most 63",
            fix: setCommand(`${path}.name`, `node-${i + 1}`),
          },
        );
      }
      const first = names.get(name);
      if (first !== undefined) {
        v.error(`${path}.name`, `This name is already used by nodes[${first}].`, {
          value: describeValue(name),
          allowed: "a name no other node has",
          fix: setCommand(`${path}.name`, `${name}-${i + 1}`),
        });
      } else {
        names.set(name, i);
      }
    }
    const address = v.string(`${path}.address`, obj.address, { required: true, example: "10.0.0.11" });
    if (address !== undefined) {
      if (/\s/.test(address)) {
        v.error(`${path}.address`, "An address must be an IP address or a DNS name.", {
          value: describeValue(address),
        });
      }
      const first = addresses.get(address);
      if (first !== undefined) {
        v.error(`${path}.address`, `This address is already used by nodes[${first}].`, {
          value: describeValue(address),
          allowed: "an address no other node has",
          fix: setCommand(`${path}.address`, "10.0.0.12"),
        });
      } else {
        addresses.set(address, i);
      }
    }
    const port = v.integer(`${path}.sshPort`, obj.sshPort, { min: 1, max: 65535 }) ?? 22;
    const user = v.string(`${path}.user`, obj.user, {}) ?? "root";
    const hostKey = v.hostKey(`${path}.hostKey`, obj.hostKey);
    const roles = readRoles(v, `${path}.roles`, obj.roles);
    const bastion = readBastion(v, `${path}.bastion`, obj.bastion);
    const labels = v.stringMap(`${path}.labels`, obj.labels) ?? {};
    if (hostKey === undefined && obj.hostKey === undefined) {
      v.warn(`${path}.hostKey`, "The SSH host key is not pinned, so the node's identity is not verified.", {
        fix: `${setCommand(`${path}.hostKey`, "ssh-ed25519 AAAA...")} (from: ssh-keyscan -t ed25519 HOST)`,
      });
    }
    const privateKey = (name !== undefined ? perNodeKeys?.get(name) : undefined) ?? sharedKey;
    if (privateKey === undefined && name !== undefined && !v.reported("sshPrivateKey")) {
      v.error(
        "sshPrivateKey",
        `Node ${name} has no SSH private key: set the shared key or one for this node.`,
        {
          fix: `cat ~/.ssh/id_ed25519 | pulumi config set --secret sshPrivateKey`,
        },
      );
    }
    if (name === undefined || address === undefined || roles === undefined || privateKey === undefined)
      return;
    nodes.push({
      name,
      address,
      ssh: { host: address, port, user, hostKey },
      privateKey,
      roles,
      bastion,
      labels,
    });
  });
  if (perNodeKeys) {
    for (const keyName of perNodeKeys.keys()) {
      if (!names.has(keyName)) {
        v.error(`nodeSshPrivateKeys.${keyName}`, "No node has this name, so this key would never be used.", {
          allowed: [...names.keys()].join(", ") || "the name of a node",
          fix: `pulumi config rm --path 'hardened-rke2:nodeSshPrivateKeys.${keyName}'`,
        });
      }
    }
  }
  return nodes.length === items.length ? nodes : undefined;
}

function readSharedKey(v: Reader, raw: RawStackConfig): pulumi.Output<string> | undefined {
  const { value, secret } = secretSource(raw, "sshPrivateKey");
  if (value === undefined) return undefined;
  if (!secret) {
    v.error("sshPrivateKey", "The SSH private key is stored in plain text; it must be a secret.", {
      fix: "pulumi config rm sshPrivateKey; cat ~/.ssh/id_ed25519 | pulumi config set --secret sshPrivateKey",
    });
    return undefined;
  }
  if (typeof value !== "string" || !PRIVATE_KEY.test(value)) {
    v.error("sshPrivateKey", "This is not a PEM or OpenSSH private key.", {
      allowed: "the contents of a private key file (-----BEGIN ... PRIVATE KEY-----)",
      fix: "cat ~/.ssh/id_ed25519 | pulumi config set --secret sshPrivateKey",
    });
    return undefined;
  }
  return pulumi.secret(value);
}

function readPerNodeKeys(v: Reader, raw: RawStackConfig): Map<string, pulumi.Output<string>> | undefined {
  const value = raw.values.nodeSshPrivateKeys;
  if (value === undefined || (isPlainObject(value) && Object.keys(value).length === 0)) return undefined;
  if (!raw.secretKeys.has("nodeSshPrivateKeys")) {
    v.error(
      "nodeSshPrivateKeys",
      "Per-node SSH private keys are stored in plain text; they must be secrets.",
      {
        fix: "pulumi config rm nodeSshPrivateKeys; cat KEY | pulumi config set --secret --path 'hardened-rke2:nodeSshPrivateKeys.NODE'",
      },
    );
    return undefined;
  }
  if (!isPlainObject(value)) {
    v.error("nodeSshPrivateKeys", "Per-node keys must be a map from node name to private key.");
    return undefined;
  }
  const keys = new Map<string, pulumi.Output<string>>();
  for (const [node, key] of Object.entries(value)) {
    if (typeof key !== "string" || !PRIVATE_KEY.test(key)) {
      v.error(`nodeSshPrivateKeys.${node}`, "This is not a PEM or OpenSSH private key.", {
        fix: `cat KEY | pulumi config set --secret --path 'hardened-rke2:nodeSshPrivateKeys.${node}'`,
      });
      continue;
    }
    keys.set(node, pulumi.secret(key));
  }
  return keys;
}

function readRoles(v: Reader, path: string, value: unknown): NodeRole[] | undefined {
  const roles = v.stringArray(path, value, true);
  if (roles === undefined) return undefined;
  if (roles.length === 0) {
    v.error(path, "A node needs at least one role.", {
      allowed: ROLES.join(", "),
      fix: setCommand(`${path}[0]`, "worker"),
    });
    return undefined;
  }
  let ok = true;
  roles.forEach((role, i) => {
    if (!(ROLES as readonly string[]).includes(role)) {
      ok = false;
      v.error(path, `"${role}" is not a node role.`, {
        value: describeValue(role),
        allowed: ROLES.join(", "),
        fix: setCommand(`${path}[${i}]`, closest(role, ROLES) ?? "worker"),
      });
    }
  });
  if (new Set(roles).size !== roles.length) {
    ok = false;
    v.error(path, "A role is listed twice.", {
      value: describeValue(roles),
      allowed: "each role at most once",
    });
  }
  return ok ? (roles as NodeRole[]) : undefined;
}

function readBastion(v: Reader, path: string, value: unknown): SshEndpoint | undefined {
  if (value === undefined) return undefined;
  const obj = v.object(path, value, ["host", "port", "user", "hostKey"]);
  if (!obj) return undefined;
  const host = v.string(`${path}.host`, obj.host, { required: true, example: "bastion.example.com" });
  const port = v.integer(`${path}.port`, obj.port, { min: 1, max: 65535 }) ?? 22;
  const user = v.string(`${path}.user`, obj.user, {}) ?? "root";
  const hostKey = v.hostKey(`${path}.hostKey`, obj.hostKey);
  return host === undefined ? undefined : { host, port, user, hostKey };
}

function checkClusterShape(v: Reader, nodes: readonly NodeModel[]): void {
  const count = (role: NodeRole) => nodes.filter((n) => n.roles.includes(role)).length;
  const etcd = count("etcd");
  const fix = (role: NodeRole) => setCommand(`nodes[0].roles[${nodes[0]?.roles.length ?? 0}]`, role);
  if (etcd === 0) {
    v.error("nodes", "No node has the etcd role; the cluster cannot store its state.", {
      allowed: "at least one etcd node",
      fix: fix("etcd"),
    });
  } else if (etcd % 2 === 0) {
    v.warn(
      "nodes",
      `${etcd} etcd nodes: an even count tolerates no more failures than ${etcd - 1} and risks a split vote.`,
      {
        allowed: "an odd number of etcd nodes (1, 3, 5)",
      },
    );
  }
  if (count("controlplane") === 0) {
    v.error("nodes", "No node has the controlplane role; the cluster has no API server.", {
      allowed: "at least one controlplane node",
      fix: fix("controlplane"),
    });
  }
  if (count("worker") === 0) {
    v.error(
      "nodes",
      "No node has the worker role; Rancher waits for one before the cluster becomes Active.",
      {
        allowed: "at least one worker node",
        fix: fix("worker"),
      },
    );
  }
}

function checkCrossSection(v: Reader, cluster: ClusterModel, hardening: HardeningModel): void {
  if (!cluster.profile && hardening.reconciler.enabled) {
    v.warn(
      "hardening.reconciler",
      "Without a CIS profile, RKE2 does not enforce Pod Security; the reconciler still runs restricted.",
    );
  }
}

function readHardening(v: Reader, value: unknown): HardeningModel | undefined {
  const obj = v.object("hardening", value ?? {}, [
    "auditPolicyLevel",
    "auditRules",
    "namespaces",
    "etcdUserOnAllNodes",
    "allowExistingInstall",
    "reconciler",
  ]);
  if (!obj) return undefined;
  const auditPolicyLevel = (v.oneOf("hardening.auditPolicyLevel", obj.auditPolicyLevel, AUDIT_LEVELS) ??
    DEFAULT_AUDIT_LEVEL) as AuditLevel;
  if (auditPolicyLevel === "None") {
    v.warn(
      "hardening.auditPolicyLevel",
      "Level None records no requests: the audit log stays empty (CIS 1.2.22-1.2.25 pass only on paper).",
    );
  }
  const auditRules = (v.array("hardening.auditRules", obj.auditRules) ?? []).flatMap((rule, i) => {
    const parsed = readAuditRule(v, `hardening.auditRules[${i}]`, rule);
    return parsed ? [parsed] : [];
  });
  const namespaces = readNamespaces(v, obj.namespaces);
  const reconciler = readReconciler(v, obj.reconciler);
  if (!reconciler) return undefined;
  return {
    auditPolicyLevel,
    auditRules,
    namespaces,
    etcdUserOnAllNodes: v.boolean("hardening.etcdUserOnAllNodes", obj.etcdUserOnAllNodes) ?? false,
    allowExistingInstall: v.boolean("hardening.allowExistingInstall", obj.allowExistingInstall) ?? false,
    reconciler,
  };
}

function readAuditRule(v: Reader, path: string, value: unknown): AuditRuleModel | undefined {
  const obj = v.object(path, value, [
    "level",
    "users",
    "userGroups",
    "verbs",
    "resources",
    "namespaces",
    "nonResourceURLs",
    "omitStages",
  ]);
  if (!obj) return undefined;
  const level = v.oneOf(`${path}.level`, obj.level, AUDIT_LEVELS, true) as AuditLevel | undefined;
  const resources = (v.array(`${path}.resources`, obj.resources) ?? []).flatMap((r, i) => {
    const rp = `${path}.resources[${i}]`;
    const ro = v.object(rp, r, ["group", "resources", "resourceNames"]);
    if (!ro) return [];
    return [
      {
        group: v.string(`${rp}.group`, ro.group, { allowEmpty: true }),
        resources: v.stringArray(`${rp}.resources`, ro.resources),
        resourceNames: v.stringArray(`${rp}.resourceNames`, ro.resourceNames),
      },
    ];
  });
  const omitStages = v.stringArray(`${path}.omitStages`, obj.omitStages);
  omitStages?.forEach((stage, i) => {
    if (!AUDIT_STAGES.includes(stage)) {
      v.error(`${path}.omitStages[${i}]`, `"${stage}" is not an audit stage.`, {
        allowed: AUDIT_STAGES.join(", "),
      });
    }
  });
  if (level === undefined) return undefined;
  const rule: AuditRuleModel = {
    level,
    users: v.stringArray(`${path}.users`, obj.users),
    userGroups: v.stringArray(`${path}.userGroups`, obj.userGroups),
    verbs: v.stringArray(`${path}.verbs`, obj.verbs),
    resources: obj.resources === undefined ? undefined : resources,
    namespaces: v.stringArray(`${path}.namespaces`, obj.namespaces),
    nonResourceURLs: v.stringArray(`${path}.nonResourceURLs`, obj.nonResourceURLs),
    omitStages,
  };
  return Object.fromEntries(
    Object.entries(rule).filter(([, x]) => x !== undefined),
  ) as unknown as AuditRuleModel;
}

function readNamespaces(v: Reader, value: unknown): OperatorNamespaceModel[] {
  const seen = new Map<string, number>();
  return (v.array("hardening.namespaces", value) ?? []).flatMap((item, i) => {
    const path = `hardening.namespaces[${i}]`;
    const obj = v.object(path, item, ["name", "create", "labels", "allowFrom"]);
    if (!obj) return [];
    const name = v.string(`${path}.name`, obj.name, { required: true, example: "payments" });
    if (name !== undefined) {
      if (!DNS_LABEL.test(name) || name.length > 63) {
        v.error(`${path}.name`, "A namespace name must be a DNS-1123 label.", { value: describeValue(name) });
      } else if (BUILTIN_NAMESPACES.includes(name)) {
        v.error(
          `${path}.name`,
          "Built-in namespaces are hardened by RKE2's profile and this program already.",
          {
            value: describeValue(name),
            allowed: `any namespace but ${BUILTIN_NAMESPACES.join(", ")}`,
            fix: `pulumi config rm --path 'hardened-rke2:${path}'`,
          },
        );
      } else if (seen.has(name)) {
        v.error(
          `${path}.name`,
          `This namespace is already declared at hardening.namespaces[${seen.get(name)}].`,
          {
            value: describeValue(name),
          },
        );
      } else {
        seen.set(name, i);
      }
    }
    const allowFrom = (v.array(`${path}.allowFrom`, obj.allowFrom) ?? []).flatMap((src, j) => {
      const parsed = readAllowedSource(v, `${path}.allowFrom[${j}]`, src);
      return parsed ? [parsed] : [];
    });
    if (name === undefined) return [];
    return [
      {
        name,
        create: v.boolean(`${path}.create`, obj.create) ?? false,
        labels: v.stringMap(`${path}.labels`, obj.labels) ?? {},
        allowFrom,
      },
    ];
  });
}

function readAllowedSource(v: Reader, path: string, value: unknown): AllowedSourceModel | undefined {
  const obj = v.object(path, value, ["namespace", "cidr"]);
  if (!obj) return undefined;
  const namespace = v.string(`${path}.namespace`, obj.namespace, {});
  const cidr = v.string(`${path}.cidr`, obj.cidr, {});
  if ((namespace === undefined) === (cidr === undefined)) {
    v.error(path, "An allowed source names exactly one of namespace or cidr.", {
      value: describeValue(value),
      fix: setCommand(`${path}.namespace`, "ingress-nginx"),
    });
    return undefined;
  }
  if (cidr !== undefined && !isCidr(cidr)) {
    v.error(`${path}.cidr`, "This is not a CIDR block.", {
      value: describeValue(cidr),
      allowed: "ADDRESS/PREFIX, e.g. 10.0.0.0/8 or fd00::/8",
      fix: setCommand(`${path}.cidr`, "10.0.0.0/8"),
    });
    return undefined;
  }
  return namespace !== undefined ? { namespace } : { cidr };
}

function readReconciler(v: Reader, value: unknown): ReconcilerModel | undefined {
  const obj = v.object("hardening.reconciler", value ?? {}, [
    "enabled",
    "image",
    "schedule",
    "excludeNamespaces",
    "networkPolicySelector",
    "namespace",
  ]);
  if (!obj) return undefined;
  const namespace =
    v.string("hardening.reconciler.namespace", obj.namespace, {}) ?? DEFAULT_RECONCILER.namespace;
  if (!DNS_LABEL.test(namespace)) {
    v.error("hardening.reconciler.namespace", "A namespace name must be a DNS-1123 label.", {
      value: describeValue(namespace),
    });
  }
  const selector =
    v.string("hardening.reconciler.networkPolicySelector", obj.networkPolicySelector, {}) ??
    DEFAULT_RECONCILER.networkPolicySelector;
  if (!/^[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?(,[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?)*$/.test(selector)) {
    v.error("hardening.reconciler.networkPolicySelector", "This is not an equality-based label selector.", {
      value: describeValue(selector),
      allowed: "key=value[,key2=value2] or key (label exists)",
      fix: setCommand("hardening.reconciler.networkPolicySelector", DEFAULT_RECONCILER.networkPolicySelector),
    });
  }
  return {
    enabled: v.boolean("hardening.reconciler.enabled", obj.enabled) ?? true,
    image: v.string("hardening.reconciler.image", obj.image, {}) ?? DEFAULT_RECONCILER.image,
    schedule: v.cron("hardening.reconciler.schedule", obj.schedule) ?? DEFAULT_RECONCILER.schedule,
    excludeNamespaces: v.stringArray("hardening.reconciler.excludeNamespaces", obj.excludeNamespaces) ?? [],
    networkPolicySelector: selector,
    namespace,
  };
}

function isCidr(text: string): boolean {
  const [address, prefix, ...rest] = text.split("/");
  if (rest.length > 0 || address === undefined || prefix === undefined || !/^\d{1,3}$/.test(prefix))
    return false;
  const family = net.isIP(address);
  return family !== 0 && Number(prefix) <= (family === 4 ? 32 : 128);
}

function isPlainObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The known name nearest to a typo, if it is near enough to be a likely intent. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

function deepFreeze<T>(value: T): T {
  if (
    typeof value === "object" &&
    value !== null &&
    !pulumi.Output.isInstance(value) &&
    !Object.isFrozen(value)
  ) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Typed reads of raw values that report a problem (and return undefined) instead of throwing. */
class Reader {
  constructor(private readonly problems: ProblemCollector) {}

  error: ProblemCollector["error"] = (...args) => this.problems.error(...args);
  warn: ProblemCollector["warn"] = (...args) => this.problems.warn(...args);

  reported(path: string): boolean {
    return this.problems.problems.some((p) => p.key === `hardened-rke2:${path}`);
  }

  missing(path: string, example: string): void {
    this.error(path, "This key is required.", { fix: setCommand(path, example) });
  }

  unknownKey(path: string, known: readonly string[]): void {
    const name =
      path
        .split(/[.[\]]/)
        .filter(Boolean)
        .pop() ?? path;
    const suggestion = closest(name, known);
    this.error(path, `Unknown key${suggestion ? `; did you mean "${suggestion}"?` : "."}`, {
      allowed: known.join(", "),
      fix: `pulumi config rm --path 'hardened-rke2:${path}'${suggestion ? ` and set '${path.slice(0, path.length - name.length)}${suggestion}' instead` : ""}`,
    });
  }

  object(path: string, value: unknown, known: readonly string[], required = false): Json | undefined {
    if (value === undefined) {
      if (required)
        this.error(path, "This key is required.", {
          fix: `pulumi config set --path 'hardened-rke2:${path}.KEY' VALUE`,
        });
      return undefined;
    }
    if (!isPlainObject(value)) {
      this.error(path, "This must be an object (a YAML map).", { value: describeValue(value) });
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) this.unknownKey(`${path}.${key}`, known);
    }
    return value;
  }

  plainObject(path: string, value: unknown): Json | undefined {
    if (value === undefined) return undefined;
    if (!isPlainObject(value)) {
      this.error(path, "This must be an object (a YAML map).", { value: describeValue(value) });
      return undefined;
    }
    return value;
  }

  array(path: string, value: unknown, required = false): unknown[] | undefined {
    if (value === undefined) {
      if (required)
        this.error(path, "This key is required.", {
          fix: `pulumi config set --path 'hardened-rke2:${path}[0]' VALUE`,
        });
      return undefined;
    }
    if (!Array.isArray(value)) {
      this.error(path, "This must be a list.", { value: describeValue(value) });
      return undefined;
    }
    return value as unknown[];
  }

  string(
    path: string,
    value: unknown,
    opts: { required?: boolean; example?: string; allowEmpty?: boolean },
  ): string | undefined {
    if (value === undefined || value === null) {
      if (opts.required) this.missing(path, opts.example ?? "VALUE");
      return undefined;
    }
    if (typeof value !== "string") {
      this.error(path, "This must be a string.", {
        value: describeValue(value),
        fix: setCommand(path, opts.example ?? "VALUE"),
      });
      return undefined;
    }
    if (value.trim() === "" && !opts.allowEmpty) {
      this.error(path, "This must not be empty.", {
        value: '""',
        fix: setCommand(path, opts.example ?? "VALUE"),
      });
      return undefined;
    }
    return value;
  }

  stringArray(path: string, value: unknown, required = false): string[] | undefined {
    const items = this.array(path, value, required);
    if (!items) return undefined;
    const bad = items.findIndex((item) => typeof item !== "string");
    if (bad >= 0) {
      this.error(`${path}[${bad}]`, "This must be a string.", { value: describeValue(items[bad]) });
      return undefined;
    }
    return items as string[];
  }

  stringMap(path: string, value: unknown): Record<string, string> | undefined {
    const obj = this.plainObject(path, value);
    if (!obj) return undefined;
    for (const [key, item] of Object.entries(obj)) {
      if (typeof item !== "string") {
        this.error(`${path}.${key}`, "Map values must be strings (quote numbers and booleans).", {
          value: describeValue(item),
        });
        return undefined;
      }
    }
    return obj as Record<string, string>;
  }

  boolean(path: string, value: unknown): boolean | undefined {
    if (value === undefined) return undefined;
    // Pulumi stores `pulumi config set k true` as the string "true".
    if (value === "true" || value === "false") return value === "true";
    if (typeof value !== "boolean") {
      this.error(path, "This must be true or false.", {
        value: describeValue(value),
        allowed: "true, false",
        fix: setCommand(path, "true"),
      });
      return undefined;
    }
    return value;
  }

  integer(path: string, value: unknown, range: { min?: number; max?: number }): number | undefined {
    if (value === undefined) return undefined;
    const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
    const min = range.min ?? -Infinity;
    const max = range.max ?? Infinity;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      const allowed =
        range.max !== undefined ? `a whole number from ${min} to ${max}` : `a whole number ≥ ${min}`;
      this.error(path, "This number is out of range.", {
        value: describeValue(value),
        allowed,
        fix: setCommand(
          path,
          String(
            Math.max(min, Math.min(max, typeof n === "number" && Number.isFinite(n) ? Math.round(n) : min)),
          ),
        ),
      });
      return undefined;
    }
    return n;
  }

  oneOf(path: string, value: unknown, allowed: readonly string[], required = false): string | undefined {
    if (value === undefined) {
      if (required)
        this.error(path, "This key is required.", {
          allowed: allowed.join(", "),
          fix: setCommand(path, allowed[0] ?? ""),
        });
      return undefined;
    }
    if (typeof value !== "string" || !allowed.includes(value)) {
      const suggestion = typeof value === "string" ? closest(value, allowed) : undefined;
      this.error(path, `${describeValue(value)} is not one of the allowed values.`, {
        value: describeValue(value),
        allowed: allowed.join(", "),
        fix: setCommand(path, suggestion ?? allowed[0] ?? ""),
      });
      return undefined;
    }
    return value;
  }

  cron(path: string, value: unknown): string | undefined {
    if (value === undefined) return undefined;
    const text = typeof value === "string" ? value.trim() : undefined;
    let valid = false;
    if (text !== undefined) {
      if (CRON_DESCRIPTORS.includes(text)) {
        valid = true;
      } else if (text.split(/\s+/).length === 5) {
        try {
          CronExpressionParser.parse(text);
          valid = true;
        } catch {
          valid = false;
        }
      }
    }
    if (!valid || text === undefined) {
      this.error(path, "This is not a cron expression with five fields.", {
        value: describeValue(value),
        allowed: `MINUTE HOUR DAY MONTH WEEKDAY (e.g. "0 */5 * * *") or ${CRON_DESCRIPTORS.join(", ")}`,
        fix: setCommand(path, "0 */5 * * *"),
      });
      return undefined;
    }
    return text;
  }

  hostKey(path: string, value: unknown): string | undefined {
    const text = this.string(path, value, {});
    if (text === undefined) return undefined;
    const trimmed = text.trim().split(/\s+/).slice(0, 2).join(" ");
    if (!HOST_KEY.test(trimmed)) {
      this.error(path, "This is not an SSH public host key.", {
        value: describeValue(text),
        allowed: "TYPE BASE64 as printed by ssh-keyscan (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa)",
        fix: `${setCommand(path, "ssh-ed25519 AAAA...")} (from: ssh-keyscan -t ed25519 HOST)`,
      });
      return undefined;
    }
    return trimmed;
  }
}

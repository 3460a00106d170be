import * as semver from "semver";
import type { CisProfile, ClusterModel, EtcdModel, MachineSelectorConfigModel } from "../model";
import { describeValue, setCommand } from "../problems";
import { childPath, type Json, type Reader } from "../reader";
import {
  DNS_SUBDOMAIN_RULE,
  RKE2_CNI_RULE,
  enforcesNetworkPolicies,
  isDnsSubdomain,
  isHostName,
  isHostPort,
  isRke2Cni,
} from "../grammar";
import {
  defaultProfileFor,
  parseRke2Version,
  PROFILES,
  profilesFor,
  usesPodSecurityAdmission,
} from "../profiles";
import { readRegistries, readUpgradeStrategy } from "./upgradeAndRegistries";

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

/** The oldest Kubernetes the hardening guide (CIS Benchmark v1.6) covers. */
const GUIDE_OLDEST_KUBERNETES = "1.21.0";

const CLUSTER_KEYS = [
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
];

export function readCluster(v: Reader, value: unknown): ClusterModel | undefined {
  const obj = v.object("cluster", value, CLUSTER_KEYS, true);
  if (!obj) return undefined;

  const name = v.dnsLabel("cluster.name", obj.name, "prod-rke2", { required: true });
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
  if (version && semver.lt(`${version.major}.${version.minor}.${version.patch}`, GUIDE_OLDEST_KUBERNETES)) {
    v.warn(
      "cluster.kubernetesVersion",
      "The hardening guide (CIS Benchmark v1.6) covers Kubernetes v1.21 to v1.23; older releases miss controls it relies on.",
      { value: describeValue(versionText), fix: setCommand("cluster.kubernetesVersion", "v1.23.16+rke2r1") },
    );
  }

  const profile = readProfile(v, obj.profile, versionText, version);
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
  if (psaText !== undefined && !isDnsSubdomain(psaText)) {
    v.error("cluster.podSecurityAdmissionTemplate", "This is not the name of a Rancher PSA template.", {
      value: describeValue(psaText),
      allowed: DNS_SUBDOMAIN_RULE,
      fix: setCommand("cluster.podSecurityAdmissionTemplate", DEFAULT_PSA_TEMPLATE),
    });
  }
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

  const cni = readCni(v, obj.cni);
  const chartValues = v.plainObject("cluster.chartValues", obj.chartValues) ?? SEED_DEFAULTS.chartValues;
  const machineGlobalConfig = readMachineGlobalConfig(v, obj.machineGlobalConfig, profile);
  const machineSelectorConfigs = readMachineSelectorConfigs(v, obj.machineSelectorConfigs);
  const etcd = readEtcd(v, obj.etcd);
  const upgradeStrategy = readUpgradeStrategy(v, obj.upgradeStrategy);
  const registries = readRegistries(v, obj.registries);
  const labels = v.labels("cluster.labels", obj.labels) ?? {};
  const annotations = v.labels("cluster.annotations", obj.annotations, { keysOnly: true }) ?? {};
  const localAuthEndpoint = readLocalAuthEndpoint(v, obj.localAuthEndpoint);
  const agentEnvVars = readAgentEnvVars(v, obj.agentEnvVars);
  const fleetNamespace =
    v.dnsLabel("cluster.fleetNamespace", obj.fleetNamespace, SEED_DEFAULTS.fleetNamespace) ??
    SEED_DEFAULTS.fleetNamespace;
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

function readProfile(
  v: Reader,
  value: unknown,
  versionText: string | undefined,
  version: semver.SemVer | undefined,
): CisProfile | undefined {
  let profile: CisProfile | undefined;
  const profileText = v.oneOf("cluster.profile", value, [...PROFILES, "none"]);
  if (profileText === "none") {
    v.warn(
      "cluster.profile",
      "The CIS profile is disabled: RKE2 will not enforce the host and runtime checks.",
      { fix: setCommand("cluster.profile", version ? defaultProfileFor(version) : "cis-1.6") },
    );
  } else if (profileText !== undefined) {
    profile = profileText as CisProfile;
  } else if (value === undefined && version) {
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
  return profile;
}

function readCni(v: Reader, value: unknown): string {
  const cni = v.string("cluster.cni", value, { example: SEED_DEFAULTS.cni });
  if (cni === undefined) return SEED_DEFAULTS.cni;
  if (!isRke2Cni(cni)) {
    v.error("cluster.cni", "RKE2 has no such CNI; its nodes would never become Ready.", {
      value: describeValue(cni),
      allowed: RKE2_CNI_RULE,
      fix: setCommand("cluster.cni", SEED_DEFAULTS.cni),
    });
    return SEED_DEFAULTS.cni;
  }
  if (!enforcesNetworkPolicies(cni)) {
    v.warn(
      "cluster.cni",
      `With ${cni}, NetworkPolicies are not enforced: the same-namespace policies of CIS 5.3.2 would only be on paper.`,
      { value: describeValue(cni), fix: setCommand("cluster.cni", SEED_DEFAULTS.cni) },
    );
  }
  return cni;
}

/** Whether an RKE2 config value means `false` (RKE2 reads its YAML config as flags: "false" is false too). */
function isFalse(value: unknown): boolean {
  return value === false || (typeof value === "string" && value.trim().toLowerCase() === "false");
}

function readMachineGlobalConfig(v: Reader, value: unknown, profile: CisProfile | undefined): Json {
  const config = v.plainObject("cluster.machineGlobalConfig", value) ?? {};
  const path = (key: string) => childPath("cluster.machineGlobalConfig", key);
  const rm = (key: string) => `pulumi config rm --path 'hardened-rke2:${path(key)}'`;
  if ("profile" in config && config.profile !== profile) {
    v.error(
      path("profile"),
      "This disagrees with cluster.profile, which sets RKE2's profile on every machine.",
      {
        value: describeValue(config.profile),
        allowed: `${profile ?? "nothing"} (or remove the key and set cluster.profile)`,
        fix: rm("profile"),
      },
    );
  }
  if ("protect-kernel-defaults" in config && profile && isFalse(config["protect-kernel-defaults"])) {
    v.error(
      path("protect-kernel-defaults"),
      `RKE2 exits at start-up when profile ${profile} is set with false.`,
      {
        value: describeValue(config["protect-kernel-defaults"]),
        allowed: "true (or remove the key) with a CIS profile",
        fix: rm("protect-kernel-defaults"),
      },
    );
  }
  if ("cni" in config) {
    v.error(path("cni"), "The CNI is set by cluster.cni; this key would be overwritten.", {
      value: describeValue(config.cni),
      fix: `${rm("cni")}; then ${setCommand("cluster.cni", typeof config.cni === "string" && isRke2Cni(config.cni) ? config.cni : SEED_DEFAULTS.cni)}`,
    });
  }
  const apiserverArgs = config["kube-apiserver-arg"];
  if (
    apiserverArgs !== undefined &&
    typeof apiserverArgs !== "string" &&
    !(Array.isArray(apiserverArgs) && apiserverArgs.every((a) => typeof a === "string"))
  ) {
    v.error(path("kube-apiserver-arg"), "RKE2 takes this as a string or a list of strings.", {
      value: describeValue(apiserverArgs),
      fix: `pulumi config rm --path 'hardened-rke2:${path("kube-apiserver-arg")}'; then ${setCommand(`${path("kube-apiserver-arg")}[0]`, "audit-log-maxage=30")}`,
    });
  }
  return config;
}

function readMachineSelectorConfigs(v: Reader, value: unknown): MachineSelectorConfigModel[] {
  const items = v.array("cluster.machineSelectorConfigs", value) ?? [];
  return items.flatMap((item, i) => {
    const path = `cluster.machineSelectorConfigs[${i}]`;
    const obj = v.object(path, item, ["config", "matchLabels"], true);
    if (!obj) return [];
    const config = v.plainObject(`${path}.config`, obj.config) ?? {};
    const matchLabels = v.labels(`${path}.matchLabels`, obj.matchLabels) ?? {};
    const given = obj.matchLabels;
    if (
      given === undefined ||
      (typeof given === "object" && given !== null && Object.keys(given).length === 0)
    ) {
      v.error(
        `${path}.matchLabels`,
        "An extra selector config needs labels; cluster-wide settings go in machineGlobalConfig.",
        { fix: setCommand(`${path}.matchLabels["rke.cattle.io/control-plane-role"]`, "true") },
      );
    }
    for (const reserved of ["profile", "protect-kernel-defaults"]) {
      if (reserved in config) {
        v.error(
          `${path}.config.${reserved}`,
          "The hardening flags are set cluster-wide from cluster.profile and cluster.protectKernelDefaults.",
          { fix: `pulumi config rm --path 'hardened-rke2:${path}.config.${reserved}'` },
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
    v.integer("cluster.etcd.snapshotRetention", obj.snapshotRetention, {
      min: 1,
      max: 10000,
      default: SEED_DEFAULTS.snapshotRetention,
    }) ?? SEED_DEFAULTS.snapshotRetention;
  const snapshotScheduleCron =
    v.cron(
      "cluster.etcd.snapshotScheduleCron",
      obj.snapshotScheduleCron,
      SEED_DEFAULTS.snapshotScheduleCron,
    ) ?? SEED_DEFAULTS.snapshotScheduleCron;
  const s3 = obj.s3 === undefined ? undefined : readS3(v, obj.s3);
  return { disableSnapshots, snapshotRetention, snapshotScheduleCron, s3 };
}

/** S3 bucket names (AWS rules, which MinIO and most S3 services follow). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function readS3(v: Reader, value: unknown): EtcdModel["s3"] {
  const p = "cluster.etcd.s3";
  const s = v.object(p, value, [
    "bucket",
    "endpoint",
    "cloudCredentialName",
    "endpointCa",
    "folder",
    "region",
    "skipSslVerify",
  ]);
  if (!s) return undefined;
  const bucket = v.string(`${p}.bucket`, s.bucket, { required: true, example: "etcd-snapshots" });
  if (bucket !== undefined && !BUCKET.test(bucket)) {
    v.error(`${p}.bucket`, "This is not an S3 bucket name.", {
      value: describeValue(bucket),
      allowed: "3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit",
      fix: setCommand(`${p}.bucket`, "etcd-snapshots"),
    });
  }
  const endpoint = v.string(`${p}.endpoint`, s.endpoint, {
    required: true,
    example: "s3.eu-west-1.amazonaws.com",
  });
  if (endpoint !== undefined && !isHostPort(endpoint)) {
    const withoutScheme = endpoint.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
    v.error(
      `${p}.endpoint`,
      /^[a-z]+:\/\//i.test(endpoint)
        ? "Rancher wants the S3 endpoint without a scheme (it adds https itself)."
        : "This is not HOST[:PORT].",
      {
        value: describeValue(endpoint),
        allowed: "HOST[:PORT], e.g. s3.eu-west-1.amazonaws.com or minio.example.com:9000",
        fix: setCommand(
          `${p}.endpoint`,
          isHostPort(withoutScheme) ? withoutScheme : "s3.eu-west-1.amazonaws.com",
        ),
      },
    );
  }
  const skipSslVerify = v.boolean(`${p}.skipSslVerify`, s.skipSslVerify) ?? false;
  if (skipSslVerify)
    v.warn(`${p}.skipSslVerify`, "Snapshots are uploaded without verifying the endpoint's certificate.");
  const cloudCredentialName = v.string(`${p}.cloudCredentialName`, s.cloudCredentialName, {
    example: "cattle-global-data:cc-abcde",
  });
  if (
    cloudCredentialName !== undefined &&
    !/^([a-z0-9][a-z0-9.-]*:)?[a-z0-9][a-z0-9.-]*$/.test(cloudCredentialName)
  ) {
    v.error(`${p}.cloudCredentialName`, "This is not a Rancher cloud credential id.", {
      value: describeValue(cloudCredentialName),
      allowed: "[NAMESPACE:]NAME as Rancher shows it, e.g. cattle-global-data:cc-abcde",
      fix: setCommand(`${p}.cloudCredentialName`, "cattle-global-data:cc-abcde"),
    });
  }
  const region = v.string(`${p}.region`, s.region, { example: "eu-west-1" });
  if (region !== undefined && !/^[a-z0-9][a-z0-9-]*$/.test(region)) {
    v.error(`${p}.region`, "This is not an S3 region name.", {
      value: describeValue(region),
      allowed: "lower-case letters, digits and '-', e.g. eu-west-1",
      fix: setCommand(`${p}.region`, "eu-west-1"),
    });
  }
  const endpointCa = v.caBundle(`${p}.endpointCa`, s.endpointCa);
  const folder = v.string(`${p}.folder`, s.folder, { example: "prod-rke2" });
  if (bucket === undefined || endpoint === undefined) return undefined;
  return { bucket, endpoint, cloudCredentialName, endpointCa, folder, region, skipSslVerify };
}

function readLocalAuthEndpoint(v: Reader, value: unknown): ClusterModel["localAuthEndpoint"] {
  const p = "cluster.localAuthEndpoint";
  const obj = v.object(p, value ?? {}, ["enabled", "fqdn", "caCerts"]) ?? {};
  const enabled = v.boolean(`${p}.enabled`, obj.enabled) ?? SEED_DEFAULTS.localAuthEndpointEnabled;
  const fqdn = v.string(`${p}.fqdn`, obj.fqdn, { example: "rke2.example.com" });
  if (fqdn !== undefined && !(isHostPort(fqdn) && isHostName(fqdn.replace(/:\d+$/, "")))) {
    v.error(`${p}.fqdn`, "This is not a fully qualified domain name.", {
      value: describeValue(fqdn),
      allowed: "HOST[:PORT] without a scheme, e.g. rke2.example.com",
      fix: setCommand(`${p}.fqdn`, "rke2.example.com"),
    });
  }
  return { enabled, fqdn, caCerts: v.caBundle(`${p}.caCerts`, obj.caCerts) };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function readAgentEnvVars(v: Reader, value: unknown): ClusterModel["agentEnvVars"] {
  const seen = new Set<string>();
  return (v.array("cluster.agentEnvVars", value) ?? []).flatMap((item, i) => {
    const path = `cluster.agentEnvVars[${i}]`;
    const obj = v.object(path, item, ["name", "value"]);
    if (!obj) return [];
    const name = v.string(`${path}.name`, obj.name, { required: true, example: "HTTP_PROXY" });
    if (name !== undefined && !ENV_NAME.test(name)) {
      v.error(`${path}.name`, "This is not an environment variable name.", {
        value: describeValue(name),
        allowed: "letters, digits and '_', not starting with a digit",
        fix: setCommand(`${path}.name`, "HTTP_PROXY"),
      });
    } else if (name !== undefined && seen.has(name)) {
      v.error(`${path}.name`, "This variable is already set by an earlier entry.", {
        value: describeValue(name),
      });
    }
    if (name !== undefined) seen.add(name);
    const envValue = v.string(`${path}.value`, obj.value, {
      required: true,
      allowEmpty: true,
      example: "http://proxy:3128",
    });
    return name === undefined || envValue === undefined ? [] : [{ name, value: envValue }];
  });
}

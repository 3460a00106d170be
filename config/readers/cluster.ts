import * as semver from "semver";
import type { CisProfile, ClusterModel } from "../model";
import { describeValue, setCommand } from "../problems";
import type { Reader } from "../reader";
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
import { readMachineGlobalConfig, readMachineSelectorConfigs } from "./machineConfig";
import { readEtcd } from "./etcd";
import { SEED_DEFAULTS } from "../defaults";

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
    const expanded = envValue === undefined ? undefined : /["\\$`]/.exec(envValue);
    if (expanded) {
      // Rancher writes each variable into the registration command as NAME="value" (rancher/rancher, the
      // cluster registration token's command formats), and the node's shell reads that command.
      v.error(
        `${path}.value`,
        `Rancher puts this value between double quotes in the command every node runs, where ${JSON.stringify(expanded[0])} would be interpreted by the node's shell.`,
        {
          value: describeValue(envValue),
          allowed: 'any text without ", \\, $ or a backquote',
          fix: setCommand(`${path}.value`, "http://proxy.example.com:3128"),
        },
      );
      return [];
    }
    return name === undefined || envValue === undefined ? [] : [{ name, value: envValue }];
  });
}

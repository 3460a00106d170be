/**
 * Where each hardened value of the seed's reference `provisioning.cattle.io/v1` Cluster template lands in the
 * `rancher2.ClusterV2` inputs. The Kubernetes object and the Pulumi provider name several fields differently
 * (`machineSelectorConfig` vs `machineSelectorConfigs`, `localClusterAuthEndpoint` vs `localAuthEndpoint`) and the
 * provider takes some maps as YAML strings; this table is the one place that knows both sides.
 */
export interface SeedFieldMapping {
  /** Path in the seed's template, e.g. `spec.rkeConfig.etcd.snapshotRetention`. */
  readonly template: string;
  /** Path in the ClusterV2 inputs, e.g. `rkeConfig.etcd.snapshotRetention`. */
  readonly pulumi: string;
  /**
   * When the Pulumi field is a YAML string, the path inside the parsed YAML (`""` for the whole document).
   */
  readonly yamlPath?: string;
  /** CIS control or reason the seed sets this value. */
  readonly why: string;
}

export const SEED_FIELD_MAPPINGS: readonly SeedFieldMapping[] = [
  {
    template: "metadata.namespace",
    pulumi: "fleetNamespace",
    why: "custom clusters live in Rancher's fleet-default workspace",
  },
  {
    template: "spec.rkeConfig.machineSelectorConfig[0].config.profile",
    pulumi: "rkeConfig.machineSelectorConfigs[0].config",
    yamlPath: "profile",
    why: "RKE2's CIS profile: host checks, etcd user, PSPs, network policies, audit flags",
  },
  {
    template: "spec.rkeConfig.machineSelectorConfig[0].config.protect-kernel-defaults",
    pulumi: "rkeConfig.machineSelectorConfigs[0].config",
    yamlPath: "protect-kernel-defaults",
    why: "CIS 4.2.6: kubelet exits when kernel parameters differ from its defaults",
  },
  {
    template: "spec.rkeConfig.etcd.disableSnapshots",
    pulumi: "rkeConfig.etcd.disableSnapshots",
    why: "etcd snapshots stay on",
  },
  {
    template: "spec.rkeConfig.etcd.snapshotRetention",
    pulumi: "rkeConfig.etcd.snapshotRetention",
    why: "snapshots kept",
  },
  {
    template: "spec.rkeConfig.etcd.snapshotScheduleCron",
    pulumi: "rkeConfig.etcd.snapshotScheduleCron",
    why: "snapshot schedule",
  },
  {
    template: "spec.rkeConfig.machineGlobalConfig.cni",
    pulumi: "rkeConfig.machineGlobalConfig",
    yamlPath: "cni",
    why: "canal enforces the NetworkPolicies the profile installs",
  },
  {
    template: "spec.rkeConfig.chartValues",
    pulumi: "rkeConfig.chartValues",
    yamlPath: "",
    why: "canal chart with its default values",
  },
  {
    template: "spec.rkeConfig.upgradeStrategy.controlPlaneConcurrency",
    pulumi: "rkeConfig.upgradeStrategy.controlPlaneConcurrency",
    why: "upgrade control-plane nodes a few at a time",
  },
  {
    template: "spec.rkeConfig.upgradeStrategy.workerConcurrency",
    pulumi: "rkeConfig.upgradeStrategy.workerConcurrency",
    why: "upgrade workers a few at a time",
  },
  {
    template: "spec.localClusterAuthEndpoint.enabled",
    pulumi: "localAuthEndpoint.enabled",
    why: "no direct API access that bypasses Rancher's authentication",
  },
];

/** Reads `a.b[0].c` (keys may contain '-') from a plain object; undefined when any step is missing. */
export function readPath(root: unknown, path: string): unknown {
  if (path === "") return root;
  let current: unknown = root;
  for (const step of path.split(".")) {
    const match = /^([^[\]]+)((?:\[\d+\])*)$/.exec(step);
    if (!match) return undefined;
    current =
      typeof current === "object" && current !== null
        ? (current as Record<string, unknown>)[match[1]]
        : undefined;
    for (const index of match[2].matchAll(/\[(\d+)\]/g)) {
      current = Array.isArray(current) ? (current as unknown[])[Number(index[1])] : undefined;
    }
  }
  return current;
}

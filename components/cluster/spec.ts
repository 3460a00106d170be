import type * as rancher2 from "@pulumi/rancher2";
import * as YAML from "yaml";
import type { ClusterModel } from "../../config/model";
import { usesPodSecurityAdmission } from "../../config/profiles";

/** Where Rancher writes the Pod Security Admission configuration it renders from the cluster's PSA template. */
export const RANCHER_PSACT_FILE = "/etc/rancher/rke2/config/rancher-psact.yaml";
export const PSACT_APISERVER_ARG = `admission-control-config-file=${RANCHER_PSACT_FILE}`;

/** The `ClusterV2` inputs this program sets; everything but provider wiring. */
export type ClusterSpec = rancher2.ClusterV2Args & {
  readonly rkeConfig: NonNullable<rancher2.ClusterV2Args["rkeConfig"]>;
};

/** Rancher's provider takes these three as YAML strings; a YAML library writes them so quoting is always right. */
export function toYaml(value: unknown): string {
  return YAML.stringify(value, { sortMapEntries: true });
}

/** The selector config every machine gets: RKE2's hardening flags, which the seed sets cluster-wide. */
export function hardeningSelectorConfig(
  cluster: Pick<ClusterModel, "profile" | "protectKernelDefaults">,
): Record<string, unknown> {
  return {
    ...(cluster.profile ? { profile: cluster.profile } : {}),
    "protect-kernel-defaults": cluster.protectKernelDefaults,
  };
}

/**
 * `machineGlobalConfig`: the seed's CNI, the stack's extra keys, and, for the Pod Security Admission profiles, the
 * kube-apiserver argument Rancher adds itself, so that a preview after creation shows no perpetual diff.
 */
export function machineGlobalConfigFor(cluster: ClusterModel): Record<string, unknown> {
  const config: Record<string, unknown> = { ...cluster.machineGlobalConfig, cni: cluster.cni };
  if (
    cluster.podSecurityAdmissionTemplate !== undefined &&
    (!cluster.profile || usesPodSecurityAdmission(cluster.profile))
  ) {
    const existing = config["kube-apiserver-arg"];
    const args = Array.isArray(existing)
      ? existing.map(String)
      : existing === undefined
        ? []
        : [typeof existing === "string" ? existing : JSON.stringify(existing)];
    if (!args.includes(PSACT_APISERVER_ARG)) args.push(PSACT_APISERVER_ARG);
    config["kube-apiserver-arg"] = args;
  }
  return config;
}

/** Renders the hardened `rancher2.ClusterV2` inputs for a validated cluster model (no provider, no options). */
export function clusterSpecFor(cluster: ClusterModel): ClusterSpec {
  const { etcd, upgradeStrategy, registries, localAuthEndpoint } = cluster;
  return {
    name: cluster.name,
    kubernetesVersion: cluster.kubernetesVersion,
    fleetNamespace: cluster.fleetNamespace,
    labels: { ...cluster.labels },
    annotations: { ...cluster.annotations },
    agentEnvVars: cluster.agentEnvVars.map((env) => ({ name: env.name, value: env.value })),
    localAuthEndpoint: {
      enabled: localAuthEndpoint.enabled,
      ...(localAuthEndpoint.fqdn !== undefined ? { fqdn: localAuthEndpoint.fqdn } : {}),
      ...(localAuthEndpoint.caCerts !== undefined ? { caCerts: localAuthEndpoint.caCerts } : {}),
    },
    ...(cluster.podSecurityAdmissionTemplate !== undefined
      ? { defaultPodSecurityAdmissionConfigurationTemplateName: cluster.podSecurityAdmissionTemplate }
      : {}),
    rkeConfig: {
      chartValues: toYaml(cluster.chartValues),
      machineGlobalConfig: toYaml(machineGlobalConfigFor(cluster)),
      machineSelectorConfigs: [
        { config: toYaml(hardeningSelectorConfig(cluster)) },
        ...cluster.machineSelectorConfigs.map((selector) => ({
          config: toYaml(selector.config),
          machineLabelSelector: { matchLabels: { ...selector.matchLabels } },
        })),
      ],
      etcd: {
        disableSnapshots: etcd.disableSnapshots,
        snapshotRetention: etcd.snapshotRetention,
        snapshotScheduleCron: etcd.snapshotScheduleCron,
        ...(etcd.s3
          ? {
              s3Config: withoutUndefined({
                bucket: etcd.s3.bucket,
                endpoint: etcd.s3.endpoint,
                cloudCredentialName: etcd.s3.cloudCredentialName,
                endpointCa: etcd.s3.endpointCa,
                folder: etcd.s3.folder,
                region: etcd.s3.region,
                skipSslVerify: etcd.s3.skipSslVerify,
              }),
            }
          : {}),
      },
      upgradeStrategy: withoutUndefined({
        controlPlaneConcurrency: upgradeStrategy.controlPlaneConcurrency,
        workerConcurrency: upgradeStrategy.workerConcurrency,
        controlPlaneDrainOptions: upgradeStrategy.controlPlaneDrainOptions
          ? { ...upgradeStrategy.controlPlaneDrainOptions }
          : undefined,
        workerDrainOptions: upgradeStrategy.workerDrainOptions
          ? { ...upgradeStrategy.workerDrainOptions }
          : undefined,
      }),
      registries: {
        configs: registries.configs.map((c) => withoutUndefined({ ...c })),
        mirrors: registries.mirrors.map((m) => ({
          hostname: m.hostname,
          endpoints: [...m.endpoints],
          rewrites: { ...m.rewrites },
        })),
      },
    },
  };
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

import type * as pulumi from "@pulumi/pulumi";

/**
 * The validated, immutable description of one stack. `config/load.ts` builds it from the stack's
 * configuration; components receive it (or a slice of it) and never read `pulumi.Config` themselves.
 */
export interface StackModel {
  readonly rancher: RancherConnection;
  readonly cluster: ClusterModel;
  readonly nodes: readonly NodeModel[];
  readonly hardening: HardeningModel;
  /** Rancher's CIS scan of the cluster (config/scan.ts). */
  readonly scan: ScanModel;
  readonly lifecycle: LifecycleModel;
}

/** What later `pulumi up`s may remove or rename (`hardened-rke2:lifecycle`, read by `config/lifecycle.ts`). */
export interface LifecycleModel {
  /**
   * Protect the Rancher cluster and the namespaces the stack creates (Pulumi `protect`): removing them from the
   * stack, or `pulumi destroy`, fails until this is false.
   * @default true
   */
  readonly deletionProtection: boolean;
  /** Nodes (still in `nodes`) to uninstall RKE2 from; the only way this program uninstalls RKE2. @default [] */
  readonly decommissionNodes: readonly string[];
  /** New node name to former name: the node keeps its resources (Pulumi aliases). @default {} */
  readonly renamedNodes: Readonly<Record<string, string>>;
}

export interface RancherConnection {
  /** Rancher's API URL, e.g. `https://rancher.example.com`. */
  readonly apiUrl: string;
  /** Rancher API token (`token-xxxxx:secret`); always a Pulumi secret. */
  readonly token: pulumi.Output<string>;
  /** PEM bundle of the CA that signed Rancher's certificate, when it is not publicly trusted. */
  readonly caCerts?: string;
  /**
   * Rancher's certificate is self-signed and not verified. Also switches node registration to
   * Rancher's `insecureNodeCommand`.
   * @default false
   */
  readonly insecure: boolean;
}

/** The hardening profile passed to RKE2's `profile` flag. */
export type CisProfile = "cis-1.5" | "cis-1.6" | "cis-1.23" | "cis";

export type NodeRole = "etcd" | "controlplane" | "worker";

export interface ClusterModel {
  /** Name of the Rancher cluster (a DNS-1123 label). */
  readonly name: string;
  /** RKE2 release, e.g. `v1.23.16+rke2r1`. */
  readonly kubernetesVersion: string;
  /**
   * RKE2 hardening profile. `undefined` means the stack explicitly disabled it (not recommended).
   * @default "cis-1.6" on Kubernetes ≤ 1.24, "cis-1.23" on 1.25–1.29 without `cis`, "cis" after.
   */
  readonly profile: CisProfile | undefined;
  /** @default true */
  readonly protectKernelDefaults: boolean;
  /** @default "canal" */
  readonly cni: string;
  /** Helm values per RKE2 chart, rendered into `rkeConfig.chartValues`. @default { "rke2-canal": {} } */
  readonly chartValues: Readonly<Record<string, unknown>>;
  /** Extra keys for `machineGlobalConfig`, merged under the seed's `cni`. */
  readonly machineGlobalConfig: Readonly<Record<string, unknown>>;
  /** Extra machine selector configs, e.g. kube-apiserver args only on control-plane machines. */
  readonly machineSelectorConfigs: readonly MachineSelectorConfigModel[];
  readonly etcd: EtcdModel;
  readonly upgradeStrategy: UpgradeStrategyModel;
  readonly registries: RegistriesModel;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly localAuthEndpoint: LocalAuthEndpointModel;
  readonly agentEnvVars: readonly { readonly name: string; readonly value: string }[];
  /**
   * Rancher Pod Security Admission configuration template, used with the `cis-1.23` and `cis` profiles.
   * @default "rancher-restricted" for those profiles, unset for `cis-1.5`/`cis-1.6`.
   */
  readonly podSecurityAdmissionTemplate: string | undefined;
  /** @default "fleet-default" */
  readonly fleetNamespace: string;
  /**
   * Formerly: uninstall RKE2 from every node on `pulumi destroy`, which also uninstalled it from a node removed or
   * renamed in the stack. Now only warned about; nodes are uninstalled through `lifecycle.decommissionNodes`.
   * @default false
   */
  readonly uninstallNodesOnDestroy: boolean;
}

export interface MachineSelectorConfigModel {
  /** RKE2 configuration keys for the matching machines (rendered as YAML). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Label selector of the machines; Rancher labels control-plane machines `rke.cattle.io/control-plane-role: "true"`. */
  readonly matchLabels: Readonly<Record<string, string>>;
}

export interface EtcdModel {
  /** @default false */
  readonly disableSnapshots: boolean;
  /** @default 5 */
  readonly snapshotRetention: number;
  /** @default "0 *\/5 * * *" */
  readonly snapshotScheduleCron: string;
  readonly s3?: EtcdS3Model;
}

export interface EtcdS3Model {
  readonly bucket: string;
  readonly endpoint: string;
  readonly cloudCredentialName?: string;
  readonly endpointCa?: string;
  readonly folder?: string;
  readonly region?: string;
  /** @default false */
  readonly skipSslVerify: boolean;
}

export interface DrainOptionsModel {
  readonly enabled?: boolean;
  readonly deleteEmptyDirData?: boolean;
  readonly disableEviction?: boolean;
  readonly force?: boolean;
  readonly gracePeriod?: number;
  readonly ignoreDaemonSets?: boolean;
  readonly ignoreErrors?: boolean;
  readonly skipWaitForDeleteTimeoutSeconds?: number;
  readonly timeout?: number;
}

export interface UpgradeStrategyModel {
  /** A count (`"1"`) or a percentage (`"10%"`). @default "10%" */
  readonly controlPlaneConcurrency: string;
  /** @default "10%" */
  readonly workerConcurrency: string;
  readonly controlPlaneDrainOptions?: DrainOptionsModel;
  readonly workerDrainOptions?: DrainOptionsModel;
}

export interface RegistriesModel {
  readonly configs: readonly {
    readonly hostname: string;
    readonly authConfigSecretName?: string;
    readonly caBundle?: string;
    readonly insecure?: boolean;
    readonly tlsSecretName?: string;
  }[];
  readonly mirrors: readonly {
    readonly hostname: string;
    readonly endpoints: readonly string[];
    readonly rewrites: Readonly<Record<string, string>>;
  }[];
}

export interface LocalAuthEndpointModel {
  /** @default false */
  readonly enabled: boolean;
  readonly fqdn?: string;
  readonly caCerts?: string;
}

export interface SshEndpoint {
  readonly host: string;
  /** @default 22 */
  readonly port: number;
  /** @default "root" */
  readonly user: string;
  /** The host's public key as in `known_hosts` (`ssh-ed25519 AAAA…`); unpinned when absent. */
  readonly hostKey?: string;
}

export interface NodeModel {
  /** Unique node name; also the Pulumi resource name suffix. */
  readonly name: string;
  /** Address the SSH connection dials (IP or DNS name). */
  readonly address: string;
  readonly ssh: SshEndpoint;
  /** Private key for this node (a secret), from `nodeSshPrivateKeys` or the shared `sshPrivateKey`. */
  readonly privateKey: pulumi.Output<string>;
  readonly roles: readonly NodeRole[];
  readonly bastion?: SshEndpoint;
  /** Kubernetes node labels passed at registration (`--label`). */
  readonly labels: Readonly<Record<string, string>>;
}

export type AuditLevel = "None" | "Metadata" | "Request" | "RequestResponse";

/** One rule of a Kubernetes audit policy (`audit.k8s.io/v1`), as validated from the stack. */
export interface AuditRuleModel {
  readonly level: AuditLevel;
  readonly users?: readonly string[];
  readonly userGroups?: readonly string[];
  readonly verbs?: readonly string[];
  readonly resources?: readonly {
    readonly group?: string;
    readonly resources?: readonly string[];
    readonly resourceNames?: readonly string[];
  }[];
  readonly namespaces?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
  readonly omitStages?: readonly string[];
}

export interface AllowedSourceModel {
  /** Allow ingress from every pod of this namespace. */
  readonly namespace?: string;
  /** Allow ingress from this CIDR. */
  readonly cidr?: string;
}

export interface OperatorNamespaceModel {
  readonly name: string;
  /** The program creates the namespace (with `labels`) instead of expecting it to exist. @default false */
  readonly create: boolean;
  readonly labels: Readonly<Record<string, string>>;
  /** Extra ingress sources besides the namespace's own pods. */
  readonly allowFrom: readonly AllowedSourceModel[];
}

export interface ReconcilerModel {
  /** @default true */
  readonly enabled: boolean;
  /** @default see `components/hardening` */
  readonly image: string;
  /** Cron schedule of the reconciliation. @default "*\/5 * * * *" */
  readonly schedule: string;
  /** Namespaces whose `default` ServiceAccount is left alone. */
  readonly excludeNamespaces: readonly string[];
  /** Namespaces matching this label selector get the same-namespace NetworkPolicy. */
  readonly networkPolicySelector: string;
  /** @default "cis-reconciler" */
  readonly namespace: string;
}

export interface HardeningModel {
  /** @default "Metadata" */
  readonly auditPolicyLevel: AuditLevel;
  /** Rules placed before the catch-all rule at `auditPolicyLevel`. */
  readonly auditRules: readonly AuditRuleModel[];
  /** Namespaces the operator owns: each gets the default-SA patch and a NetworkPolicy. */
  readonly namespaces: readonly OperatorNamespaceModel[];
  /** Create the etcd user on every node, not only on etcd and control-plane nodes. @default false */
  readonly etcdUserOnAllNodes: boolean;
  /** Prepare nodes where RKE2 is already installed (the seed says: fresh installs only). @default false */
  readonly allowExistingInstall: boolean;
  readonly reconciler: ReconcilerModel;
}

/** A node is a server (runs rke2-server) when it has the etcd or the control-plane role. */
export function isServer(node: Pick<NodeModel, "roles">): boolean {
  return node.roles.includes("etcd") || node.roles.includes("controlplane");
}

/** The API group of Rancher's scan app: `cis.cattle.io` up to Rancher 2.11, `compliance.cattle.io` from 2.12. */
export type ScanApiGroup = "cis.cattle.io" | "compliance.cattle.io";

/** Rancher's CIS scan: its app, and a scheduled ClusterScan after the post-install hardening. */
export interface ScanModel {
  /** @default true */
  readonly enabled: boolean;
  /** The Rancher version (`MAJOR.MINOR`) the stack talks to; it decides the app. @default "2.11" */
  readonly rancherVersion: string;
  readonly apiGroup: ScanApiGroup;
  /** `rancher-cis-benchmark` (Rancher ≤ 2.11) or `rancher-compliance` (2.12+), from the `rancher-charts` repository. */
  readonly chartName: string;
  /** The chart holding the CRDs, installed first (`<chartName>-crd`). */
  readonly crdChartName: string;
  /** Namespace the app's operator runs in. */
  readonly namespace: string;
  /** Chart version; Rancher picks the newest one for its version when absent. */
  readonly chartVersion?: string;
  /** The ClusterScanProfile: chosen by Kubernetes version and RKE2 profile unless the stack names one. */
  readonly profile: string;
  /** Cron schedule of the scan (the operator's own default: "0 0 * * *"). */
  readonly schedule: string;
  /** Reports kept. @default 3 */
  readonly retentionCount: number;
  /** Failed checks that `pulumi up` tolerates before it fails. @default 0 */
  readonly toleratedFailures: number;
  /** How long `pulumi up` waits for the scan's first run. @default 1800 */
  readonly timeoutSeconds: number;
}

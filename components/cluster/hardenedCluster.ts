import * as crypto from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as rancher2 from "@pulumi/rancher2";
import type { ClusterModel, RancherConnection } from "../../config/model";
import { inheritedDependsOn } from "../options";
import { clusterSpecFor } from "./spec";

export interface HardenedClusterArgs {
  readonly cluster: ClusterModel;
  readonly rancher: RancherConnection;
  /**
   * Protect the ClusterV2 (Pulumi `protect`): removing it from the stack, or `pulumi destroy`, fails until the stack
   * turns `lifecycle.deletionProtection` off. Deleting it deletes the cluster in Rancher.
   * @default true
   */
  readonly protect?: boolean;
}

/**
 * The Rancher provider for the stack's Rancher server; explicit so that no ambient `rancher2:*` configuration or
 * environment variable ever decides which Rancher is changed.
 */
export function rancherProviderArgs(rancher: RancherConnection): rancher2.ProviderArgs {
  return {
    apiUrl: rancher.apiUrl,
    tokenKey: pulumi.secret(rancher.token),
    insecure: rancher.insecure,
    ...(rancher.caCerts !== undefined ? { caCerts: rancher.caCerts } : {}),
  };
}

/**
 * One hardened `rancher2.ClusterV2` (a custom cluster: nodes register themselves) shaped as the seed's reference
 * template, created through an explicit Rancher provider.
 */
export class HardenedCluster extends pulumi.ComponentResource {
  public readonly provider: rancher2.Provider;
  public readonly cluster: rancher2.ClusterV2;
  /** Rancher's v1 id (`c-m-…`), which ClusterSync and node registration need. */
  public readonly clusterV1Id: pulumi.Output<string>;
  /** The registration command for nodes: `insecureNodeCommand` when Rancher's certificate is self-signed. */
  public readonly registrationCommand: pulumi.Output<string>;

  constructor(name: string, args: HardenedClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hardened-rke2:cluster:HardenedCluster", name, {}, opts);
    this.provider = new rancher2.Provider(`${name}-rancher`, rancherProviderArgs(args.rancher), {
      parent: this,
    });
    this.cluster = new rancher2.ClusterV2(name, clusterSpecFor(args.cluster), {
      parent: this,
      provider: this.provider,
      protect: args.protect ?? true,
    });
    this.clusterV1Id = this.cluster.clusterV1Id;
    if (args.rancher.insecure) {
      void pulumi.log.warn(
        "rancher.insecure is set: nodes register with Rancher's insecureNodeCommand, which does not verify Rancher's " +
          "certificate. Set rancher.caCerts instead when you have the CA bundle.",
        this,
      );
    }
    const token = this.cluster.clusterRegistrationToken;
    this.registrationCommand = pulumi.secret(
      args.rancher.insecure ? token.insecureNodeCommand : token.nodeCommand,
    );
    this.registerOutputs({ clusterV1Id: this.clusterV1Id });
  }
}

export interface ClusterReadinessArgs {
  readonly clusterV1Id: pulumi.Input<string>;
  readonly rancherProvider: rancher2.Provider;
  /**
   * What the cluster is made of (its spec and its nodes with their roles): when it changes, the wait for Active runs
   * again, before anything that depends on readiness (post-install hardening, the audit policy roll-out).
   */
  readonly shape?: unknown;
}

/** The value whose change makes {@link ClusterReadiness} wait again: a hash of the cluster's spec and node set. */
export function clusterShapeHash(shape: unknown): string {
  return crypto.createHash("sha256").update(JSON.stringify(shape)).digest("hex");
}

/**
 * Waits until Rancher reports the cluster Active (ClusterV2 itself only waits for "Created" on a custom cluster)
 * and builds the Kubernetes provider that every post-install resource uses, from the cluster's kubeconfig.
 */
export class ClusterReadiness extends pulumi.ComponentResource {
  public readonly sync: rancher2.ClusterSync;
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly kubernetesProvider: k8s.Provider;

  constructor(name: string, args: ClusterReadinessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hardened-rke2:cluster:ClusterReadiness", name, {}, opts);
    // ClusterSync waits for Active only when it is created, and has no input that could say "wait again". The
    // engine's replacementTrigger replaces it (its create waits; its delete only forgets it) whenever the cluster's
    // spec or node set changed, so an `up` that changes them waits for Rancher's own plan to settle before any
    // roll-out step restarts a server. stateConfirm: Active for 10 s, not one passing moment of a rolling plan.
    this.sync = new rancher2.ClusterSync(
      name,
      { clusterId: args.clusterV1Id, stateConfirm: 3 },
      {
        parent: this,
        provider: args.rancherProvider,
        dependsOn: inheritedDependsOn(opts),
        ...(args.shape !== undefined ? { replacementTrigger: clusterShapeHash(args.shape) } : {}),
      },
    );
    this.kubeconfig = pulumi.secret(this.sync.kubeConfig);
    // A replaced ClusterSync leaves the kubeconfig unknown until it is created again, and without an identity the
    // Kubernetes provider then plans its own replacement (pulumi-kubernetes DiffConfig: a computed kubeconfig
    // replaces), which replaces every object in the cluster and fails on the protected namespaces. Rancher's
    // cluster id is the cluster's identity: the provider is replaced only when the cluster itself is.
    this.kubernetesProvider = new k8s.Provider(
      `${name}-k8s`,
      {
        kubeconfig: this.kubeconfig,
        clusterIdentifier: args.clusterV1Id,
        enableServerSideApply: true,
      },
      { parent: this },
    );
    this.registerOutputs({ kubeconfig: this.kubeconfig });
  }
}

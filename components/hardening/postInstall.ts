import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { HardeningModel } from "../../config/model";
import {
  BUILTIN_NAMESPACES,
  defaultServiceAccountPatch,
  namespaceManifest,
  reconcilerManifests,
  sameNamespaceNetworkPolicy,
} from "./manifests";
import { inheritedDependsOn } from "../options";

export interface PostInstallHardeningArgs {
  readonly hardening: HardeningModel;
  /** The cluster's own Kubernetes provider (from its kubeconfig); never an ambient kubeconfig. */
  readonly provider: k8s.Provider;
  /**
   * Protect the namespaces the stack creates (deleting one deletes its workloads and volumes).
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/**
 * What the seed does by hand after installation, done declaratively: the `default` ServiceAccount of every known
 * namespace stops mounting its token (CIS 5.1.5), every operator namespace gets RKE2's same-namespace
 * NetworkPolicy (CIS 5.3.2), and a small in-cluster reconciler keeps both true for namespaces created later.
 */
export class PostInstallHardening extends pulumi.ComponentResource {
  public readonly serviceAccountPatches: readonly k8s.core.v1.ServiceAccountPatch[];
  public readonly networkPolicies: readonly k8s.networking.v1.NetworkPolicy[];

  constructor(name: string, args: PostInstallHardeningArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hardened-rke2:hardening:PostInstallHardening", name, {}, opts);
    const { hardening, provider } = args;
    const child = (dependsOn: pulumi.Resource[] = []): pulumi.CustomResourceOptions => ({
      parent: this,
      provider,
      dependsOn: inheritedDependsOn(opts, ...dependsOn),
    });
    // Deleting a server-side-apply patch releases its field; if the patch was the field's only owner, Kubernetes
    // drops it and the token automount silently returns to true. Destroying the stack must not undo CIS 5.1.5.
    // NetworkPolicies likewise: removing a namespace from the stack must not drop its CIS 5.3.2 policy.
    const patchOptions = (dependsOn: pulumi.Resource[] = []) => ({
      ...child(dependsOn),
      retainOnDelete: true,
    });
    const namespaceOptions = (): pulumi.CustomResourceOptions => ({
      ...child(),
      protect: args.deletionProtection ?? true,
    });

    const patches: k8s.core.v1.ServiceAccountPatch[] = [];
    const policies: k8s.networking.v1.NetworkPolicy[] = [];
    const patchDefaultServiceAccount = (namespace: string, dependsOn: pulumi.Resource[] = []) => {
      const manifest = defaultServiceAccountPatch(namespace);
      patches.push(
        new k8s.core.v1.ServiceAccountPatch(
          `${name}-sa-${namespace}`,
          {
            metadata: manifest.metadata,
            automountServiceAccountToken: manifest.automountServiceAccountToken,
          },
          patchOptions(dependsOn),
        ),
      );
    };

    for (const namespace of BUILTIN_NAMESPACES) patchDefaultServiceAccount(namespace);

    for (const ns of hardening.namespaces) {
      const created = ns.create
        ? [new k8s.core.v1.Namespace(`${name}-ns-${ns.name}`, namespaceManifest(ns), namespaceOptions())]
        : [];
      patchDefaultServiceAccount(ns.name, created);
      const policy = sameNamespaceNetworkPolicy(ns);
      policies.push(
        new k8s.networking.v1.NetworkPolicy(
          `${name}-netpol-${ns.name}`,
          { metadata: policy.metadata, spec: mutable(policy.spec) },
          patchOptions(created),
        ),
      );
    }

    if (hardening.reconciler.enabled) {
      const manifests = reconcilerManifests(hardening.reconciler);
      const prefix = `${name}-reconciler`;
      const namespace = new k8s.core.v1.Namespace(`${prefix}-ns`, manifests.namespace, namespaceOptions());
      const inNamespace = [namespace];
      patches.push(
        new k8s.core.v1.ServiceAccountPatch(
          `${name}-sa-${hardening.reconciler.namespace}`,
          {
            metadata: manifests.defaultServiceAccountPatch.metadata,
            automountServiceAccountToken: manifests.defaultServiceAccountPatch.automountServiceAccountToken,
          },
          patchOptions(inNamespace),
        ),
      );
      policies.push(
        new k8s.networking.v1.NetworkPolicy(
          `${name}-netpol-${hardening.reconciler.namespace}`,
          { metadata: manifests.networkPolicy.metadata, spec: mutable(manifests.networkPolicy.spec) },
          patchOptions(inNamespace),
        ),
      );
      const serviceAccount = new k8s.core.v1.ServiceAccount(
        `${prefix}-sa`,
        manifests.serviceAccount,
        child(inNamespace),
      );
      const role = new k8s.rbac.v1.ClusterRole(`${prefix}-role`, mutable(manifests.clusterRole), child());
      const binding = new k8s.rbac.v1.ClusterRoleBinding(
        `${prefix}-binding`,
        mutable(manifests.clusterRoleBinding),
        child([role, serviceAccount]),
      );
      new k8s.batch.v1.CronJob(`${prefix}-cronjob`, mutable(manifests.cronJob), child([binding]));
    }

    this.serviceAccountPatches = patches;
    this.networkPolicies = policies;
    this.registerOutputs({});
  }
}

/**
 * The manifests are deeply readonly (they are rendered data); the provider's argument types use mutable arrays.
 * The objects are never mutated after this point, so dropping `readonly` at the hand-over is safe.
 */
function mutable<T>(value: T): DeepMutable<T> {
  return value as DeepMutable<T>;
}

type DeepMutable<T> = T extends readonly (infer U)[]
  ? DeepMutable<U>[]
  : T extends object
    ? { -readonly [K in keyof T]: DeepMutable<T[K]> }
    : T;

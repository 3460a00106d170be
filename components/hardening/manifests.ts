/**
 * Pure renderers for the post-install hardening manifests (issue 5): the default-ServiceAccount patch
 * (CIS 5.1.5), the same-namespace NetworkPolicy (CIS 5.3.2), namespaces the stack creates, and the
 * in-cluster reconciler that keeps both rules true in namespaces created after `pulumi up`.
 *
 * Every function returns plain objects and touches nothing; `components/hardening` wires them into
 * `@pulumi/kubernetes` resources with the cluster's explicit provider. Object properties are readonly;
 * arrays are typed mutable only because Pulumi's input types (`pulumi.Input<T>[]`) do not accept
 * readonly arrays, so `metadata`/`spec`/`rules` can be passed straight to the resources.
 */
import type { AllowedSourceModel, OperatorNamespaceModel, ReconcilerModel } from "../../config/model";
import { DEFAULT_RECONCILER_IMAGE } from "../../config/defaults";
import {
  BUILTIN_NAMESPACES,
  DNS_LABEL_RULE,
  checkCidr,
  isBuiltinNamespace as isBuiltin,
  isCronSchedule,
  isLabelKey,
  isLabelValue,
  isNamespaceName,
  isPinnedImage,
  parseImageReference,
  parseLabelSelector,
} from "../../config/grammar";
import { renderScript } from "../shell/script";

/** The reconciler's fixed script; {@link renderReconcilerScript} adds the values. */
const RECONCILER_SH = "components/hardening/reconciler.sh";

// Defined in config/ (the one gate), re-exported for the library's users.
export { BUILTIN_NAMESPACES, DEFAULT_RECONCILER_IMAGE };

/**
 * Name of the same-namespace NetworkPolicy, the one RKE2's profile creates in the built-in namespaces
 * (rancher/rke2 `pkg/rke2/np.go`, `defaultNetworkPolicyName`). Using the same name means that the
 * reconciler finds a policy the program (or RKE2) already put there and leaves it alone.
 */
export const SAME_NAMESPACE_POLICY_NAME = "default-network-policy";

/**
 * Makes a server-side-apply Patch take over its fields when another field manager holds them with a
 * different value. See `defaultServiceAccountPatch` for why the default-SA patch needs it.
 */
export const PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce";

/** Numeric user and group of the reconciler's container: `rancher/shell`'s `shell` user. */
export const RECONCILER_UID = 1000;

const RECONCILER_NAME = "cis-reconciler";
/** Cluster-scoped names are prefixed with the project so they cannot collide with anything else. */
const RECONCILER_CLUSTER_NAME = "hardened-rke2-cis-reconciler";
const PART_OF_LABEL = { "app.kubernetes.io/part-of": "hardened-rke2" } as const;

// ----------------------------------------------------------------------------------------------------
// Manifest shapes (subset of the Kubernetes API used here)
// ----------------------------------------------------------------------------------------------------

export type StringMap = Readonly<Record<string, string>>;

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: StringMap;
  readonly annotations?: StringMap;
}

export interface NamespacedObjectMeta extends ObjectMeta {
  readonly namespace: string;
}

export interface LabelSelector {
  readonly matchLabels?: StringMap;
}

/** Body of a `core.v1.ServiceAccountPatch` (server-side apply). */
export interface ServiceAccountPatchManifest {
  readonly apiVersion: "v1";
  readonly kind: "ServiceAccount";
  readonly metadata: NamespacedObjectMeta & { readonly annotations: StringMap };
  readonly automountServiceAccountToken: false;
}

export interface ServiceAccountManifest {
  readonly apiVersion: "v1";
  readonly kind: "ServiceAccount";
  readonly metadata: NamespacedObjectMeta;
  readonly automountServiceAccountToken: boolean;
}

export interface NamespaceManifest {
  readonly apiVersion: "v1";
  readonly kind: "Namespace";
  readonly metadata: ObjectMeta;
}

export interface NetworkPolicyPeer {
  readonly podSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly ipBlock?: { readonly cidr: string };
}

export interface NetworkPolicyManifest {
  readonly apiVersion: "networking.k8s.io/v1";
  readonly kind: "NetworkPolicy";
  readonly metadata: NamespacedObjectMeta;
  readonly spec: {
    readonly podSelector: LabelSelector;
    readonly policyTypes: "Ingress"[];
    readonly ingress: { readonly from: NetworkPolicyPeer[] }[];
  };
}

export interface PolicyRule {
  readonly apiGroups: string[];
  readonly resources: string[];
  readonly verbs: string[];
  readonly resourceNames?: string[];
}

export interface ClusterRoleManifest {
  readonly apiVersion: "rbac.authorization.k8s.io/v1";
  readonly kind: "ClusterRole";
  readonly metadata: ObjectMeta;
  readonly rules: PolicyRule[];
}

export interface ClusterRoleBindingManifest {
  readonly apiVersion: "rbac.authorization.k8s.io/v1";
  readonly kind: "ClusterRoleBinding";
  readonly metadata: ObjectMeta;
  readonly roleRef: {
    readonly apiGroup: "rbac.authorization.k8s.io";
    readonly kind: "ClusterRole";
    readonly name: string;
  };
  readonly subjects: { readonly kind: "ServiceAccount"; readonly name: string; readonly namespace: string }[];
}

export interface SeccompProfile {
  readonly type: "RuntimeDefault";
}

export interface ContainerSecurityContext {
  readonly runAsNonRoot: true;
  readonly runAsUser: number;
  readonly runAsGroup: number;
  readonly privileged: false;
  readonly allowPrivilegeEscalation: false;
  readonly readOnlyRootFilesystem: true;
  readonly capabilities: { readonly drop: "ALL"[] };
  readonly seccompProfile: SeccompProfile;
}

/** A type alias, not an interface: Pulumi's resource maps are index signatures, which interfaces do not fit. */
export type ResourceList = { readonly cpu: string; readonly memory: string };

export interface Container {
  readonly name: string;
  readonly image: string;
  readonly imagePullPolicy: "IfNotPresent";
  readonly command: string[];
  readonly env: { readonly name: string; readonly value: string }[];
  readonly securityContext: ContainerSecurityContext;
  readonly resources: { readonly requests: ResourceList; readonly limits: ResourceList };
  readonly volumeMounts: { readonly name: string; readonly mountPath: string }[];
}

export interface PodSpec {
  readonly serviceAccountName: string;
  readonly automountServiceAccountToken: true;
  readonly enableServiceLinks: false;
  readonly restartPolicy: "Never";
  readonly nodeSelector: StringMap;
  readonly securityContext: {
    readonly runAsNonRoot: true;
    readonly runAsUser: number;
    readonly runAsGroup: number;
    readonly fsGroup: number;
    readonly seccompProfile: SeccompProfile;
  };
  readonly containers: Container[];
  readonly volumes: { readonly name: string; readonly emptyDir: { readonly sizeLimit: string } }[];
}

export interface CronJobManifest {
  readonly apiVersion: "batch/v1";
  readonly kind: "CronJob";
  readonly metadata: NamespacedObjectMeta;
  readonly spec: {
    readonly schedule: string;
    readonly concurrencyPolicy: "Forbid";
    readonly startingDeadlineSeconds: number;
    readonly successfulJobsHistoryLimit: number;
    readonly failedJobsHistoryLimit: number;
    readonly jobTemplate: {
      readonly metadata: { readonly labels: StringMap };
      readonly spec: {
        readonly backoffLimit: number;
        readonly activeDeadlineSeconds: number;
        readonly template: { readonly metadata: { readonly labels: StringMap }; readonly spec: PodSpec };
      };
    };
  };
}

/** Everything the reconciler needs, in the order it should be created. */
export interface ReconcilerManifests {
  /** Its namespace, labelled for the restricted Pod Security Standard. */
  readonly namespace: NamespaceManifest;
  /** Its namespace's `default` ServiceAccount patched like every other namespace's. */
  readonly defaultServiceAccountPatch: ServiceAccountPatchManifest;
  /** Its namespace policed like every other namespace. */
  readonly networkPolicy: NetworkPolicyManifest;
  /** Its own identity; token automount is off here and on only in the CronJob's pod. */
  readonly serviceAccount: ServiceAccountManifest;
  readonly clusterRole: ClusterRoleManifest;
  readonly clusterRoleBinding: ClusterRoleBindingManifest;
  readonly cronJob: CronJobManifest;
}

// ----------------------------------------------------------------------------------------------------
// Internal invariants. config/ refuses every value that breaks these rules, with a message naming the
// key (config/grammar.ts holds the one grammar both sides use); the renderers check them again only so
// that a caller of this library who builds a model by hand gets an error instead of a broken manifest.
// ----------------------------------------------------------------------------------------------------

function assertNamespaceName(name: string, what: string): void {
  if (!isNamespaceName(name)) {
    throw new Error(`${what} ${JSON.stringify(name)} is not a valid namespace name (${DNS_LABEL_RULE}).`);
  }
}

function assertLabels(labels: StringMap, what: string): void {
  for (const [key, value] of Object.entries(labels)) {
    if (!isLabelKey(key)) throw new Error(`${what}: ${JSON.stringify(key)} is not a valid label key.`);
    if (!isLabelValue(value)) {
      throw new Error(`${what}: label ${key} has an invalid value ${JSON.stringify(value)}.`);
    }
  }
}

/** A CIDR in network form: valid address, prefix within range, no host bits set (`10.0.0.0/8`). */
function assertCidr(cidr: string, what: string): void {
  const checked = checkCidr(cidr);
  if (checked.ok) return;
  if (checked.reason === "host-bits") {
    throw new Error(
      `${what}: ${JSON.stringify(cidr)} has host bits set; write the network address ${checked.network}.`,
    );
  }
  throw new Error(`${what}: ${JSON.stringify(cidr)} is not a CIDR such as 10.0.0.0/8 or fd00::/8.`);
}

function assertPinnedImage(image: string): void {
  if (!parseImageReference(image)) {
    throw new Error(`reconciler image ${JSON.stringify(image)} is not an image reference.`);
  }
  if (!isPinnedImage(image)) {
    throw new Error(
      `reconciler image ${JSON.stringify(image)} is not pinned: give an explicit tag other than ` +
        `"latest" (or a digest), e.g. ${DEFAULT_RECONCILER_IMAGE}.`,
    );
  }
}

/** Kubernetes CronJob schedule: five fields (robfig/cron standard syntax) or a macro; no time zone. */
function assertSchedule(schedule: string): void {
  if (!isCronSchedule(schedule)) {
    throw new Error(
      `reconciler schedule ${JSON.stringify(schedule)} is not a Kubernetes CronJob schedule ` +
        `(five cron fields such as "*/5 * * * *", or @hourly/@daily/...; no TZ= prefix).`,
    );
  }
}

/** The normalised selector: `key`, `!key`, `key=value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`. */
function assertLabelSelector(selector: string): string {
  const parsed = parseLabelSelector(selector);
  if ("error" in parsed) {
    throw new Error(`reconciler networkPolicySelector ${JSON.stringify(selector)}: ${parsed.error}.`);
  }
  return parsed.selector;
}

// ----------------------------------------------------------------------------------------------------
// Default ServiceAccount (CIS 5.1.5)
// ----------------------------------------------------------------------------------------------------

/**
 * Server-side-apply patch of ServiceAccount `default` in `namespace` that sets only
 * `automountServiceAccountToken: false`, for `core.v1.ServiceAccountPatch`.
 *
 * Annotation `pulumi.com/patchForce: "true"`: the API server rejects an apply that changes a field
 * another field manager holds with a *different* value. In the built-in namespaces RKE2's profile has
 * already set the field to `false` with an Update (manager named after the rke2 client), and the
 * reconciler sets it with `kubectl patch`; an apply of the same value does not conflict, it just
 * becomes a co-owner. A conflict arises only when someone else holds it at `true` (a chart or a team
 * that manages the `default` ServiceAccount, or a manual edit), and then, without force, `pulumi up`
 * fails while the namespace stays non-compliant. CIS 5.1.5 is the point of the patch, so it must win:
 * force transfers ownership of the fields in this patch only, which is this one field (and the
 * annotation itself, which the provider sends along). The rest of the ServiceAccount stays with its
 * other managers. No `pulumi.com/patchFieldManager`: the provider's per-resource random manager is right.
 */
export function defaultServiceAccountPatch(namespace: string): ServiceAccountPatchManifest {
  assertNamespaceName(namespace, "default ServiceAccount patch: namespace");
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: "default", namespace, annotations: { [PATCH_FORCE_ANNOTATION]: "true" } },
    automountServiceAccountToken: false,
  };
}

// ----------------------------------------------------------------------------------------------------
// Namespaces and NetworkPolicies (CIS 5.3.2)
// ----------------------------------------------------------------------------------------------------

/** A namespace the stack asks the program to create (`create: true`), with its configured labels. */
export function namespaceManifest(ns: OperatorNamespaceModel): NamespaceManifest {
  assertNamespaceName(ns.name, "namespace");
  if (!ns.create) {
    throw new Error(`namespace ${ns.name} is not marked create: true; the program expects it to exist.`);
  }
  if (isBuiltin(ns.name)) {
    throw new Error(`namespace ${ns.name} is built into Kubernetes and cannot be created.`);
  }
  assertLabels(ns.labels, `namespace ${ns.name}`);
  return { apiVersion: "v1", kind: "Namespace", metadata: { name: ns.name, labels: { ...ns.labels } } };
}

function allowedSourcePeer(source: AllowedSourceModel, namespace: string, index: number): NetworkPolicyPeer {
  const what = `namespace ${namespace}: allowFrom[${index}]`;
  if ((source.namespace === undefined) === (source.cidr === undefined)) {
    throw new Error(`${what} must have exactly one of "namespace" or "cidr".`);
  }
  if (source.namespace !== undefined) {
    assertNamespaceName(source.namespace, `${what}.namespace`);
    // Every namespace carries this label, set by the API server (Kubernetes 1.21+).
    return { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": source.namespace } } };
  }
  const cidr = source.cidr as string;
  assertCidr(cidr, `${what}.cidr`);
  return { ipBlock: { cidr } };
}

/**
 * The policy RKE2's profile puts in the built-in namespaces (`default-network-policy`: all pods,
 * policy type Ingress only, ingress from any pod of the same namespace), plus one ingress peer per
 * `allowFrom` entry. DNS keeps working the way it does in RKE2: the policy does not restrict egress, so
 * queries leave the namespace, and CoreDNS in kube-system accepts them (RKE2's
 * `default-network-dns-policy` there); replies are return traffic, which policies never block.
 *
 * Built-in namespaces are refused: RKE2 owns the policy of that name there, and a Pulumi-managed copy
 * would take it over and delete it on destroy (RKE2 would not recreate it, its namespace annotation
 * says it is done).
 */
export function sameNamespaceNetworkPolicy(ns: OperatorNamespaceModel): NetworkPolicyManifest {
  assertNamespaceName(ns.name, "NetworkPolicy: namespace");
  if (isBuiltin(ns.name)) {
    throw new Error(
      `namespace ${ns.name} is built in: RKE2's CIS profile manages its ${SAME_NAMESPACE_POLICY_NAME}; ` +
        `add a separately named NetworkPolicy to allow more sources there.`,
    );
  }
  return renderPolicy(ns.name, [
    { podSelector: {} },
    ...ns.allowFrom.map((source, i) => allowedSourcePeer(source, ns.name, i)),
  ]);
}

/** The policy without its namespace: what the reconciler's script creates with `--namespace`. */
function renderPolicyBody(from: NetworkPolicyPeer[]): Omit<NetworkPolicyManifest, "metadata"> & {
  readonly metadata: ObjectMeta;
} {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: SAME_NAMESPACE_POLICY_NAME, labels: { ...PART_OF_LABEL } },
    spec: { podSelector: {}, policyTypes: ["Ingress"], ingress: [{ from }] },
  };
}

function renderPolicy(namespace: string, from: NetworkPolicyPeer[]): NetworkPolicyManifest {
  const body = renderPolicyBody(from);
  return { ...body, metadata: { ...body.metadata, namespace } };
}

// ----------------------------------------------------------------------------------------------------
// The in-cluster reconciler (namespaces created after `pulumi up`)
// ----------------------------------------------------------------------------------------------------

function checkReconcilerModel(model: ReconcilerModel): { selector: string } {
  assertNamespaceName(model.namespace, "reconciler namespace");
  if (isBuiltin(model.namespace)) {
    throw new Error(`reconciler namespace ${model.namespace} is built in; give it a namespace of its own.`);
  }
  model.excludeNamespaces.forEach((ns, i) => assertNamespaceName(ns, `reconciler excludeNamespaces[${i}]`));
  if (model.excludeNamespaces.includes(model.namespace)) {
    throw new Error(
      `reconciler excludeNamespaces must not list the reconciler's own namespace ${model.namespace}.`,
    );
  }
  assertPinnedImage(model.image);
  assertSchedule(model.schedule);
  const selector =
    model.networkPolicySelector.trim() === "" ? "" : assertLabelSelector(model.networkPolicySelector);
  return { selector };
}

/**
 * The reconciler's shell script: components/hardening/reconciler.sh (POSIX sh, kubectl only) with the
 * model's values.
 *
 * - Every Active namespace not in `excludeNamespaces`: if its `default` ServiceAccount does not have
 *   `automountServiceAccountToken: false`, patch it.
 * - Every Active namespace matching `networkPolicySelector` (independent of the exclusions, which are
 *   about the ServiceAccount only): if it has no `default-network-policy`, create the same-namespace
 *   policy. An existing one, RKE2's or one the program manages with extra sources, is left as it is.
 *   An empty selector selects nothing: the script reads and creates no policy (and the role has no rule
 *   for them).
 *
 * Idempotent: one stdout line per change, nothing when there is nothing to do. Errors go to stderr, the
 * run carries on with the next namespace, and exits 1 at the end so the Job shows as failed. A namespace
 * whose `default` ServiceAccount does not exist yet is skipped until the next run.
 */
export function renderReconcilerScript(model: ReconcilerModel): string {
  const { selector } = checkReconcilerModel(model);
  return renderScript(RECONCILER_SH, {
    exclude: model.excludeNamespaces.length === 0 ? " " : ` ${model.excludeNamespaces.join(" ")} `,
    selector,
    policy_name: SAME_NAMESPACE_POLICY_NAME,
    policy: JSON.stringify(renderPolicyBody([{ podSelector: {} }])),
  });
}

/**
 * The least RBAC the script needs, no wildcards:
 * - namespaces: `list` (both namespace listings; it never reads one namespace by name);
 * - serviceaccounts named `default`: `get`, `patch` (resourceNames confines both to that one name);
 * - networkpolicies named `default-network-policy`: `get`; networkpolicies: `create`. The API cannot
 *   confine `create` by name (the name is in the body, not the URL), so that rule has no resourceNames.
 *   Both networkpolicies rules are left out when the selector is empty.
 * No `list`/`watch` on serviceaccounts or networkpolicies, no `update`/`delete` anywhere.
 */
function reconcilerRules(selector: string): PolicyRule[] {
  const rules: PolicyRule[] = [
    { apiGroups: [""], resources: ["namespaces"], verbs: ["list"] },
    { apiGroups: [""], resources: ["serviceaccounts"], resourceNames: ["default"], verbs: ["get", "patch"] },
  ];
  if (selector !== "") {
    rules.push(
      {
        apiGroups: ["networking.k8s.io"],
        resources: ["networkpolicies"],
        resourceNames: [SAME_NAMESPACE_POLICY_NAME],
        verbs: ["get"],
      },
      { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["create"] },
    );
  }
  return rules;
}

/**
 * Every object of the reconciler (see `ReconcilerManifests`). Renders whether or not `model.enabled`
 * is set; the caller decides whether to deploy it.
 */
export function reconcilerManifests(model: ReconcilerModel): ReconcilerManifests {
  const { selector } = checkReconcilerModel(model);
  const script = renderReconcilerScript(model);
  const namespace = model.namespace;
  const labels = { "app.kubernetes.io/name": RECONCILER_NAME, ...PART_OF_LABEL };
  const podSeccomp: SeccompProfile = { type: "RuntimeDefault" };

  return {
    namespace: {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: namespace,
        labels: {
          ...PART_OF_LABEL,
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
          "pod-security.kubernetes.io/audit": "restricted",
          "pod-security.kubernetes.io/warn": "restricted",
        },
      },
    },
    defaultServiceAccountPatch: defaultServiceAccountPatch(namespace),
    networkPolicy: renderPolicy(namespace, [{ podSelector: {} }]),
    serviceAccount: {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: RECONCILER_NAME, namespace, labels },
      // Off for the identity; the CronJob's pod, the one consumer that talks to the API, turns it on.
      automountServiceAccountToken: false,
    },
    clusterRole: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: RECONCILER_CLUSTER_NAME, labels },
      rules: reconcilerRules(selector),
    },
    clusterRoleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: RECONCILER_CLUSTER_NAME, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: RECONCILER_CLUSTER_NAME },
      subjects: [{ kind: "ServiceAccount", name: RECONCILER_NAME, namespace }],
    },
    cronJob: {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: RECONCILER_NAME, namespace, labels },
      spec: {
        schedule: model.schedule.trim(),
        concurrencyPolicy: "Forbid",
        // A run that could not start within 2 minutes is skipped, not queued; the next one catches up.
        startingDeadlineSeconds: 120,
        successfulJobsHistoryLimit: 1,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: { labels },
          spec: {
            // The next scheduled run is the retry.
            backoffLimit: 0,
            // A hung run must not block the schedule forever (concurrencyPolicy Forbid).
            activeDeadlineSeconds: 1800,
            template: {
              metadata: { labels },
              spec: {
                serviceAccountName: RECONCILER_NAME,
                automountServiceAccountToken: true,
                enableServiceLinks: false,
                restartPolicy: "Never",
                nodeSelector: { "kubernetes.io/os": "linux" },
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: RECONCILER_UID,
                  runAsGroup: RECONCILER_UID,
                  fsGroup: RECONCILER_UID,
                  seccompProfile: podSeccomp,
                },
                containers: [
                  {
                    name: RECONCILER_NAME,
                    image: model.image,
                    imagePullPolicy: "IfNotPresent",
                    command: ["/bin/sh", "-c", script, RECONCILER_NAME],
                    // The root filesystem is read-only; kubectl's discovery cache goes under $HOME.
                    env: [{ name: "HOME", value: "/tmp" }],
                    securityContext: {
                      runAsNonRoot: true,
                      runAsUser: RECONCILER_UID,
                      runAsGroup: RECONCILER_UID,
                      privileged: false,
                      allowPrivilegeEscalation: false,
                      readOnlyRootFilesystem: true,
                      capabilities: { drop: ["ALL"] },
                      seccompProfile: podSeccomp,
                    },
                    resources: {
                      requests: { cpu: "20m", memory: "64Mi" },
                      limits: { cpu: "500m", memory: "256Mi" },
                    },
                    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                  },
                ],
                volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }],
              },
            },
          },
        },
      },
    },
  };
}

import { isDeepStrictEqual } from "node:util";

/** The type token of the Kubernetes provider resource. */
export const KUBERNETES_PROVIDER = "pulumi:providers:kubernetes";

/** The inputs from which pulumi-kubernetes reads which cluster it talks to. */
const CLUSTER_INPUTS = ["kubeconfig", "context", "cluster"] as const;

/**
 * Whether the Kubernetes provider resource plans its own replacement, which replaces every object created through
 * it. Read from pulumi-kubernetes `provider/pkg/provider/provider.go` (`DiffConfig`, v4):
 * - a `clusterIdentifier` present before and after decides alone: a new value replaces, the same value cancels
 *   every replacement (an unknown value counts as a new one);
 * - adding or removing `clusterIdentifier` never replaces by itself;
 * - otherwise a `kubeconfig`, `context` or `cluster` that is unknown at preview replaces ("we can't tell for sure
 *   if a computed value has changed, so we make the conservative choice");
 * - a known kubeconfig replaces when its active cluster changed; the offline plan's kubeconfigs are stand-ins, so
 *   that case is not modelled here.
 * @param unknownInputs inputs whose values are unknown in a preview (they come from a resource being created or
 *   replaced).
 */
export function kubernetesProviderReplaces(
  oldInputs: Readonly<Record<string, unknown>>,
  newInputs: Readonly<Record<string, unknown>>,
  unknownInputs: readonly string[],
): boolean {
  const before = oldInputs.clusterIdentifier;
  const after = newInputs.clusterIdentifier;
  if (before !== undefined && after !== undefined) {
    return unknownInputs.includes("clusterIdentifier") || !isDeepStrictEqual(before, after);
  }
  return CLUSTER_INPUTS.some((input) => unknownInputs.includes(input));
}

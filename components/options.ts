import type * as pulumi from "@pulumi/pulumi";

/**
 * The `dependsOn` a component received, for its children. Pulumi does not pass a component's `dependsOn` on to the
 * resources created inside it, so a component that must not act before something else (a node registration before
 * its host preparation) hands it to its children explicitly.
 */
export function inheritedDependsOn(
  opts: pulumi.ComponentResourceOptions | undefined,
  ...more: pulumi.Resource[]
): pulumi.Input<pulumi.Resource>[] {
  const inherited = opts?.dependsOn;
  const list: pulumi.Input<pulumi.Resource>[] =
    inherited === undefined
      ? []
      : Array.isArray(inherited)
        ? [...inherited]
        : [inherited as pulumi.Input<pulumi.Resource>];
  return [...list, ...more];
}

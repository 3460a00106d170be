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

/**
 * Aliases for a child named after its component (`childName` starts with the component's `name`): the component's
 * former names with the same suffix. The engine carries a component's aliases over to its children only for the
 * same child name, and a child URN names its parent's type, not its parent's name, so a child of a renamed
 * component needs its own former name to keep its state (and not run again).
 */
export function childAliases(
  name: string,
  childName: string,
  opts: pulumi.ComponentResourceOptions | undefined,
): { aliases?: pulumi.Alias[] } {
  if (!childName.startsWith(name)) return {};
  const suffix = childName.slice(name.length);
  const former = (opts?.aliases ?? []).flatMap((alias) =>
    typeof alias === "object" && alias !== null && "name" in alias && typeof alias.name === "string"
      ? [{ name: `${alias.name}${suffix}` }]
      : [],
  );
  return former.length > 0 ? { aliases: former } : {};
}

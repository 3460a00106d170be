import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { type ConfigProblem, formatProblem } from "../../config/problems";
import { type RecordedResource, mapSecrets } from "./engine";
import { KUBERNETES_PROVIDER, kubernetesProviderReplaces } from "./kubernetesProvider";
import { orderByDependencies, planStack } from "./plan";
import { type StackFile, readStackFile } from "./stackFile";

/**
 * What `pulumi up` would do to go from one configuration to another, read with the engine's and the providers' real
 * diff semantics, and which scripts that runs on which node (`npm run plan -- … --compare-to OLD_FILE`).
 *
 * - A resource is matched by URN, or by a former name in its `aliases` (a rename is no replacement).
 * - Changed inputs are compared with secrets revealed, and never printed (only the names of changed inputs are).
 * - `ignoreChanges` inputs do not count; a change of a `replaceOnChanges` input or of the `replacementTrigger`
 *   replaces; so does a change of an input the provider cannot update (`FORCE_NEW`).
 * - An input computed from a resource that is created or replaced is unknown in the preview, which counts as a
 *   change. The Kubernetes provider decides its own replacement (`kubernetesProviderReplaces`), and a resource whose
 *   provider is replaced is replaced with it.
 * - `command:remote:Command` has no diff: any other change is an update, which runs its `update` command, or its
 *   `create` again when it has none; a replacement runs `create`; a delete runs its `delete` command, if any.
 * - A protected resource that would be deleted or replaced makes `pulumi up` fail (`action` says so);
 *   `retainOnDelete` resources are only forgotten.
 */

export type Action = "same" | "update" | "replace" | "create" | "delete";

export interface Change {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly action: Action;
  /** The node a script of this change runs on (a Command's `node_name`), or null when nothing runs on a node. */
  readonly runsOnNode: string | null;
  /** Which of the Command's scripts runs: `create`, `update` or `delete`. */
  readonly script?: "create" | "update" | "delete";
  /** Names of the inputs that changed (values never shown). */
  readonly changedInputs: readonly string[];
  /** Why it matters: protected (up fails), retained on delete, matched through an alias. */
  readonly notes: readonly string[];
}

export interface NodeScript {
  readonly node: string;
  readonly resource: string;
  readonly script: "create" | "delete";
}

export interface Comparison {
  readonly changes: readonly Change[];
  /** Scripts that would run on nodes, in the order `pulumi up` runs them (harmless `update`s are not scripts). */
  readonly scripts: readonly NodeScript[];
}

const COMMAND = "command:remote:Command";

/** Inputs the provider cannot change in place (Terraform ForceNew, Kubernetes object identity). */
const FORCE_NEW: Readonly<Record<string, readonly string[]>> = {
  "rancher2:index/clusterV2:ClusterV2": ["name", "fleetNamespace"],
  "rancher2:index/clusterSync:ClusterSync": ["clusterId"],
  "kubernetes:core/v1:Namespace": ["metadata.name"],
  "kubernetes:core/v1:ServiceAccount": ["metadata.name", "metadata.namespace"],
  "kubernetes:core/v1:ServiceAccountPatch": ["metadata.name", "metadata.namespace"],
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": ["metadata.name", "metadata.namespace"],
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": ["metadata.name"],
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": ["metadata.name", "roleRef"],
  "kubernetes:batch/v1:CronJob": ["metadata.name", "metadata.namespace"],
};

/** Plain data with every secret revealed, for comparing (never for printing). */
function revealDeep(value: unknown): unknown {
  return mapSecrets(value, (secret) => revealDeep(secret.value));
}

/** Dotted paths (`metadata.name`) of the leaves that differ, down to `depth` levels. */
function changedPaths(a: unknown, b: unknown, prefix = "", depth = 2): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  const isObj = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  if (depth === 0 || !isObj(a) || !isObj(b)) return [prefix];
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return [...new Set([...Object.keys(ra), ...Object.keys(rb)])]
    .sort()
    .flatMap((k) => changedPaths(ra[k], rb[k], prefix ? `${prefix}.${k}` : k, depth - 1));
}

/** Whether a changed path falls under an option's property path (`triggers[*]`, `metadata`, `*`). */
function covers(option: string, path: string): boolean {
  if (option === "*") return true;
  const root = option.replace(/\[\*\]$/, "").replace(/\[\d+\]/g, "");
  return path === root || path.startsWith(`${root}.`) || root.startsWith(`${path}.`);
}

/** The node a Command's script names (`node_name='…'` in its values block), or its connection's host. */
export function nodeOf(resource: RecordedResource, command: "create" | "update" | "delete"): string | null {
  const script = revealDeep(resource.inputs[command]);
  const text = typeof script === "string" ? script : "";
  const named = /node_name='\\''((?:[^'\\]|\\.)*?)'\\''/.exec(text) ?? /node_name='([^']*)'/.exec(text);
  if (named) return named[1];
  const connection = revealDeep(resource.inputs.connection) as { host?: string } | undefined;
  return connection?.host ?? null;
}

/** The old resource a new one stands for: same URN, or one of its former names with the same type. */
function matchOld(
  resource: RecordedResource,
  oldByUrn: Map<string, RecordedResource>,
): RecordedResource | undefined {
  const same = oldByUrn.get(resource.urn);
  if (same) return same;
  for (const former of resource.options.aliasNames) {
    const candidate = [...oldByUrn.values()].find((r) => r.type === resource.type && r.name === former);
    if (candidate) return candidate;
  }
  return undefined;
}

export function compareResources(
  oldResources: readonly RecordedResource[],
  newResources: readonly RecordedResource[],
): Comparison {
  const oldByUrn = new Map(oldResources.filter((r) => r.custom).map((r) => [r.urn, r]));
  const matched = new Set<string>();
  const changes: Change[] = [];
  const scripts: NodeScript[] = [];
  /** New resources being created or replaced ("seed-ready (replaced)"): their outputs are unknown until they are. */
  const unsettled = new Map<string, string>();

  for (const next of orderByDependencies(newResources).filter((r) => r.custom)) {
    const old = matchOld(next, oldByUrn);
    const isCommand = next.type === COMMAND;
    if (!old) {
      const runs = isCommand ? nodeOf(next, "create") : null;
      changes.push(change(next, "create", runs, isCommand ? "create" : undefined, [], protectNote(next)));
      if (runs !== null) scripts.push({ node: runs, resource: next.name, script: "create" });
      unsettled.set(next.urn, `${next.name} (created)`);
      continue;
    }
    matched.add(old.urn);
    const notes = old.urn === next.urn ? [] : [`renamed from ${old.name} (alias)`];
    const unknownInputs = Object.entries(next.inputSources)
      .filter(([input, sources]) => sources.some((urn) => unsettled.has(urn)) && !ignored(next, input))
      .map(([input, sources]) => {
        const from = sources.filter((urn) => unsettled.has(urn)).map((urn) => unsettled.get(urn));
        notes.push(`${input}: unknown in the preview, it comes from ${from.join(", ")}`);
        return input;
      });
    const paths = [
      ...new Set([
        ...changedPaths(revealDeep(old.inputs), revealDeep(next.inputs)).filter((p) => !ignored(next, p)),
        ...unknownInputs,
      ]),
    ];
    const triggerChanged =
      next.options.replacementTrigger !== undefined &&
      !isDeepStrictEqual(
        revealDeep(old.options.replacementTrigger),
        revealDeep(next.options.replacementTrigger),
      );
    const providerReplaced = next.provider !== undefined && unsettled.has(next.provider);
    if (paths.length === 0 && !triggerChanged && !providerReplaced) {
      changes.push(change(next, "same", null, undefined, [], notes));
      continue;
    }
    const forceNew = FORCE_NEW[next.type] ?? [];
    const replace =
      triggerChanged ||
      providerReplaced ||
      (next.type === KUBERNETES_PROVIDER
        ? kubernetesProviderReplaces(inputsOf(old), inputsOf(next), unknownInputs)
        : paths.some(
            (p) =>
              next.options.replaceOnChanges.some((option) => covers(option, p)) ||
              forceNew.some((option) => covers(option, p)),
          ));
    const changed = [
      ...paths,
      ...(triggerChanged ? ["(replacementTrigger)"] : []),
      ...(providerReplaced ? ["(provider)"] : []),
    ];
    if (replace) {
      if (providerReplaced) notes.push(`replaced with its provider: ${unsettled.get(next.provider)}`);
      if (old.options.protect) notes.push("protected: pulumi up fails instead of replacing it");
      const runs = isCommand ? nodeOf(next, "create") : null;
      changes.push(change(next, "replace", runs, isCommand ? "create" : undefined, changed, notes));
      if (runs !== null) scripts.push({ node: runs, resource: next.name, script: "create" });
      unsettled.set(next.urn, `${next.name} (replaced)`);
      continue;
    }
    if (!isCommand) {
      changes.push(change(next, "update", null, undefined, changed, notes));
      continue;
    }
    // No diff in @pulumi/command: an update runs `update`, or `create` again when there is no `update`.
    const hasUpdate =
      typeof revealDeep(next.inputs.update) === "string" && revealDeep(next.inputs.update) !== "";
    const runs = hasUpdate ? null : nodeOf(next, "create");
    if (hasUpdate) notes.push("runs only its no-op update");
    changes.push(change(next, "update", runs, hasUpdate ? "update" : "create", changed, notes));
    if (runs !== null) scripts.push({ node: runs, resource: next.name, script: "create" });
  }

  // Deletes run after everything else, dependents first.
  for (const old of orderByDependencies(oldResources).reverse()) {
    if (!old.custom || matched.has(old.urn)) continue;
    const notes: string[] = [];
    if (old.options.protect) notes.push("protected: pulumi up fails instead of deleting it");
    if (old.options.retainOnDelete) notes.push("retained: only forgotten by Pulumi, kept in the cluster");
    const hasDelete = old.type === COMMAND && typeof revealDeep(old.inputs.delete) === "string";
    const runs = hasDelete && !old.options.protect ? nodeOf(old, "delete") : null;
    changes.push(change(old, "delete", runs, hasDelete ? "delete" : undefined, [], notes));
    if (runs !== null) scripts.push({ node: runs, resource: old.name, script: "delete" });
  }
  return { changes, scripts };
}

function inputsOf(resource: RecordedResource): Record<string, unknown> {
  return revealDeep(resource.inputs) as Record<string, unknown>;
}

/** Whether a change of this input path does not count (`ignoreChanges`). */
function ignored(resource: RecordedResource, inputPath: string): boolean {
  return resource.options.ignoreChanges.some((option) => covers(option, inputPath));
}

function protectNote(resource: RecordedResource): string[] {
  return resource.options.protect ? ["protected"] : [];
}

function change(
  resource: RecordedResource,
  action: Action,
  runsOnNode: string | null,
  script: Change["script"],
  changedInputs: readonly string[],
  notes: readonly string[],
): Change {
  return {
    urn: resource.urn,
    type: resource.type,
    name: resource.name,
    action,
    runsOnNode,
    ...(script ? { script } : {}),
    changedInputs,
    notes,
  };
}

export type CompareResult =
  | { readonly ok: true; readonly comparison: Comparison }
  | { readonly ok: false; readonly which: "old" | "new"; readonly problems: readonly ConfigProblem[] };

/** Evaluates both stack files under the offline engine and compares them. */
export async function compareStacks(oldFile: StackFile, newFile: StackFile): Promise<CompareResult> {
  const before = await planStack(oldFile);
  if (!before.ok) return { ok: false, which: "old", problems: before.problems };
  const after = await planStack(newFile);
  if (!after.ok) return { ok: false, which: "new", problems: after.problems };
  return { ok: true, comparison: compareResources(before.evaluation.resources, after.evaluation.resources) };
}

/** The JSON contract: `{ changes: [{urn, type, name, action, runsOnNode, ...}], scripts: [{node, resource, script}] }`. */
export function renderComparisonJson(comparison: Comparison): string {
  return `${JSON.stringify(comparison, null, 2)}\n`;
}

export function renderComparisonMarkdown(comparison: Comparison, oldName: string, newName: string): string {
  const lines = [`# What \`pulumi up\` would do going from \`${oldName}\` to \`${newName}\``, ""];
  const counts = (["create", "update", "replace", "delete", "same"] as const)
    .map((a) => `${comparison.changes.filter((c) => c.action === a).length} ${a}`)
    .join(", ");
  lines.push(counts, "", "## Scripts that would run on the nodes, in order", "");
  if (comparison.scripts.length === 0) lines.push("None: no node runs anything.");
  comparison.scripts.forEach((s, i) => lines.push(`${i + 1}. \`${s.node}\`: ${s.resource} (${s.script})`));
  lines.push(
    "",
    "## Resources",
    "",
    "| Action | Type | Name | Runs on node | Changed inputs | Notes |",
    "|---|---|---|---|---|---|",
  );
  for (const c of comparison.changes) {
    lines.push(
      `| ${c.action} | \`${c.type}\` | ${c.name} | ${c.runsOnNode ? `${c.runsOnNode} (${c.script})` : ""} | ${c.changedInputs.join(", ")} | ${c.notes.join("; ")} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** `npm run plan -- … --compare-to OLD_FILE` (scripts/plan.ts): prints the comparison, returns the exit code. */
export async function compareCommand(
  oldPath: string,
  newPath: string,
  newFile: StackFile,
  format: string | undefined,
): Promise<number> {
  let oldFile: StackFile;
  try {
    oldFile = readStackFile(path.resolve(oldPath), newFile.stack);
  } catch (error) {
    process.stderr.write(`Cannot read the stack file ${oldPath}: ${(error as Error).message}\n`);
    return 1;
  }
  const result = await compareStacks(oldFile, newFile);
  if (!result.ok) {
    process.stderr.write(
      `The configuration in ${result.which === "old" ? oldPath : newPath} is invalid.\n${result.problems.map(formatProblem).join("\n")}\n`,
    );
    return 1;
  }
  process.stdout.write(
    format === "json"
      ? renderComparisonJson(result.comparison)
      : renderComparisonMarkdown(result.comparison, oldPath, newPath),
  );
  return 0;
}

import type { ConfigProblem } from "../../config/problems";
import { formatProblem } from "../../config/problems";
import { validateStackConfig } from "../../config/validate";
import type { StackModel } from "../../config/model";
import { defineStack } from "../../components/program";
import { type Evaluation, type RecordedResource, evaluate, mapSecrets } from "./engine";
import type { StackFile } from "./stackFile";
import { type ControlCoverage, cisCoverage } from "./cis";

/**
 * The plan's JSON contract (`npm run plan -- --format json`), stable for tools and pull-request bots:
 * `{ stack, warnings[], placeholders[], resources: [{ urn, type, name, parent, dependsOn[], provider, inputs }],
 *    outputs, cis: [{ id, title, status, enforcedBy[], missing[] }] }`.
 * Resources are in dependency order (a resource after everything it depends on, ties by URN). `parent`,
 * `dependsOn` and `provider` hold URNs, because a component and its main child often share a name; every secret
 * is the string "[secret]".
 */
export interface PlanDocument {
  readonly stack: string;
  readonly warnings: readonly string[];
  /** Secrets the stack file does not set; the plan used placeholders for them. */
  readonly placeholders: readonly string[];
  readonly resources: readonly PlannedResource[];
  readonly outputs: Readonly<Record<string, unknown>>;
  /** The seed's CIS controls as this stack's resources enforce them. */
  readonly cis: readonly ControlCoverage[];
}

export interface PlannedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly parent: string | null;
  readonly dependsOn: readonly string[];
  readonly provider: string | null;
  readonly inputs: Readonly<Record<string, unknown>>;
}

export type PlanResult =
  | {
      readonly ok: true;
      readonly plan: PlanDocument;
      readonly evaluation: Evaluation;
      readonly model: StackModel;
    }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

/** Validates a stack file and, when valid, evaluates the program under the offline engine. */
export async function planStack(file: StackFile): Promise<PlanResult> {
  const { model, problems } = validateStackConfig(file.raw);
  if (!model) return { ok: false, problems };
  const evaluation = await evaluate(() => ({ ...defineStack(file.stack, model) }), { stack: file.stack });
  return {
    ok: true,
    evaluation,
    model,
    plan: {
      stack: file.stack,
      warnings: [...new Set([...problems.map(formatProblem), ...evaluation.warnings])],
      placeholders: file.placeholders,
      resources: orderByDependencies(evaluation.resources).map(toPlanned),
      outputs: redact(evaluation.outputs) as Record<string, unknown>,
      cis: cisCoverage(evaluation.resources, model),
    },
  };
}

/** Replaces every secret with "[secret]", whatever it holds. */
export function redact(value: unknown): unknown {
  return mapSecrets(value, () => "[secret]");
}

function toPlanned(resource: RecordedResource): PlannedResource {
  return {
    urn: resource.urn,
    type: resource.type,
    name: resource.name,
    parent: resource.parent ?? null,
    dependsOn: [...resource.dependsOn].sort(),
    provider: resource.provider ?? null,
    inputs: redact(resource.inputs) as Record<string, unknown>,
  };
}

/** Kahn's algorithm over dependencies and parents, ties broken by URN so that output is byte-identical run to run. */
export function orderByDependencies(resources: readonly RecordedResource[]): RecordedResource[] {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const waitsFor = new Map(
    resources.map((r) => [
      r.urn,
      new Set(
        [...r.dependsOn, ...(r.parent ? [r.parent] : []), ...(r.provider ? [r.provider] : [])].filter((u) =>
          byUrn.has(u),
        ),
      ),
    ]),
  );
  const ordered: RecordedResource[] = [];
  const done = new Set<string>();
  while (ordered.length < resources.length) {
    const ready = [...waitsFor.entries()]
      .filter(([urn, deps]) => !done.has(urn) && [...deps].every((d) => done.has(d)))
      .map(([urn]) => urn)
      .sort();
    // A cycle cannot happen in a Pulumi program; if it did, fall back to URN order rather than loop forever.
    const next = ready[0] ?? [...waitsFor.keys()].filter((u) => !done.has(u)).sort()[0];
    done.add(next);
    ordered.push(byUrn.get(next)!);
  }
  return ordered;
}

export function renderPlanJson(plan: PlanDocument): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}

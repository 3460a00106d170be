import * as YAML from "yaml";
import type { NodeScript } from "./nodeScripts";
import { nameOfUrn } from "./engine";
import type { PlanDocument } from "./plan";

/**
 * The plan for a terminal: what `pulumi up` would create, what runs on which node, the CIS coverage and the
 * warnings, in a screen or two. `full` adds every input of every resource, as the engine would receive it.
 */
export function renderPlanText(
  plan: PlanDocument,
  scripts: readonly NodeScript[],
  options: { readonly full?: boolean } = {},
): string {
  const out: string[] = [];
  out.push(
    `Plan for stack ${plan.stack}: pulumi up would create ${plan.resources.length} resources (offline: no Pulumi CLI, no Rancher).`,
  );
  if (plan.placeholders.length > 0) {
    out.push(
      `Not set in the stack file, planned with placeholders: ${plan.placeholders.join(", ")} ` +
        "(set them with pulumi config set --secret before pulumi up).",
    );
  }
  if (plan.warnings.length > 0) {
    out.push("", `Warnings (${plan.warnings.length})`, ...plan.warnings.map((w) => `  ${w}`));
  }

  out.push("", "Resources, in the order pulumi up creates them");
  const depth = new Map<string, number>();
  const rows = plan.resources.map((r, i) => {
    const level = r.parent && depth.has(r.parent) ? depth.get(r.parent)! + 1 : 0;
    depth.set(r.urn, level);
    return [String(i + 1), `${"  ".repeat(level)}${r.type}`, r.name];
  });
  out.push(...table(rows, ["right", "left", "left"]));

  if (scripts.length > 0) {
    out.push("", "What runs on which node (one SSH session each, in this order)");
    out.push(...table(scripts.map((s) => [s.node, s.target, s.what])));
  }

  out.push("", "CIS coverage");
  for (const control of plan.cis) {
    out.push(...table([[control.id, control.status, control.title]], ["left", "left", "left"], [13, 12]));
    for (const missing of control.missing) out.push(`${" ".repeat(31)}missing: ${missing}`);
  }

  if (options.full) {
    out.push("", "Inputs");
    for (const r of plan.resources) {
      out.push("", `${r.name} (${r.type})`);
      if (r.parent) out.push(`  parent: ${nameOfUrn(r.parent)}`);
      if (r.dependsOn.length > 0) out.push(`  after: ${r.dependsOn.map(nameOfUrn).join(", ")}`);
      if (r.provider) out.push(`  provider: ${nameOfUrn(r.provider)}`);
      if (Object.keys(r.inputs).length > 0) out.push(indent(YAML.stringify(r.inputs, { lineWidth: 0 })));
    }
    out.push("", "Outputs", indent(YAML.stringify(plan.outputs, { lineWidth: 0 })));
  } else {
    out.push(
      "",
      "Every input and dependency: add --full. For a pull request: --format md. For tools: --format json.",
    );
  }
  return `${out.join("\n")}\n`;
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}

/** Columns padded to their widest cell (or `minWidths`), two spaces between, indented by two. */
function table(
  rows: readonly (readonly string[])[],
  align: readonly ("left" | "right")[] = [],
  minWidths: readonly number[] = [],
): string[] {
  const widths =
    rows[0]?.map((_, c) => Math.max(minWidths[c] ?? 0, ...rows.map((row) => row[c].length))) ?? [];
  return rows.map(
    (row) =>
      `  ${row
        .map((cell, c) =>
          c === row.length - 1
            ? cell
            : align[c] === "right"
              ? cell.padStart(widths[c])
              : cell.padEnd(widths[c]),
        )
        .join("  ")}`,
  );
}

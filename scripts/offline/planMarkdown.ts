import * as YAML from "yaml";
import { renderCoverageMarkdown } from "./cis";
import { nameOfUrn } from "./engine";
import { mdDetails, mdFence, mdText } from "./markdown";
import type { NodeScript } from "./nodeScripts";
import type { PlanDocument } from "./plan";

/**
 * The plan for a pull request: the summary a reviewer reads first (warnings, what runs on which node, CIS
 * coverage), then everything else folded: the resource table, every input, the outputs. Every configured value
 * is escaped (see ./markdown.ts).
 */
export function renderPlanMarkdown(plan: PlanDocument, scripts: readonly NodeScript[] = []): string {
  const out: string[] = [];
  out.push(`# Plan for stack ${mdText(plan.stack)}`, "");
  out.push(
    `\`pulumi up\` would create ${plan.resources.length} resources (offline plan: no Pulumi CLI, no Rancher).`,
    "",
  );
  if (plan.placeholders.length > 0) {
    out.push(
      `> Not set in the stack file, shown with placeholders: ${plan.placeholders.map(mdText).join(", ")}. ` +
        "Set them with `pulumi config set --secret` before `pulumi up`.",
      "",
    );
  }
  if (plan.warnings.length > 0) {
    out.push("## Warnings", "", ...plan.warnings.map((w) => `- ${mdText(w)}`), "");
  }
  if (scripts.length > 0) {
    out.push(
      "## What runs on which node",
      "",
      "| Node | SSH | Script | Resource |",
      "|---|---|---|---|",
      ...scripts.map((s) => `| ${[s.node, s.target, s.what, s.resource].map(mdText).join(" | ")} |`),
      "",
    );
  }
  out.push(renderCoverageMarkdown(plan.cis, plan.stack), "");

  const rows = plan.resources.map((r, i) =>
    [
      String(i + 1),
      r.type,
      r.name,
      r.parent ? nameOfUrn(r.parent) : "",
      r.dependsOn.map(nameOfUrn).join(", "),
      r.provider ? nameOfUrn(r.provider) : "",
    ].map(mdText),
  );
  out.push(
    "## Resources",
    "",
    mdDetails(
      `${plan.resources.length} resources, in the order pulumi up creates them`,
      [
        "| # | Type | Name | Parent | Depends on | Provider |",
        "|---|---|---|---|---|---|",
        ...rows.map((cells) => `| ${cells.join(" | ")} |`),
      ].join("\n"),
    ),
    "",
  );

  out.push("## Inputs", "");
  for (const r of plan.resources) {
    if (Object.keys(r.inputs).length === 0) continue;
    out.push(
      mdDetails(
        `${r.name} (${r.type})`,
        mdFence(YAML.stringify(r.inputs, { lineWidth: 0 }).trimEnd(), "yaml"),
      ),
      "",
    );
  }
  out.push(
    "## Outputs",
    "",
    mdDetails("Stack outputs", mdFence(YAML.stringify(plan.outputs, { lineWidth: 0 }).trimEnd(), "yaml")),
    "",
  );
  return `${out.join("\n").trimEnd()}\n`;
}

import { mdText } from "../offline/markdown";
import type { NodeReport } from "./run";
import { exitCodeOf } from "./run";

/**
 * The report's JSON contract (`npm run verify -- --format json`):
 * `{ stack, exitCode, summary: { nodes, compliant, drift, error }, findings: [{ node, control, expected, actual }],
 *    nodes: [{ node, address, status, seconds, error?, warnings[], results: [{ control, title, status, expected, actual }] }] }`.
 */
export interface VerifyReport {
  readonly stack: string;
  readonly exitCode: 0 | 1 | 2;
  readonly summary: {
    readonly nodes: number;
    readonly compliant: number;
    readonly drift: number;
    readonly error: number;
  };
  readonly findings: readonly { node: string; control: string; expected: string; actual: string }[];
  readonly nodes: readonly NodeReport[];
}

export function buildReport(stack: string, reports: readonly NodeReport[]): VerifyReport {
  const count = (status: NodeReport["status"]) => reports.filter((r) => r.status === status).length;
  return {
    stack,
    exitCode: exitCodeOf(reports),
    summary: {
      nodes: reports.length,
      compliant: count("compliant"),
      drift: count("drift"),
      error: count("error"),
    },
    findings: reports.flatMap((r) =>
      r.results
        .filter((c) => c.status === "drift")
        .map((c) => ({ node: r.node, control: c.control, expected: c.expected, actual: c.actual })),
    ),
    nodes: reports.map((r) => ({ ...r, seconds: Math.round(r.seconds * 1000) / 1000 })),
  };
}

export function renderReportJson(report: VerifyReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** Table cells hold text from nodes and the stack: escaped, so that nothing in them can break the table. */
const cell = mdText;

export function renderReportMarkdown(report: VerifyReport): string {
  const { summary } = report;
  const verdict =
    report.exitCode === 0
      ? "every node is compliant"
      : report.exitCode === 1
        ? "drift found"
        : "some nodes could not be checked";
  const lines = [
    `## Host verification for stack \`${report.stack}\`: ${verdict}`,
    "",
    `${summary.nodes} node${summary.nodes === 1 ? "" : "s"} checked over SSH (read only): ${summary.compliant} compliant, ${summary.drift} with drift, ${summary.error} not reachable or not checkable.`,
    "",
  ];
  if (report.findings.length > 0) {
    lines.push("### Drift", "", "| Node | Control | Expected | Actual |", "|---|---|---|---|");
    for (const f of report.findings)
      lines.push(`| ${cell(f.node)} | ${cell(f.control)} | ${cell(f.expected)} | ${cell(f.actual)} |`);
    lines.push("");
  }
  const errors = report.nodes.filter((n) => n.status === "error");
  if (errors.length > 0) {
    lines.push("### Not checked", "", "| Node | Address | Error |", "|---|---|---|");
    for (const n of errors) lines.push(`| ${cell(n.node)} | ${cell(n.address)} | ${cell(n.error ?? "")} |`);
    lines.push("");
  }
  const warned = report.nodes.filter((n) => n.warnings.length > 0);
  if (warned.length > 0) {
    lines.push("### Warnings", "", ...warned.map((n) => `- ${n.node}: ${n.warnings.join("; ")}`), "");
  }
  if (report.nodes.every((n) => n.results.length === 0)) return `${lines.join("\n")}`;
  lines.push(
    "### Every control",
    "",
    "| Node | Control | Status | Actual | Seconds |",
    "|---|---|---|---|---|",
  );
  for (const n of report.nodes) {
    for (const c of n.results) {
      lines.push(
        `| ${cell(n.node)} | ${cell(c.control)} | ${c.status} | ${cell(c.actual)} | ${n.seconds.toFixed(2)} |`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

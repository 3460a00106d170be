import * as path from "node:path";
import { parseArgs } from "node:util";
import { formatProblem } from "../config/problems";
import { validateStackConfig } from "../config/validate";
import { projectDir, readStackFile, stackFilePath } from "./offline/stackFile";
import { buildReport, renderReportJson, renderReportMarkdown } from "./verify/report";
import { type NodeReport, sshSessionRunner, verifyNodes } from "./verify/run";

const USAGE = `usage: npm run verify -- --stack NAME [--config-file PATH] [--format md|json] [--nodes a,b]
                        [--concurrency N] [--timeout SECONDS]

Checks every node of a stack over SSH, read only, against what the program prepares: kernel values in the
running kernel, 90-kubelet.conf and later sysctl files, the etcd user and group, etcd's data directory
(CIS 1.1.12), the audit policy (content, owner, mode) and that kube-apiserver runs the current policy.
  --stack NAME         stacks/Pulumi.NAME.yaml (and the report's name)
  --config-file PATH   another stack settings file
  --format md|json     Markdown for people and pull requests (default), or the JSON contract
  --nodes a,b          only these nodes
  --concurrency N      sessions at once (default 16)
  --timeout SECONDS    per node, dial to last byte (default 60)
Keys come from the environment (stack files hold them encrypted): SSH_PRIVATE_KEY_<NODE> (node name in
upper case, '-' as '_'), else SSH_PRIVATE_KEY.
Exit status: 0 every node compliant, 1 drift, 2 usage, configuration or connection errors.`;

function usage(message: string): number {
  process.stderr.write(`${message}\n${USAGE}\n`);
  return 2;
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        stack: { type: "string" },
        "config-file": { type: "string" },
        format: { type: "string", default: "md" },
        nodes: { type: "string" },
        concurrency: { type: "string", default: "16" },
        timeout: { type: "string", default: "60" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    return usage((error as Error).message);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.stack === undefined && args["config-file"] === undefined) return usage("--stack NAME is required");
  if (!["md", "json"].includes(args.format ?? ""))
    return usage(`--format must be md or json, not ${args.format}`);
  const concurrency = Number(args.concurrency);
  const timeout = Number(args.timeout);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    return usage("--concurrency must be a whole number ≥ 1");
  if (!(timeout > 0)) return usage("--timeout must be a number of seconds > 0");

  const file = args["config-file"] ?? stackFilePath(projectDir(), args.stack!);
  let stackFile;
  try {
    stackFile = readStackFile(path.resolve(file), args.stack);
  } catch (error) {
    return usage(`Cannot read the stack file ${file}: ${(error as Error).message}`);
  }
  // The same gate as the program; the environment fills in the secrets the file holds encrypted.
  const env = process.env;
  const { model, problems } = validateStackConfig({ ...stackFile.raw, env });
  for (const problem of problems.filter((p) => p.severity === "warning"))
    process.stderr.write(`${formatProblem(problem)}\n`);
  if (!model) {
    process.stderr.write(
      `The configuration in ${file} is invalid:\n${problems.map(formatProblem).join("\n")}\n`,
    );
    return 2;
  }
  let nodes = model.nodes;
  if (args.nodes !== undefined) {
    const wanted = args.nodes
      .split(",")
      .map((n) => n.trim())
      .filter(Boolean);
    const unknown = wanted.filter((n) => !nodes.some((node) => node.name === n));
    if (unknown.length > 0)
      return usage(
        `--nodes: no node named ${unknown.join(", ")} (known: ${nodes.map((n) => n.name).join(", ")})`,
      );
    nodes = nodes.filter((node) => wanted.includes(node.name));
  }

  const interactive = process.stderr.isTTY === true;
  const started = performance.now();
  const onDone = (report: NodeReport, done: number, total: number) => {
    const line = `${report.node}: ${report.status}${report.error ? ` (${report.error})` : ""} in ${report.seconds.toFixed(2)} s`;
    if (interactive) process.stderr.write(`\r\x1b[K[${done}/${total}] ${line}${done === total ? "\n" : ""}`);
    else process.stderr.write(`verify: [${done}/${total}] ${line}\n`);
  };
  const reports = await verifyNodes(model, nodes, sshSessionRunner(env, timeout * 1000), {
    concurrency,
    onDone,
  });
  const wall = (performance.now() - started) / 1000;
  process.stderr.write(
    `verify: ${reports.length} node(s) in ${wall.toFixed(2)} s wall time (${(wall / Math.max(1, reports.length)).toFixed(3)} s per node, ${concurrency} at once)\n`,
  );
  const report = buildReport(stackFile.stack, reports);
  process.stdout.write(args.format === "json" ? renderReportJson(report) : renderReportMarkdown(report));
  return report.exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`verify failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);

import * as path from "node:path";
import { parseArgs } from "node:util";
import { formatProblem } from "../config/problems";
import { planStack, renderPlanJson, renderPlanMarkdown } from "./offline/plan";
import { compareCommand } from "./offline/compare";
import { readStackFile, stackFilePath } from "./offline/stackFile";

const USAGE = `usage: npm run plan -- (--stack NAME | --config-file PATH) [--format md|json] [--compare-to OLD_FILE]

Prints what \`pulumi up\` would create for a stack, offline (no Pulumi CLI, no Rancher).
  --stack NAME         plan stacks/Pulumi.NAME.yaml
  --config-file PATH   plan any stack settings file (check a config before committing it)
  --format md|json     Markdown for people and pull requests (default), or the JSON contract
  --compare-to OLD     what pulumi up would change going from the settings file OLD, and which scripts run on which node`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        stack: { type: "string" },
        "config-file": { type: "string" },
        format: { type: "string", default: "md" },
        "compare-to": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (
    (args.stack === undefined) === (args["config-file"] === undefined) ||
    !["md", "json"].includes(args.format ?? "")
  ) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const projectDir = path.resolve(__dirname, "..", "..");
  const file = args["config-file"] ?? stackFilePath(projectDir, args.stack!);
  let stackFile;
  try {
    stackFile = readStackFile(path.resolve(file), args.stack);
  } catch (error) {
    process.stderr.write(`Cannot read the stack file ${file}: ${(error as Error).message}\n`);
    return 1;
  }
  if (args["compare-to"] !== undefined)
    return compareCommand(args["compare-to"], file, stackFile, args.format);
  const result = await planStack(stackFile);
  if (!result.ok) {
    process.stderr.write(
      `The configuration in ${file} is invalid; pulumi up would create nothing.\n${result.problems.map(formatProblem).join("\n")}\n`,
    );
    return 1;
  }
  process.stdout.write(
    args.format === "json" ? renderPlanJson(result.plan) : renderPlanMarkdown(result.plan),
  );
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`plan failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);

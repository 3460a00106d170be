import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { formatProblem } from "../config/problems";
import type { PlanResult } from "./offline/plan";
import { type StackFile, projectDir, readStackFile, stackFilePath } from "./offline/stackFile";

/**
 * `npm run plan`: what `pulumi up` would create for a stack, offline. Options are one table (parsing, usage text
 * and checks all come from it) and every format is one function, so an option or a format is one entry.
 * The Pulumi SDK loads only once the arguments are good: help and usage errors answer at once.
 */
interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  /** Placeholder of the value in the usage text. */
  readonly value?: string;
  readonly help: string;
}

const OPTIONS = {
  stack: { type: "string", value: "NAME", help: "plan stacks/Pulumi.NAME.yaml" },
  "config-file": {
    type: "string",
    value: "PATH",
    help: "plan any stack settings file (check a config before committing it)",
  },
  format: {
    type: "string",
    value: "text|md|json",
    help: "text for a terminal (default), md for pull requests (everything, folded), json for tools",
  },
  full: { type: "boolean", help: "text format: add every input, dependency and output" },
  output: { type: "string", value: "FILE", help: "write the plan to FILE instead of standard output" },
  help: { type: "boolean", short: "h", help: "print this help" },
} as const satisfies Record<string, OptionSpec>;

type Values = {
  -readonly [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]["type"] extends "string" ? string : boolean;
};

type Planned = Extract<PlanResult, { ok: true }>;
type Render = (result: Planned, values: Values) => Promise<string>;

const FORMATS: Readonly<Record<string, Render>> = {
  text: async (r, v) => (await import("./offline/planText")).renderPlanText(r.plan, await scriptsOf(r), v),
  md: async (r) => (await import("./offline/planMarkdown")).renderPlanMarkdown(r.plan, await scriptsOf(r)),
  json: async (r) => (await import("./offline/plan")).renderPlanJson(r.plan),
};

async function scriptsOf(result: Planned) {
  const { nodeScripts } = await import("./offline/nodeScripts");
  return nodeScripts(
    result.evaluation,
    result.model,
    result.plan.resources.map((r) => r.urn),
  );
}

const USAGE = [
  "usage: npm run -s plan -- (--stack NAME | --config-file PATH) [--format text|md|json] [--full] [--output FILE]",
  "",
  "Prints what `pulumi up` would create for a stack, offline (no Pulumi CLI, no Rancher).",
  ...Object.entries(OPTIONS).map(([name, spec]: [string, OptionSpec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.value ? ` ${spec.value}` : ""}`;
    return `  ${flag.padEnd(26)} ${spec.help}`;
  }),
].join("\n");

class UsageError extends Error {}

/** Stack names with a settings file in stacks/. */
export function knownStacks(root: string): string[] {
  const dir = path.join(root, "stacks");
  const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  return files.flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? []).sort();
}

function parse(argv: readonly string[]): Values {
  let values: Values;
  try {
    values = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // Node's messages name the option: "Unknown option '--stak'", "Option '--stack <value>' argument missing".
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, "."));
  }
  if (values.help) return values;
  if (values.stack === undefined && values["config-file"] === undefined) {
    throw new UsageError("missing --stack NAME or --config-file PATH: say which stack to plan.");
  }
  if (values.stack !== undefined && values["config-file"] !== undefined) {
    throw new UsageError("--stack and --config-file both given: plan one stack at a time.");
  }
  const format = values.format ?? "text";
  if (!(format in FORMATS)) {
    throw new UsageError(`--format ${format} is not a format: use ${Object.keys(FORMATS).join(", ")}.`);
  }
  return values;
}

function readStack(values: Values): StackFile {
  const root = projectDir();
  if (values.stack !== undefined) {
    const stacks = knownStacks(root);
    if (!stacks.includes(values.stack)) {
      throw new Error(
        `there is no stack ${JSON.stringify(values.stack)}: stacks/ holds ${stacks.map((s) => `Pulumi.${s}.yaml`).join(", ") || "no stack files"}. ` +
          `Plan one of them (${stacks.map((s) => `--stack ${s}`).join(", ") || "none"}) or any file with --config-file PATH.`,
      );
    }
    return readStackFile(stackFilePath(root, values.stack), values.stack);
  }
  const file = path.resolve(values["config-file"]!);
  try {
    return readStackFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (error as Error).message;
    throw new Error(`cannot read the stack file ${values["config-file"]}: ${reason}`);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  let values: Values;
  try {
    values = parse(argv);
  } catch (error) {
    process.stderr.write(`plan: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const stackFile = readStack(values);
  const { planStack } = await import("./offline/plan");
  const result = await planStack(stackFile);
  if (!result.ok) {
    process.stderr.write(
      `The configuration in ${stackFile.path} is invalid; pulumi up would create nothing.\n${result.problems.map(formatProblem).join("\n")}\n`,
    );
    return 1;
  }
  const text = await FORMATS[values.format ?? "text"](result, values);
  if (values.output !== undefined) {
    fs.writeFileSync(values.output, text);
  } else {
    process.stdout.write(text);
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      // Every failure is a sentence for the user; a stack trace helps no one running a plan.
      process.stderr.write(`plan: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}

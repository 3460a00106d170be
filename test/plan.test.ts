import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { validateStackConfig } from "../config/validate";
import { cisCoverage } from "../scripts/offline/cis";
import { type PlanDocument, planStack, renderPlanJson } from "../scripts/offline/plan";
import { renderPlanMarkdown } from "../scripts/offline/planMarkdown";
import { readStackFile, stackFilePath } from "../scripts/offline/stackFile";
import { BEGIN, END, generatedCoverageBlock } from "../scripts/docs";
import {
  OTHER_TEST_PRIVATE_KEY,
  PROJECT_DIR,
  TEST_PRIVATE_KEY,
  TEST_TOKEN,
  rawConfig,
  runProgram,
  seedWith,
} from "./harness";

const PLAN = path.join(PROJECT_DIR, "bin", "scripts", "plan.js");

async function planOf(stack: string): Promise<PlanDocument> {
  const result = await planStack(readStackFile(stackFilePath(PROJECT_DIR, stack), stack));
  assert.ok(result.ok, result.ok ? "" : JSON.stringify(result.problems));
  return result.plan;
}

describe("offline plan", () => {
  for (const stack of ["staging", "prod"]) {
    it(`plans the ${stack} stack: cluster, one host prep and one registration per node, readiness last`, async () => {
      const plan = await planOf(stack);
      const names = plan.resources.map((r) => r.name);
      const nodes = readStackFile(stackFilePath(PROJECT_DIR, stack)).raw.values.nodes as { name: string }[];
      for (const node of nodes) {
        assert.ok(names.indexOf(`${node.name}-register`) > names.indexOf(`${node.name}-host-prep`));
        assert.ok(names.indexOf(`${node.name}-register`) > names.indexOf(`${stack}-rke2`));
        assert.ok(names.indexOf(`${stack}-rke2-ready`) > names.indexOf(`${node.name}-register`));
      }
      assert.deepEqual(plan.placeholders, ["rancherToken", "sshPrivateKey"]);
      assert.equal(plan.outputs.kubeconfig, "[secret]");
    });
  }

  it("orders resources after their dependencies and parents", async () => {
    const plan = await planOf("prod");
    const position = new Map(plan.resources.map((r, i) => [r.urn, i]));
    for (const [i, r] of plan.resources.entries()) {
      for (const dep of [...r.dependsOn, ...(r.parent ? [r.parent] : [])]) {
        assert.ok((position.get(dep) ?? -1) < i, `${r.name} comes after ${dep}`);
      }
    }
  });

  it("is byte-identical across runs in both formats", async () => {
    const first = await planOf("prod");
    const second = await planOf("prod");
    assert.equal(renderPlanJson(first), renderPlanJson(second));
    assert.equal(renderPlanMarkdown(first), renderPlanMarkdown(second));
  });

  it("never prints a secret, whatever the format", async () => {
    const result = await planStack({
      stack: "secrets",
      path: "memory",
      placeholders: [],
      raw: rawConfig(
        seedWith((v) => {
          v.nodeSshPrivateKeys = { "agent-1": OTHER_TEST_PRIVATE_KEY };
        }).values,
      ),
    });
    assert.ok(result.ok);
    for (const text of [renderPlanJson(result.plan), renderPlanMarkdown(result.plan)]) {
      for (const secret of [
        TEST_TOKEN,
        TEST_PRIVATE_KEY.split("\n")[1],
        OTHER_TEST_PRIVATE_KEY.split("\n")[1],
        "mocktoken",
        "mock-kubeconfig-token",
      ]) {
        assert.ok(!text.includes(secret), `the plan contains ${secret}`);
      }
      assert.ok(text.includes("[secret]"));
    }
  });

  it("the command line prints JSON that parses, and fails with the messages on an invalid file", () => {
    const ok = spawnSync(process.execPath, [PLAN, "--stack", "staging", "--format", "json"], {
      encoding: "utf8",
    });
    assert.equal(ok.status, 0, ok.stderr);
    const doc = JSON.parse(ok.stdout) as PlanDocument;
    assert.equal(doc.stack, "staging");
    assert.ok(
      doc.resources.every((r) => typeof r.type === "string" && Array.isArray(r.dependsOn) && "inputs" in r),
    );

    const bad = spawnSync(
      process.execPath,
      [PLAN, "--config-file", path.join(PROJECT_DIR, "test", "fixtures", "invalid", "bad-role.yaml")],
      { encoding: "utf8" },
    );
    assert.equal(bad.status, 1);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /error: hardened-rke2:nodes\[2\]\.roles: "master" is not a node role/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /, "no stack trace");
  });
});

describe("CIS coverage", () => {
  it("is fully enforced for the example stacks", async () => {
    for (const stack of ["staging", "prod"]) {
      const plan = await planOf(stack);
      assert.deepEqual(
        plan.cis.map((c) => [c.id, c.status]),
        [
          ["4.2.6", "enforced"],
          ["1.1.12", "enforced"],
          ["1.2.22-1.2.25", "enforced"],
          ["5.1.5", "enforced"],
          ["5.2.x", "enforced"],
          ["5.3.2", "enforced"],
        ],
        JSON.stringify(plan.cis, null, 1),
      );
    }
  });

  it("shows the gaps of a deliberately weakened stack", async () => {
    const raw = seedWith((v) => {
      v.cluster.profile = "none";
      v.cluster.protectKernelDefaults = false;
      v.hardening = {
        auditPolicyLevel: "None",
        reconciler: { enabled: false },
        namespaces: [{ name: "payments" }],
      };
    });
    const model = validateStackConfig(raw).model!;
    const plan = await runProgram(raw);
    // A later edit that drops the namespace's policy must show up too.
    const resources = plan.resources.filter((r) => !r.name.endsWith("netpol-payments"));
    const coverage = new Map(cisCoverage(resources, model).map((c) => [c.id, c]));
    assert.equal(coverage.get("4.2.6")!.status, "partly");
    assert.ok(coverage.get("4.2.6")!.missing.some((m) => m.includes("protect-kernel-defaults")));
    assert.equal(coverage.get("1.1.12")!.status, "partly");
    assert.ok(
      coverage.get("1.1.12")!.missing.includes("profile disabled in this stack (seed has no CIS profile)"),
    );
    assert.equal(coverage.get("1.2.22-1.2.25")!.status, "not enforced");
    assert.equal(coverage.get("5.1.5")!.status, "partly");
    assert.ok(coverage.get("5.1.5")!.missing.some((m) => m.includes("reconciler disabled")));
    assert.equal(coverage.get("5.2.x")!.status, "not enforced");
    assert.equal(coverage.get("5.3.2")!.status, "not enforced");
    assert.ok(coverage.get("5.3.2")!.missing.includes("namespace payments has no NetworkPolicy"));
  });

  it("the README's control table is the generated one", async () => {
    const readme = fs.readFileSync(path.join(PROJECT_DIR, "README.md"), "utf8");
    const block = readme.slice(readme.indexOf(BEGIN), readme.indexOf(END) + END.length);
    assert.equal(block, await generatedCoverageBlock(PROJECT_DIR), "README.md is stale: run npm run docs");
  });
});

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as semver from "semver";
import { ConfigValidationError, formatProblem } from "../config/problems";
import { defaultProfileFor, parseRke2Version, profileSupported } from "../config/profiles";
import { validateStackConfig } from "../config/validate";
import type { CisProfile } from "../config/model";
import { readStackFile } from "../scripts/offline/stackFile";
import {
  OTHER_TEST_PRIVATE_KEY,
  PROJECT_DIR,
  TEST_PRIVATE_KEY,
  input,
  rawConfig,
  runProgram,
  runProgramExpectingFailure,
  seedStackValues,
  seedWith,
} from "./harness";

function messagesOf(raw: ReturnType<typeof rawConfig>): string[] {
  return validateStackConfig(raw).problems.map(formatProblem);
}

function assertError(raw: ReturnType<typeof rawConfig>, ...fragments: string[]): void {
  const result = validateStackConfig(raw);
  assert.equal(result.model, undefined, "an invalid configuration must not produce a model");
  const errors = result.problems.filter((p) => p.severity === "error").map(formatProblem);
  assert.ok(
    errors.some((m) => fragments.every((f) => m.includes(f))),
    `no error contains ${JSON.stringify(fragments)}; errors were:\n${errors.join("\n")}`,
  );
}

describe("stack configuration", () => {
  it("accepts the seed stack and applies the seed's defaults", () => {
    const { model, problems } = validateStackConfig(rawConfig(seedStackValues()));
    assert.ok(model, problems.map(formatProblem).join("\n"));
    assert.deepEqual(problems, []);
    assert.equal(model.cluster.profile, "cis-1.6");
    assert.equal(model.cluster.protectKernelDefaults, true);
    assert.equal(model.cluster.cni, "canal");
    assert.deepEqual(model.cluster.chartValues, { "rke2-canal": {} });
    assert.deepEqual(
      { ...model.cluster.etcd },
      { disableSnapshots: false, snapshotRetention: 5, snapshotScheduleCron: "0 */5 * * *", s3: undefined },
    );
    assert.equal(model.cluster.upgradeStrategy.controlPlaneConcurrency, "10%");
    assert.equal(model.cluster.upgradeStrategy.workerConcurrency, "10%");
    assert.equal(model.cluster.localAuthEndpoint.enabled, false);
    assert.equal(model.hardening.auditPolicyLevel, "Metadata");
    assert.equal(model.nodes[3].ssh.user, "ubuntu");
    assert.equal(model.nodes[0].ssh.user, "root");
    assert.equal(model.nodes[0].ssh.port, 22);
  });

  it("returns a frozen model", () => {
    const { model } = validateStackConfig(rawConfig(seedStackValues()));
    assert.ok(model);
    assert.ok(Object.isFrozen(model.cluster.etcd));
    assert.ok(Object.isFrozen(model.nodes));
    assert.throws(() => {
      (model.cluster as { name: string }).name = "changed";
    }, TypeError);
  });

  it("reads numbers and booleans that Pulumi passes as strings", () => {
    const raw = seedWith((v) => {
      v.cluster.protectKernelDefaults = "true";
      v.cluster.etcd = { snapshotRetention: "7" };
      v.nodes[0].sshPort = "2222";
    });
    const { model } = validateStackConfig(raw);
    assert.equal(model?.cluster.etcd.snapshotRetention, 7);
    assert.equal(model?.nodes[0].ssh.port, 2222);
  });

  it("reports every problem of a run together, each with its full key", () => {
    const raw = seedWith((v) => {
      v.cluster.kubernetesVersion = "latest";
      v.nodes[2].roles = ["master"];
      v.nodes[1].sshPort = 0;
      v.hardening = { auditPolicyLevel: "Everything" };
    });
    const messages = messagesOf(raw).filter((m) => m.startsWith("error"));
    assert.equal(messages.length, 4, messages.join("\n"));
    for (const key of [
      "cluster.kubernetesVersion",
      "nodes[2].roles",
      "nodes[1].sshPort",
      "hardening.auditPolicyLevel",
    ]) {
      assert.ok(
        messages.some((m) => m.includes(`hardened-rke2:${key}:`)),
        `no message for ${key}`,
      );
    }
  });

  it("names the bad value, what is allowed and the fix", () => {
    const [message] = messagesOf(seedWith((v) => (v.nodes[2].roles = ["etcd", "wroker"]))).filter((m) =>
      m.startsWith("error"),
    );
    assert.equal(
      message,
      `error: hardened-rke2:nodes[2].roles: "wroker" is not a node role. Got: "wroker". Allowed: etcd, controlplane, worker. ` +
        `Fix: pulumi config set --path 'hardened-rke2:nodes[2].roles[1]' worker`,
    );
  });

  it("suggests the key a typo meant", () => {
    assertError(
      seedWith((v) => (v.cluster.kubernetesVerison = "v1.23.16+rke2r1")),
      "cluster.kubernetesVerison",
      'did you mean "kubernetesVersion"',
    );
  });

  it("rejects a Rancher token or SSH key stored in plain text, without echoing it", () => {
    const raw = rawConfig(seedStackValues(), { plainKeys: ["rancherToken", "sshPrivateKey"] });
    const messages = messagesOf(raw).join("\n");
    assert.match(
      messages,
      /hardened-rke2:rancherToken: This value is stored in plain text; it must be a secret/,
    );
    assert.match(messages, /hardened-rke2:sshPrivateKey: The SSH private key is stored in plain text/);
    assert.ok(!messages.includes("s3cr3tvalue"), "the message must not contain the secret");
    assert.ok(!messages.includes(TEST_PRIVATE_KEY.split("\n")[1]), "the message must not contain the key");
  });

  it("requires the Rancher token and an SSH key", () => {
    const values = seedStackValues();
    delete values.rancherToken;
    delete values.sshPrivateKey;
    const raw = rawConfig(values);
    assertError(raw, "hardened-rke2:rancherToken", "This secret is required", "pulumi config set --secret");
    assertError(raw, "hardened-rke2:sshPrivateKey", "Node server-1 has no SSH private key");
  });

  it("uses a per-node key over the shared one, on a valid config", async () => {
    const values = seedStackValues();
    values.nodeSshPrivateKeys = { "server-1": OTHER_TEST_PRIVATE_KEY };
    const { model, problems } = validateStackConfig(rawConfig(values));
    assert.ok(model, problems.map(formatProblem).join("\n"));
    const plan = await runProgram(rawConfig(values));
    const keyOf = (name: string) =>
      (input(plan.named(`${name}-host-prep`), "connection") as { privateKey: string }).privateKey;
    assert.equal(keyOf("server-1"), OTHER_TEST_PRIVATE_KEY);
    for (const node of ["server-2", "server-3", "agent-1", "agent-2"])
      assert.equal(keyOf(node), TEST_PRIVATE_KEY);
    assert.notEqual(OTHER_TEST_PRIVATE_KEY, TEST_PRIVATE_KEY);
  });

  it("rejects a per-node key for a node that does not exist", () => {
    const values = seedStackValues();
    values.nodeSshPrivateKeys = { "server-1": OTHER_TEST_PRIVATE_KEY, "server-9": OTHER_TEST_PRIVATE_KEY };
    assertError(rawConfig(values), "hardened-rke2:nodeSshPrivateKeys.server-9", "No node has this name");
  });

  it("warns about an even number of etcd nodes and about unpinned host keys, without failing", () => {
    const raw = seedWith((v) => {
      v.nodes[2].roles = ["controlplane"];
      delete v.nodes[3].hostKey;
    });
    const { model, problems } = validateStackConfig(raw);
    assert.ok(model);
    const warnings = problems.filter((p) => p.severity === "warning").map(formatProblem);
    assert.ok(
      warnings.some((w) => w.includes("hardened-rke2:nodes: 2 etcd nodes")),
      warnings.join("\n"),
    );
    assert.ok(warnings.some((w) => w.includes("hardened-rke2:nodes[3].hostKey") && w.includes("not pinned")));
  });

  it("rejects an allowed source with both or neither of namespace and cidr, and a bad CIDR", () => {
    const raw = seedWith((v) => {
      v.hardening = {
        namespaces: [
          { name: "apps", allowFrom: [{ namespace: "a", cidr: "10.0.0.0/8" }, {}, { cidr: "10.0.0.0/33" }] },
        ],
      };
    });
    assertError(
      raw,
      "hardened-rke2:hardening.namespaces[0].allowFrom[0]",
      "exactly one of namespace or cidr",
    );
    assertError(
      raw,
      "hardened-rke2:hardening.namespaces[0].allowFrom[1]",
      "exactly one of namespace or cidr",
    );
    assertError(raw, "hardened-rke2:hardening.namespaces[0].allowFrom[2].cidr", "not a CIDR");
  });

  it("rejects built-in and duplicate operator namespaces", () => {
    const raw = seedWith(
      (v) => (v.hardening = { namespaces: [{ name: "kube-system" }, { name: "apps" }, { name: "apps" }] }),
    );
    assertError(raw, "hardened-rke2:hardening.namespaces[0].name", "Built-in namespaces");
    assertError(
      raw,
      "hardened-rke2:hardening.namespaces[2].name",
      "already declared at hardening.namespaces[1]",
    );
  });

  it("validates custom audit rules: level, known fields, stages", () => {
    const raw = seedWith(
      (v) =>
        (v.hardening = {
          auditRules: [
            { level: "Loud" },
            { level: "Request", verb: ["get"] },
            { level: "None", omitStages: ["Never"] },
          ],
        }),
    );
    assertError(
      raw,
      "hardened-rke2:hardening.auditRules[0].level",
      "Allowed: None, Metadata, Request, RequestResponse",
    );
    assertError(raw, "hardened-rke2:hardening.auditRules[1].verb", 'did you mean "verbs"');
    assertError(raw, "hardened-rke2:hardening.auditRules[2].omitStages[0]", "not an audit stage");
  });

  it("accepts concurrency as a count or a percentage, nothing else", () => {
    for (const good of ["1", "3", "10%", "100%", 2]) {
      const { model } = validateStackConfig(
        seedWith((v) => (v.cluster.upgradeStrategy = { workerConcurrency: good })),
      );
      assert.equal(model?.cluster.upgradeStrategy.workerConcurrency, String(good));
    }
    for (const bad of ["0", "0%", "101%", "10 %", "-1", "all"]) {
      assertError(
        seedWith((v) => (v.cluster.upgradeStrategy = { controlPlaneConcurrency: bad })),
        "controlPlaneConcurrency",
      );
    }
  });

  it("accepts five-field crons and descriptors, rejects the rest", () => {
    for (const good of ["0 */5 * * *", "15 3 * * 1-5", "@daily"]) {
      assert.ok(
        validateStackConfig(seedWith((v) => (v.cluster.etcd = { snapshotScheduleCron: good }))).model,
        good,
      );
    }
    for (const bad of ["0 */5 * *", "* * * * * *", "61 * * * *", "@every 5h", ""]) {
      assertError(
        seedWith((v) => (v.cluster.etcd = { snapshotScheduleCron: bad })),
        "snapshotScheduleCron",
      );
    }
  });

  it("a Pod Security Admission template needs a PSA profile", () => {
    assertError(
      seedWith((v) => (v.cluster.podSecurityAdmissionTemplate = "rancher-restricted")),
      "hardened-rke2:cluster.podSecurityAdmissionTemplate",
      "cis-1.23 or cis",
    );
  });

  it("profile none is a warning, not an error", () => {
    const { model, problems } = validateStackConfig(seedWith((v) => (v.cluster.profile = "none")));
    assert.equal(model?.cluster.profile, undefined);
    assert.ok(problems.some((p) => p.severity === "warning" && p.key === "hardened-rke2:cluster.profile"));
  });

  it("an invalid configuration registers no resource and fails with the messages, not a stack trace", async () => {
    const raw = seedWith((v) => (v.nodes[0].roles = ["master"]));
    const { error, recorded } = await runProgramExpectingFailure(raw);
    assert.ok(error instanceof ConfigValidationError, String(error));
    assert.match(error.message, /^The stack configuration has 1 error; nothing was created\./);
    assert.match(error.message, /hardened-rke2:nodes\[0\]\.roles/);
    assert.deepEqual(
      recorded.filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => r.name),
      [],
    );
  });
});

describe("profile and Kubernetes version rules", () => {
  const table: [string, CisProfile, boolean][] = [
    ["v1.21.14+rke2r1", "cis-1.5", true],
    ["v1.23.16+rke2r1", "cis-1.6", true],
    ["v1.24.17+rke2r1", "cis-1.6", true],
    ["v1.24.17+rke2r1", "cis-1.23", false],
    ["v1.24.17+rke2r1", "cis", false],
    ["v1.25.0+rke2r1", "cis-1.6", false],
    ["v1.25.0+rke2r1", "cis-1.23", true],
    ["v1.25.14+rke2r1", "cis", false],
    ["v1.25.15+rke2r1", "cis", true],
    ["v1.26.9+rke2r1", "cis", false],
    ["v1.26.10+rke2r1", "cis", true],
    ["v1.27.6+rke2r1", "cis", false],
    ["v1.27.7+rke2r1", "cis", true],
    ["v1.28.2+rke2r1", "cis", false],
    ["v1.28.3+rke2r1", "cis", true],
    ["v1.29.0+rke2r1", "cis", true],
    ["v1.29.15+rke2r1", "cis-1.23", true],
    ["v1.30.0+rke2r1", "cis-1.23", false],
    ["v1.30.0+rke2r1", "cis", true],
    ["v1.33.1+rke2r1", "cis", true],
  ];
  for (const [version, profile, expected] of table) {
    it(`${profile} on ${version}: ${expected ? "accepted" : "refused"}`, () => {
      const parsed = parseRke2Version(version);
      assert.ok(parsed);
      assert.equal(profileSupported(profile, parsed), expected);
      const { model } = validateStackConfig(
        seedWith((v) => {
          v.cluster.kubernetesVersion = version;
          v.cluster.profile = profile;
        }),
      );
      assert.equal(model !== undefined, expected);
    });
  }

  it("defaults to the seed's profile where RKE2 has it, else the newest", () => {
    const cases: [string, CisProfile][] = [
      ["v1.23.16+rke2r1", "cis-1.6"],
      ["v1.25.3+rke2r1", "cis-1.23"],
      ["v1.25.15+rke2r1", "cis"],
      ["v1.31.2+rke2r1", "cis"],
    ];
    for (const [version, profile] of cases)
      assert.equal(defaultProfileFor(parseRke2Version(version)!), profile);
  });

  it("accepts only RKE2 release names", () => {
    for (const good of ["v1.23.16+rke2r1", "v1.30.1+rke2r2", "v1.26.0-rc1+rke2r1"])
      assert.ok(parseRke2Version(good), good);
    for (const bad of [
      "1.23.16+rke2r1",
      "v1.23.16",
      "v1.23.16+k3s1",
      "v1.23+rke2r1",
      "latest",
      "v1.23.16+rke2",
    ]) {
      assert.equal(parseRke2Version(bad), undefined, bad);
    }
    assert.ok(semver.valid(parseRke2Version("v1.23.16+rke2r1")));
  });
});

/** Steps of a `--path` key: `a.b[0]["x.y"].c`. */
function pathSteps(text: string): (string | number)[] {
  const steps: (string | number)[] = [];
  const re = /([^.[\]]+)|\[(\d+)\]|\["([^"]*)"\]/g;
  for (const match of text.matchAll(re))
    steps.push(match[2] !== undefined ? Number(match[2]) : (match[1] ?? match[3]));
  return steps;
}

/**
 * Applies a fix of the form `pulumi config set --path 'hardened-rke2:PATH' VALUE` (as a user would paste it) to
 * raw values; returns false when the fix is not of that form.
 */
function applySetFix(values: Record<string, unknown>, fix: string): boolean {
  const match = /^pulumi config set --path 'hardened-rke2:([^']+)' ('(?:[^']|'\\'')*'|\S+)$/.exec(fix);
  if (!match) return false;
  const value = match[2].startsWith("'") ? match[2].slice(1, -1).replace(/'\\''/g, "'") : match[2];
  const steps = pathSteps(match[1]);
  let node = values as Record<string | number, unknown>;
  for (const [i, step] of steps.entries()) {
    if (i === steps.length - 1) {
      node[step] = value;
    } else {
      node[step] ??= typeof steps[i + 1] === "number" ? [] : {};
      node = node[step] as Record<string | number, unknown>;
    }
  }
  return true;
}

describe("invalid stack files", () => {
  const dir = path.join(PROJECT_DIR, "test", "fixtures", "invalid");
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort();

  it("has a battery of cases", () =>
    assert.ok(files.length >= 20, `only ${files.length} invalid stack files`));

  for (const file of files) {
    it(`${file} is refused with its message and creates nothing`, async () => {
      const text = fs.readFileSync(path.join(dir, file), "utf8");
      const expected = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]);
      assert.ok(expected.length > 0, `${file} says what it expects`);
      const stackFile = readStackFile(path.join(dir, file));
      const { model, problems } = validateStackConfig(stackFile.raw);
      assert.equal(model, undefined);
      const errors = problems.filter((p) => p.severity === "error").map(formatProblem);
      assert.ok(
        errors.some((m) => expected.every((e) => m.includes(e))),
        `expected one error containing ${JSON.stringify(expected)}, got:\n${errors.join("\n")}`,
      );
      const { recorded } = await runProgramExpectingFailure(stackFile.raw);
      assert.equal(recorded.filter((r) => r.type !== "pulumi:pulumi:Stack").length, 0);
      // Every fix that sets a value sets a valid one: applied as the user would, its problem goes away.
      for (const problem of problems.filter((p) => p.severity === "error" && p.fix !== undefined)) {
        const values = structuredClone(stackFile.raw.values) as Record<string, unknown>;
        if (!applySetFix(values, problem.fix!)) continue;
        const after = validateStackConfig({ ...stackFile.raw, values }).problems;
        assert.ok(
          !after.some(
            (p) => p.severity === "error" && p.key === problem.key && p.message === problem.message,
          ),
          `the fix does not fix it: ${formatProblem(problem)}`,
        );
      }
    });
  }
});

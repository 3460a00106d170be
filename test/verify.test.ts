import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { generateParsableKeyPair } from "../scripts/offline/stackFile";
import type { NodeModel, StackModel } from "../config/model";
import { validateStackConfig } from "../config/validate";
import { renderAuditPolicy } from "../components/host/auditPolicy";
import { KERNEL_PARAMETERS, renderSysctlConf } from "../components/host/render";
import { type ControlResult, evaluateNode } from "../scripts/verify/evaluate";
import {
  expectationFor,
  parseFacts,
  renderNodeCheckCommand,
  renderNodeCheckScript,
} from "../scripts/verify/nodeCheck";
import { buildReport, renderReportJson, renderReportMarkdown } from "../scripts/verify/report";
import {
  type SessionRunner,
  exitCodeOf,
  nodeKeyVariable,
  privateKeyFor,
  verifyNodes,
} from "../scripts/verify/run";
import { PROJECT_DIR, rawConfig, seedStackValues } from "./harness";
import { shellcheck } from "./shellcheck";

// The node check runs for real here, with bash, against temporary directories laid out like nodes
// (fake /proc/sys, /etc, RKE2's paths): its `root` value points every read there.

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function seedModel(edit: (values: Record<string, unknown>) => void = () => {}): StackModel {
  const values = seedStackValues();
  edit(values);
  const { model, problems } = validateStackConfig(rawConfig(values));
  assert.ok(model, problems.map((p) => p.message).join("\n"));
  return model;
}

const MODEL = seedModel();
const SERVER = MODEL.nodes.find((n) => n.name === "server-1")!;
const AGENT = MODEL.nodes.find((n) => n.name === "agent-1")!;
const POLICY = renderAuditPolicy(MODEL.hardening.auditPolicyLevel, MODEL.hardening.auditRules);
const ETCD_UID = 997;

interface FakeNode {
  root: string;
  write(file: string, content: string, mode?: number): void;
  remove(file: string): void;
}

/**
 * A node as host preparation leaves it and RKE2 runs on it (server: etcd user, etcd data dir, audit
 * policy, a kube-apiserver started after the policy), in a temp directory.
 */
function preparedNode(options: { server?: boolean; rke2?: boolean } = {}): FakeNode {
  const server = options.server ?? true;
  const rke2 = options.rke2 ?? true;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "hardened-rke2-verify-"));
  tempDirs.push(root);
  const write = (file: string, content: string, mode = 0o644) => {
    const full = path.join(root, file);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, content);
    fs.chmodSync(full, mode);
  };
  const node: FakeNode = {
    root,
    write,
    remove: (file) => fs.rmSync(path.join(root, file), { recursive: true }),
  };
  for (const p of KERNEL_PARAMETERS) write(`proc/sys/${p.name.replace(/\./g, "/")}`, `${p.value}\n`);
  write("etc/sysctl.d/90-kubelet.conf", renderSysctlConf());
  // The fake node's own passwd and group files, as `useradd -r -U` leaves them on Debian.
  const etcdLine = server ? `etcd:x:${ETCD_UID}:${ETCD_UID}:etcd user:/home/etcd:/usr/sbin/nologin\n` : "";
  write("etc/passwd", `root:x:0:0:root:/root:/bin/bash\n${etcdLine}`);
  write("etc/group", `root:x:0:\n${server ? `etcd:x:${ETCD_UID}:\n` : ""}`);
  write("etc/login.defs", "UID_MIN 1000\nSYS_UID_MAX 999\n");
  // /proc/stat's btime: the boot time in seconds since the epoch (proc(5)).
  const boot = Math.floor(Date.now() / 1000) - 3600;
  write("proc/stat", `cpu  1 2 3 4\nbtime ${boot}\nprocesses 100\n`);
  if (server) write("etc/rancher/rke2/audit-policy.yaml", POLICY, 0o600);
  if (rke2) {
    write("usr/local/bin/rke2", "#!/bin/sh\n", 0o755);
    if (server) {
      fs.mkdirSync(path.join(root, "var/lib/rancher/rke2/server/db/etcd"), { recursive: true, mode: 0o700 });
      fs.chownSync(path.join(root, "var/lib/rancher/rke2/server/db/etcd"), ETCD_UID, ETCD_UID);
      // Started 10 s from now (after the policy written above); starttime is in clock ticks since boot.
      startApiserver(node, boot, Math.floor(Date.now() / 1000) + 10);
    }
  }
  return node;
}

/** A kube-apiserver in the fake /proc: comm, stat (proc(5) layout, starttime field 22) and cmdline. */
function startApiserver(
  node: FakeNode,
  boot: number,
  startedAt: number,
  policyFile = "/etc/rancher/rke2/audit-policy.yaml",
) {
  const ticks = (startedAt - boot) * 100;
  const fields = ["S", ...Array.from({ length: 18 }, (_, i) => String(i + 1)), String(ticks), "0", "0"];
  node.write("proc/4242/comm", "kube-apiserver\n");
  node.write("proc/4242/stat", `4242 (kube-apiserver) ${fields.join(" ")}\n`);
  node.write(
    "proc/4242/cmdline",
    ["kube-apiserver", `--audit-policy-file=${policyFile}`, "--audit-log-maxage=30", ""].join("\0"),
  );
}

function runCheck(node: FakeNode, name = "server-1") {
  const result = spawnSync("bash", ["-c", renderNodeCheckScript(name, node.root)], { encoding: "utf8" });
  assert.equal(result.status, 0, `the node check failed: ${result.stderr}`);
  return result.stdout;
}

function check(node: FakeNode, model: NodeModel = SERVER, stack: StackModel = MODEL): ControlResult[] {
  return evaluateNode(expectationFor(stack, model), parseFacts(runCheck(node, model.name)));
}

const drift = (results: readonly ControlResult[]) => results.filter((r) => r.status === "drift");

describe("verify: the node check script", () => {
  it("is shellcheck-clean as rendered, and as the SSH command's script", () => {
    shellcheck(renderNodeCheckScript("server-1"));
    assert.match(renderNodeCheckCommand("server-1"), /sudo -n bash -c/);
  });

  it("keeps a hostile node name literal", () => {
    const node = preparedNode();
    const name = "$(touch /tmp/hardened-rke2-pwned) 'q' `x`";
    const out = runCheck(node, name);
    assert.equal(out.split("\n")[0], `node ${name}`);
    assert.equal(fs.existsSync("/tmp/hardened-rke2-pwned"), false);
  });

  it("changes nothing on the node it reads", () => {
    const node = preparedNode();
    const listing = () =>
      spawnSync("bash", ["-c", `cd '${node.root}' && find . -printf '%p %m %U %G %s %T@\\n' | sort`], {
        encoding: "utf8",
      }).stdout;
    const before = listing();
    runCheck(node);
    assert.equal(listing(), before);
  });

  it("finds a prepared server with RKE2 running compliant, every control checked", () => {
    const results = check(preparedNode());
    assert.deepEqual(drift(results), []);
    assert.deepEqual(
      results.filter((r) => r.status === "compliant").map((r) => r.control),
      [
        ...KERNEL_PARAMETERS.map((p) => p.name),
        "sysctl-file",
        ...KERNEL_PARAMETERS.map((p) => `sysctl-override ${p.name}`),
        "etcd-user",
        "etcd-data-dir",
        "audit-policy",
        "audit-policy-loaded",
      ],
    );
  });

  it("says not applicable for RKE2's checks on a prepared node without RKE2, and calls it compliant", () => {
    const results = check(preparedNode({ rke2: false }));
    assert.deepEqual(drift(results), []);
    const na = results.filter((r) => r.status === "not applicable");
    assert.deepEqual(
      na.map((r) => [r.control, r.actual]),
      [
        ["etcd-data-dir", "RKE2 is not installed yet"],
        ["audit-policy-loaded", "RKE2 is not installed yet"],
      ],
    );
  });

  it("does not expect the etcd user or the audit policy on a worker", () => {
    const results = check(preparedNode({ server: false }), AGENT);
    assert.deepEqual(drift(results), []);
    assert.deepEqual(
      results.filter((r) => r.status === "not applicable").map((r) => r.control),
      ["etcd-user", "etcd-data-dir", "audit-policy", "audit-policy-loaded"],
    );
  });

  it("expects the etcd user on every node with etcdUserOnAllNodes", () => {
    const model = seedModel((v) => (v.hardening = { etcdUserOnAllNodes: true }));
    const agent = model.nodes.find((n) => n.name === "agent-1")!;
    const results = check(preparedNode({ server: false }), agent, model);
    assert.deepEqual(
      drift(results).map((r) => [r.control, r.actual]),
      [["etcd-user", "no etcd user, no etcd group"]],
    );
  });
});

/** Each kind of drift, injected alone into a compliant node: exactly the named control drifts. */
const DRIFTS: {
  name: string;
  inject: (node: FakeNode) => void;
  control: string;
  actual: RegExp;
  /** Controls that drift as a consequence of the same change. */
  also?: string[];
}[] = [
  {
    name: "sysctl -w kernel.panic=0 (running kernel)",
    inject: (n) => n.write("proc/sys/kernel/panic", "0\n"),
    control: "kernel.panic",
    actual: /^0$/,
  },
  {
    name: "vm.overcommit_memory unreadable",
    inject: (n) => n.remove("proc/sys/vm/overcommit_memory"),
    control: "vm.overcommit_memory",
    actual: /^unreadable$/,
  },
  {
    name: "a later file in /etc/sysctl.d",
    inject: (n) => n.write("etc/sysctl.d/99-local.conf", "# local\n kernel.panic = 0\n"),
    control: "sysctl-override kernel.panic",
    actual: /^\/etc\/sysctl\.d\/99-local\.conf sets kernel\.panic=0/,
  },
  {
    name: "/etc/sysctl.conf, applied last, with the slash form and a leading '-'",
    inject: (n) => n.write("etc/sysctl.conf", "-vm/overcommit_memory=0\n"),
    control: "sysctl-override vm.overcommit_memory",
    actual: /^\/etc\/sysctl\.conf sets vm\.overcommit_memory=0/,
  },
  {
    name: "a later vendor file in /usr/lib/sysctl.d",
    inject: (n) => n.write("usr/lib/sysctl.d/95-vendor.conf", "vm.panic_on_oom=1\n"),
    control: "sysctl-override vm.panic_on_oom",
    actual: /95-vendor\.conf sets vm\.panic_on_oom=1/,
  },
  {
    name: "90-kubelet.conf edited",
    inject: (n) => n.write("etc/sysctl.d/90-kubelet.conf", "kernel.panic=10\n"),
    control: "sysctl-file",
    actual: /^content differs: kernel\.panic=10$/,
  },
  {
    name: "90-kubelet.conf made world-writable",
    inject: (n) => fs.chmodSync(path.join(n.root, "etc/sysctl.d/90-kubelet.conf"), 0o666),
    control: "sysctl-file",
    actual: /mode 0666/,
  },
  {
    name: "90-kubelet.conf removed",
    inject: (n) => n.remove("etc/sysctl.d/90-kubelet.conf"),
    control: "sysctl-file",
    actual: /^missing$/,
  },
  {
    name: "etcd user removed (userdel: the group stays)",
    inject: (n) => n.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"),
    control: "etcd-user",
    actual: /no etcd user in \/etc\/passwd/,
    // etcd's data directory is now owned by a uid that no user has.
    also: ["etcd-data-dir"],
  },
  {
    name: "etcd user given a login shell",
    inject: (n) => n.write("etc/passwd", `etcd:x:${ETCD_UID}:${ETCD_UID}:etcd user:/home/etcd:/bin/bash\n`),
    control: "etcd-user",
    actual: /shell \/bin\/bash can log in/,
  },
  {
    name: "etcd data directory chowned to root (CIS 1.1.12)",
    inject: (n) => fs.chownSync(path.join(n.root, "var/lib/rancher/rke2/server/db/etcd"), 0, 0),
    control: "etcd-data-dir",
    actual: /owner 0:0, the etcd user and group are 997:997/,
  },
  {
    name: "audit policy mode loosened to 0644",
    inject: (n) => fs.chmodSync(path.join(n.root, "etc/rancher/rke2/audit-policy.yaml"), 0o644),
    control: "audit-policy",
    actual: /mode 0644/,
  },
  {
    name: "audit policy replaced by RKE2's default (level None)",
    inject: (n) => {
      n.write(
        "etc/rancher/rke2/audit-policy.yaml",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n",
        0o600,
      );
      startApiserver(n, Math.floor(Date.now() / 1000) - 3600, Math.floor(Date.now() / 1000) + 10);
    },
    control: "audit-policy",
    actual: /content differs from the configured policy/,
  },
  {
    name: "kube-apiserver started before the current policy was written",
    inject: (n) =>
      startApiserver(n, Math.floor(Date.now() / 1000) - 3600, Math.floor(Date.now() / 1000) - 600),
    control: "audit-policy-loaded",
    actual: /started .*, before the policy changed .*restart rke2-server/,
  },
  {
    name: "kube-apiserver not running on a control-plane node with RKE2",
    inject: (n) => n.remove("proc/4242"),
    control: "audit-policy-loaded",
    actual: /no kube-apiserver process is running/,
  },
];

describe("verify: each kind of drift is found and named", () => {
  for (const d of DRIFTS) {
    it(d.name, () => {
      const node = preparedNode();
      d.inject(node);
      const found = drift(check(node));
      assert.deepEqual(
        found.map((r) => r.control),
        [d.control, ...(d.also ?? [])],
        JSON.stringify(found, null, 2),
      );
      assert.match(found[0].actual, d.actual);
      assert.ok(found[0].expected.length > 0);
    });
  }

  it("does not count files that cannot undo our values: earlier names, names hidden by /etc, equal values", () => {
    const node = preparedNode();
    node.write("etc/sysctl.d/10-early.conf", "kernel.panic=0\n");
    node.write("usr/lib/sysctl.d/99-vendor.conf", "vm.overcommit_memory=0\n");
    node.write("etc/sysctl.d/99-vendor.conf", "vm.overcommit_memory = 1\n");
    node.write("etc/sysctl.d/99-same.conf", "kernel.panic = 10\n");
    assert.deepEqual(drift(check(node)), []);
  });

  it("takes the last file that sets a value: a later file that restores it makes the node compliant again", () => {
    const node = preparedNode();
    node.write("etc/sysctl.d/95-bad.conf", "kernel.panic=0\n");
    node.write("etc/sysctl.d/99-good.conf", "kernel.panic=10\n");
    assert.deepEqual(drift(check(node)), []);
  });
});

describe("verify: the output of a cut-short session is an error, never a compliant node", () => {
  it("refuses output without the end line", () => {
    const out = runCheck(preparedNode());
    assert.throws(() => parseFacts(out.replace("end\n", "")), /ended early/);
    assert.throws(() => parseFacts(out.split("\n").slice(0, 3).join("\n")), /ended early/);
    assert.throws(() => parseFacts(`${out}surprise\n`), /unexpected line/);
  });
});

describe("verify: nodes, reports and exit codes", () => {
  /** A session runner that runs the real check against a fake node per node name, as SSH would. */
  function fakeSsh(
    nodes: Record<string, FakeNode | Error | { code: number; stderr: string }>,
  ): SessionRunner {
    return async (node) => {
      const fake = nodes[node.name];
      if (fake instanceof Error) throw fake;
      if (fake && "code" in fake) return { code: fake.code, stdout: "", stderr: fake.stderr };
      await new Promise((resolve) => setImmediate(resolve));
      const result = spawnSync("bash", ["-c", renderNodeCheckScript(node.name, fake.root)], {
        encoding: "utf8",
      });
      return { code: result.status, stdout: result.stdout, stderr: result.stderr };
    };
  }
  const allPrepared = () =>
    Object.fromEntries(MODEL.nodes.map((n) => [n.name, preparedNode({ server: n.roles.includes("etcd") })]));

  it("exit 0 when every node is compliant", async () => {
    const reports = await verifyNodes(MODEL, MODEL.nodes, fakeSsh(allPrepared()), { concurrency: 3 });
    assert.deepEqual(
      reports.map((r) => [r.node, r.status]),
      MODEL.nodes.map((n) => [n.name, "compliant"]),
    );
    assert.equal(exitCodeOf(reports), 0);
    const report = buildReport("test", reports);
    assert.deepEqual(report.summary, { nodes: 5, compliant: 5, drift: 0, error: 0 });
    assert.match(renderReportMarkdown(report), /every node is compliant/);
  });

  it("exit 1 on drift, each finding naming node, control, expected and actual", async () => {
    const nodes = allPrepared();
    nodes["server-2"].write("proc/sys/kernel/panic", "0\n");
    const reports = await verifyNodes(MODEL, MODEL.nodes, fakeSsh(nodes), { concurrency: 2 });
    assert.equal(exitCodeOf(reports), 1);
    const report = buildReport("test", reports);
    assert.deepEqual(report.findings, [
      { node: "server-2", control: "kernel.panic", expected: "10", actual: "0" },
    ]);
    assert.match(renderReportMarkdown(report), /\| server-2 \| kernel\.panic \| 10 \| 0 \|/);
    assert.deepEqual((JSON.parse(renderReportJson(report)) as typeof report).findings, report.findings);
  });

  it("exit 2 on a connection error, named per node, with every other node still checked", async () => {
    const nodes: Record<string, FakeNode | Error | { code: number; stderr: string }> = allPrepared();
    nodes["server-3"] = new Error("ubuntu@10.0.0.13:22: connect ECONNREFUSED");
    nodes["agent-2"] = {
      code: 1,
      stderr: "hardened-rke2: error: SSH user ubuntu is not root and cannot use sudo without a password\n",
    };
    (nodes["agent-1"] as FakeNode).write("etc/sysctl.d/99-x.conf", "kernel.panic_on_oops=0\n");
    const reports = await verifyNodes(MODEL, MODEL.nodes, fakeSsh(nodes), { concurrency: 4 });
    assert.equal(exitCodeOf(reports), 2);
    assert.deepEqual(
      reports.map((r) => r.status),
      ["compliant", "compliant", "error", "drift", "error"],
    );
    assert.match(reports[2].error!, /ECONNREFUSED/);
    assert.match(reports[4].error!, /cannot use sudo/);
    const md = renderReportMarkdown(buildReport("test", reports));
    assert.match(md, /\| server-3 \| 10\.0\.0\.13 \| .*ECONNREFUSED/);
    assert.match(md, /\| agent-1 \| sysctl-override kernel\.panic\\_on\\_oops \|/);
  });

  it("never has more sessions open than the bound, and keeps the stack's node order", async () => {
    const many = seedModel((v) => {
      const nodes = v.nodes as Record<string, unknown>[];
      for (let i = 0; i < 40; i++)
        nodes.push({
          name: `w-${i}`,
          address: `10.1.0.${i + 1}`,
          roles: ["worker"],
          hostKey: (nodes[0] as { hostKey: string }).hostKey,
        });
    });
    let open = 0;
    let most = 0;
    const run: SessionRunner = async () => {
      open++;
      most = Math.max(most, open);
      await new Promise((resolve) => setTimeout(resolve, 2));
      open--;
      throw new Error("no node here");
    };
    const reports = await verifyNodes(many, many.nodes, run, { concurrency: 7 });
    assert.equal(most, 7);
    assert.deepEqual(
      reports.map((r) => r.node),
      many.nodes.map((n) => n.name),
    );
  });

  it("takes each node's key from its own variable first, then SSH_PRIVATE_KEY", () => {
    assert.equal(nodeKeyVariable("prod-server-1"), "SSH_PRIVATE_KEY_PROD_SERVER_1");
    const env = { SSH_PRIVATE_KEY: "shared", SSH_PRIVATE_KEY_SERVER_1: "own" };
    assert.equal(privateKeyFor("server-1", env), "own");
    assert.equal(privateKeyFor("server-2", env), "shared");
    assert.equal(privateKeyFor("server-2", {}), undefined);
  });
});

describe("verify: the command line", () => {
  const cli = path.join(PROJECT_DIR, "bin", "scripts", "verify.js");
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [cli, ...args], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", ...env },
      timeout: 60_000,
    });

  it("exits 2 with the usage on bad arguments", () => {
    for (const args of [
      [],
      ["--stack", "staging", "--format", "xml"],
      ["--stack", "staging", "--nodes", "nope"],
      ["--bogus"],
    ]) {
      const result = run(args);
      assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, /usage: npm run verify/);
    }
  });

  it("exits 2 naming the node it cannot reach, and reports in JSON", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hardened-rke2-verify-cli-"));
    tempDirs.push(dir);
    const file = path.join(dir, "Pulumi.closed.yaml");
    // Port 1 on loopback: nothing listens there, so the dial is refused at once.
    fs.writeFileSync(
      file,
      [
        "config:",
        "  hardened-rke2:rancher: { apiUrl: https://rancher.invalid }",
        "  hardened-rke2:cluster: { name: closed, kubernetesVersion: v1.23.16+rke2r1 }",
        "  hardened-rke2:nodes:",
        "    - { name: only, address: 127.0.0.1, sshPort: 1, roles: [etcd, controlplane, worker] }",
        "",
      ].join("\n"),
    );
    const result = run(["--config-file", file, "--format", "json"], {
      SSH_PRIVATE_KEY: generateParsableKeyPair("hardened-rke2 test").private,
    });
    assert.equal(result.status, 2, result.stderr);
    const report = JSON.parse(result.stdout) as { nodes: { node: string; status: string; error: string }[] };
    assert.equal(report.nodes[0].node, "only");
    assert.equal(report.nodes[0].status, "error");
    assert.match(result.stderr, /verify: \[1\/1\] only: error/);
  });
});

import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatProblem } from "../config/problems";
import { type RawStackConfig, validateStackConfig } from "../config/validate";
import { type Comparison, compareResources } from "../scripts/offline/compare";
import type { RecordedResource } from "../scripts/offline/engine";
import { kubernetesProviderReplaces } from "../scripts/offline/kubernetesProvider";
import { HOST_KEY, OTHER_TEST_PRIVATE_KEY, runProgram, seedWith } from "./harness";

/**
 * Day two: what each kind of later `pulumi up` does, read with the engine's real diff semantics from two
 * evaluations of the real program (scripts/offline/compare.ts), and the node scripts it runs, in order.
 */

type Edit = Parameters<typeof seedWith>[0];

async function compare(
  before: RawStackConfig,
  after: RawStackConfig,
  editOld?: (resources: RecordedResource[]) => RecordedResource[],
): Promise<Comparison> {
  const oldPlan = await runProgram(before);
  const newPlan = await runProgram(after);
  const old = editOld ? editOld([...oldPlan.resources]) : oldPlan.resources;
  const comparison = compareResources(old, newPlan.resources);
  const summary = comparison.changes
    .filter((c) => c.action !== "same")
    .map(
      (c) =>
        `${c.action} ${c.name}${c.runsOnNode ? ` [runs ${c.script} on ${c.runsOnNode}]` : ""}${c.notes.length ? ` (${c.notes.join("; ")})` : ""}`,
    );
  // Printed so that the test output shows what each scenario checked.
  console.log(`  changes: ${summary.length ? summary.join(", ") : "none"}`);
  console.log(
    `  node scripts: ${comparison.scripts.map((s) => `${s.node}:${s.resource}`).join(" -> ") || "none"}`,
  );
  return comparison;
}

const scripts = (c: Comparison) => c.scripts.map((s) => `${s.node}: ${s.resource} (${s.script})`);
const action = (c: Comparison, name: string) => c.changes.find((x) => x.name === name)?.action;
const base: Edit = () => undefined;

describe("day two scenarios: the node scripts each change runs", () => {
  it("an unchanged configuration changes nothing", async () => {
    const c = await compare(seedWith(base), seedWith(base));
    assert.deepEqual(scripts(c), []);
    assert.ok(c.changes.every((x) => x.action === "same"));
  });

  it("pinning a host key runs no script (a no-op update stores the new connection)", async () => {
    const c = await compare(
      seedWith((v) => delete v.nodes[0].hostKey),
      seedWith(base),
    );
    assert.deepEqual(scripts(c), []);
    assert.equal(action(c, "server-1-host-prep"), "update");
    assert.equal(c.changes.find((x) => x.name === "server-1-host-prep")?.script, "update");
    assert.deepEqual(c.changes.find((x) => x.name === "server-1-host-prep")?.changedInputs, [
      "connection.hostKey",
    ]);
  });

  it("rotating the SSH key runs no script, and never prints the key", async () => {
    const c = await compare(
      seedWith(base),
      seedWith((v) => (v.sshPrivateKey = OTHER_TEST_PRIVATE_KEY)),
    );
    assert.deepEqual(scripts(c), []);
    assert.ok(c.changes.filter((x) => x.action === "update").length >= 5);
    const keyBody = OTHER_TEST_PRIVATE_KEY.split("\n")[1];
    assert.ok(
      keyBody.length > 20 && !JSON.stringify(c).includes(keyBody),
      "secrets are compared, not printed",
    );
  });

  it("a new port, user, address or bastion runs no script", async () => {
    const c = await compare(
      seedWith(base),
      seedWith((v) => {
        v.nodes[0].sshPort = 2222;
        v.nodes[1].user = "admin";
        v.nodes[2].address = "10.0.1.13";
        v.nodes[3].bastion = { host: "jump.example.com", hostKey: HOST_KEY };
      }),
    );
    assert.deepEqual(scripts(c), []);
  });

  it("a new release with another host script runs host preparation on every node, and nothing else", async () => {
    const c = await compare(seedWith(base), seedWith(base), (old) =>
      old.map((r) =>
        r.name.endsWith("-host-prep") && r.custom
          ? { ...r, inputs: { ...r.inputs, triggers: ["previous release"] } }
          : r,
      ),
    );
    assert.deepEqual(scripts(c), [
      "agent-1: agent-1-host-prep (create)",
      "agent-2: agent-2-host-prep (create)",
      "server-1: server-1-host-prep (create)",
      "server-2: server-2-host-prep (create)",
      "server-3: server-3-host-prep (create)",
    ]);
  });

  it("a new audit level runs the roll-out on the control-plane nodes one after another, never host preparation", async () => {
    const c = await compare(
      seedWith(base),
      seedWith((v) => (v.hardening = { auditPolicyLevel: "Request" })),
    );
    assert.deepEqual(scripts(c), [
      "server-1: seed-audit-policy-server-1 (create)",
      "server-2: seed-audit-policy-server-2 (create)",
      "server-3: seed-audit-policy-server-3 (create)",
    ]);
    assert.equal(
      action(c, "server-1-host-prep"),
      "update",
      "the new policy is stored for a later fresh node only",
    );
  });

  it("an etcd-only server takes no part in the roll-out", async () => {
    const c = await compare(
      seedWith((v) => (v.nodes[2].roles = ["etcd"])),
      seedWith((v) => {
        v.nodes[2].roles = ["etcd"];
        v.hardening = { auditPolicyLevel: "Request" };
      }),
    );
    assert.deepEqual(scripts(c), [
      "server-1: seed-audit-policy-server-1 (create)",
      "server-2: seed-audit-policy-server-2 (create)",
    ]);
  });

  it("a new server with an audit change: prepared, registered, readiness waited for again, then the roll-out", async () => {
    const c = await compare(
      seedWith(base),
      seedWith((v) => {
        v.nodes.push({ name: "server-4", address: "10.0.0.14", roles: ["controlplane"], hostKey: HOST_KEY });
        v.hardening = { auditPolicyLevel: "Request" };
      }),
    );
    assert.deepEqual(scripts(c), [
      "server-4: server-4-host-prep (create)",
      "server-4: server-4-register (create)",
      "server-1: seed-audit-policy-server-1 (create)",
      "server-2: seed-audit-policy-server-2 (create)",
      "server-3: seed-audit-policy-server-3 (create)",
      "server-4: seed-audit-policy-server-4 (create)",
    ]);
    assert.equal(action(c, "seed-ready"), "replace", "ClusterSync waits for Active again");
    const order = c.changes.map((x) => x.name);
    assert.ok(order.indexOf("seed-ready") < order.indexOf("seed-audit-policy-server-1"));
    assert.ok(order.indexOf("server-4-register") < order.indexOf("seed-ready"));
  });

  it("the Kubernetes provider keeps its identity when readiness is waited for again: nothing in the cluster is replaced", async () => {
    const before = await runProgram(seedWith(base));
    const after = await runProgram(
      seedWith((v) => {
        v.nodes.push({ name: "agent-3", address: "10.0.0.16", roles: ["worker"], hostKey: HOST_KEY });
      }),
    );
    const c = compareResources(before.resources, after.resources);
    assert.equal(action(c, "seed-ready"), "replace");
    assert.equal(action(c, "seed-ready-k8s"), "update", "the kubeconfig is unknown, the cluster id is not");
    const inCluster = c.changes.filter((x) => x.type.startsWith("kubernetes:"));
    assert.ok(inCluster.length > 5);
    assert.deepEqual(
      inCluster.filter((x) => x.action !== "same").map((x) => x.name),
      [],
    );

    // Without the cluster id, pulumi-kubernetes replaces the provider for the unknown kubeconfig, and with it every
    // object in the cluster; the protected namespaces make that `pulumi up` fail.
    const withoutIdentity = (resources: readonly RecordedResource[]) =>
      resources.map((r) =>
        r.name === "seed-ready-k8s"
          ? {
              ...r,
              inputs: Object.fromEntries(Object.entries(r.inputs).filter(([k]) => k !== "clusterIdentifier")),
            }
          : r,
      );
    const bare = compareResources(withoutIdentity(before.resources), withoutIdentity(after.resources));
    assert.equal(action(bare, "seed-ready-k8s"), "replace");
    const replaced = bare.changes.filter((x) => x.type.startsWith("kubernetes:") && x.action === "replace");
    assert.equal(replaced.length, inCluster.length);
    assert.ok(
      replaced.some((x) => x.notes.includes("protected: pulumi up fails instead of replacing it")),
      "a protected namespace would fail the update",
    );
  });

  it("renaming a node through lifecycle.renamedNodes keeps its resources and runs no script", async () => {
    const c = await compare(
      seedWith(base),
      seedWith((v) => {
        v.nodes[4].name = "agent-9";
        v.lifecycle = { renamedNodes: { "agent-9": "agent-2" } };
      }),
    );
    assert.deepEqual(scripts(c), []);
    assert.ok(
      !c.changes.some((x) => x.action === "delete" || x.action === "create"),
      JSON.stringify(c.changes.filter((x) => x.action !== "same").map((x) => [x.action, x.name])),
    );
  });

  it("renaming without renamedNodes: the new name is prepared and registered (no-ops on the node), nothing uninstalled", async () => {
    const c = await compare(
      seedWith(base),
      seedWith((v) => (v.nodes[4].name = "agent-9")),
    );
    assert.deepEqual(scripts(c), [
      "agent-9: agent-9-host-prep (create)",
      "agent-9: agent-9-register (create)",
    ]);
    assert.equal(action(c, "agent-2-register"), "delete");
    assert.ok(!c.scripts.some((s) => s.script === "delete"));
  });

  it("removing a node forgets it and runs nothing on it; decommissioning it runs RKE2's uninstall", async () => {
    const removed = await compare(
      seedWith(base),
      seedWith((v) => v.nodes.splice(4, 1)),
    );
    assert.deepEqual(scripts(removed), []);
    assert.equal(action(removed, "agent-2-register"), "delete");
    const decommissioned = await compare(
      seedWith(base),
      seedWith((v) => (v.lifecycle = { decommissionNodes: ["agent-2"] })),
    );
    assert.deepEqual(scripts(decommissioned), ["agent-2: agent-2-decommission (create)"]);
  });

  it("removing a created namespace fails on protection; its NetworkPolicy and patch are only forgotten", async () => {
    const withNamespace: Edit = (v) => (v.hardening = { namespaces: [{ name: "apps", create: true }] });
    const c = await compare(seedWith(withNamespace), seedWith(base));
    assert.deepEqual(scripts(c), []);
    const namespace = c.changes.find((x) => x.name === "seed-hardening-ns-apps")!;
    assert.equal(namespace.action, "delete");
    assert.match(namespace.notes.join(), /protected: pulumi up fails/);
    assert.match(c.changes.find((x) => x.name === "seed-hardening-netpol-apps")!.notes.join(), /retained/);
    const optedOut = await compare(
      seedWith((v) => {
        withNamespace(v);
        v.lifecycle = { deletionProtection: false };
      }),
      seedWith((v) => (v.lifecycle = { deletionProtection: false })),
    );
    assert.doesNotMatch(
      optedOut.changes.find((x) => x.name === "seed-hardening-ns-apps")!.notes.join(),
      /protected/,
    );
  });

  it("turning on allowExistingInstall re-runs host preparation only (it refuses nothing then), never the roll-out", async () => {
    const c = await compare(
      seedWith(base),
      seedWith((v) => (v.hardening = { allowExistingInstall: true })),
    );
    assert.deepEqual(
      c.scripts.map((s) => s.resource),
      [
        "agent-1-host-prep",
        "agent-2-host-prep",
        "server-1-host-prep",
        "server-2-host-prep",
        "server-3-host-prep",
      ],
    );
  });
});

describe("deletion protection and lifecycle options", () => {
  it("protects the ClusterV2 and created namespaces by default, and not when turned off", async () => {
    const on = await runProgram(
      seedWith((v) => (v.hardening = { namespaces: [{ name: "apps", create: true }] })),
    );
    assert.equal(on.named("seed").options.protect, true);
    assert.equal(on.named("seed-hardening-ns-apps").options.protect, true);
    assert.equal(on.named("seed-hardening-netpol-apps").options.retainOnDelete, true);
    const off = await runProgram(
      seedWith((v) => {
        v.hardening = { namespaces: [{ name: "apps", create: true }] };
        v.lifecycle = { deletionProtection: false };
      }),
    );
    assert.equal(off.named("seed").options.protect, false);
    assert.equal(off.named("seed-hardening-ns-apps").options.protect, false);
  });
});

describe("lifecycle configuration (config/lifecycle.ts)", () => {
  const problems = (edit: Edit) => validateStackConfig(seedWith(edit)).problems.map(formatProblem);

  it("defaults to deletion protection on, no decommissioning, no renames", () => {
    const { model } = validateStackConfig(seedWith(base));
    assert.deepEqual(model?.lifecycle, { deletionProtection: true, decommissionNodes: [], renamedNodes: {} });
  });

  it("accepts each option on a good stack", () => {
    const { model, problems: found } = validateStackConfig(
      seedWith((v) => {
        v.nodes[4].name = "agent-9";
        v.lifecycle = {
          deletionProtection: false,
          decommissionNodes: ["agent-1"],
          renamedNodes: { "agent-9": "agent-2" },
        };
      }),
    );
    assert.deepEqual(found, []);
    assert.deepEqual(model?.lifecycle, {
      deletionProtection: false,
      decommissionNodes: ["agent-1"],
      renamedNodes: { "agent-9": "agent-2" },
    });
  });

  it("refuses each bad field, naming the key and the fix", () => {
    const cases: [Edit, RegExp][] = [
      [
        (v) => (v.lifecycle = { deletionProtection: "no" }),
        /error: hardened-rke2:lifecycle.deletionProtection: Must be true or false/,
      ],
      [
        (v) => (v.lifecycle = { decommissionNodes: ["ghost"] }),
        /lifecycle.decommissionNodes\[0\]: Names no node.*Allowed: server-1/,
      ],
      [
        (v) => (v.lifecycle = { decommissionNodes: ["agent-1", "agent-1"] }),
        /decommissionNodes\[1\]: Listed twice/,
      ],
      [
        (v) => (v.lifecycle = { decommissionNodes: ["agent-1", "agent-2"] }),
        /Would leave no node with the worker role/,
      ],
      [(v) => (v.lifecycle = { renamedNodes: { ghost: "agent-2" } }), /renamedNodes.ghost: Names no node/],
      [
        (v) => (v.lifecycle = { renamedNodes: { "agent-2": "agent-1" } }),
        /former name must be a name no current node has/,
      ],
      [(v) => (v.lifecycle = { decommision: [] }), /lifecycle.decommision: Unknown key/],
      [(v) => (v.lifecycle = []), /hardened-rke2:lifecycle: Must be an object/],
      [
        (v) => (v.cluster.uninstallNodesOnDestroy = true),
        /warning: .*uninstallNodesOnDestroy: No longer uninstalls/,
      ],
    ];
    for (const [edit, expected] of cases) {
      const found = problems(edit);
      assert.ok(
        found.some((p) => expected.test(p)),
        `${expected}: got ${found.join("\n")}`,
      );
    }
  });
});

// The cases of pulumi-kubernetes' own DiffConfig tests (provider/pkg/provider/provider_diffconfig_test.go and
// testdata/diffconfig: computed-kubeconfig-with-identifier, add-cluster-identifier, change-cluster-identifier, …).
describe("kubernetesProviderReplaces", () => {
  const kubeconfig = { kubeconfig: "apiVersion: v1" };
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string[], boolean][] = [
    ["nothing changed", kubeconfig, kubeconfig, [], false],
    ["a computed kubeconfig without a cluster identifier", kubeconfig, kubeconfig, ["kubeconfig"], true],
    ["a computed context", kubeconfig, kubeconfig, ["context"], true],
    ["a computed cluster", kubeconfig, kubeconfig, ["cluster"], true],
    [
      "a computed kubeconfig with the same cluster identifier",
      { ...kubeconfig, clusterIdentifier: "c-m-1" },
      { ...kubeconfig, clusterIdentifier: "c-m-1" },
      ["kubeconfig"],
      false,
    ],
    [
      "a changed cluster identifier",
      { ...kubeconfig, clusterIdentifier: "c-m-1" },
      { ...kubeconfig, clusterIdentifier: "c-m-2" },
      [],
      true,
    ],
    [
      "a computed cluster identifier",
      { ...kubeconfig, clusterIdentifier: "c-m-1" },
      { ...kubeconfig, clusterIdentifier: "[unknown]" },
      ["clusterIdentifier"],
      true,
    ],
    ["a cluster identifier added", kubeconfig, { ...kubeconfig, clusterIdentifier: "c-m-1" }, [], false],
    ["a cluster identifier removed", { ...kubeconfig, clusterIdentifier: "c-m-1" }, kubeconfig, [], false],
    [
      "a cluster identifier added while the kubeconfig is computed",
      kubeconfig,
      { ...kubeconfig, clusterIdentifier: "c-m-1" },
      ["kubeconfig"],
      true,
    ],
  ];
  for (const [title, before, after, unknown, replaces] of cases) {
    it(`${title}: ${replaces ? "replaces" : "does not replace"}`, () => {
      assert.equal(kubernetesProviderReplaces(before, after, unknown), replaces);
    });
  }
});

import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TYPES, input, rawConfig, runProgram, seedStackValues, seedWith } from "./harness";

const withNamespaces = () =>
  seedWith(
    (v) =>
      (v.hardening = {
        namespaces: [
          {
            name: "payments",
            create: true,
            labels: { team: "payments" },
            allowFrom: [{ namespace: "ingress-nginx" }],
          },
          { name: "orders", allowFrom: [{ cidr: "10.10.0.0/24" }] },
        ],
      }),
  );

describe("post-install hardening under the engine", () => {
  it("patches the default ServiceAccount of exactly the expected namespaces, one field each", async () => {
    const plan = await runProgram(withNamespaces());
    const patches = plan.ofType(TYPES.serviceAccountPatch);
    assert.deepEqual(patches.map((p) => input(p, "metadata.namespace")).sort(), [
      "cis-reconciler",
      "default",
      "kube-node-lease",
      "kube-public",
      "kube-system",
      "orders",
      "payments",
    ]);
    for (const patch of patches) {
      assert.equal(input(patch, "metadata.name"), "default");
      assert.equal(input(patch, "automountServiceAccountToken"), false);
      const fields = Object.keys(patch.inputs).filter((k) => !["apiVersion", "kind", "metadata"].includes(k));
      assert.deepEqual(fields, ["automountServiceAccountToken"]);
    }
  });

  it("polices every declared namespace with its extra sources", async () => {
    const plan = await runProgram(withNamespaces());
    const policies = plan.ofType(TYPES.networkPolicy);
    assert.deepEqual(policies.map((p) => input(p, "metadata.namespace")).sort(), [
      "cis-reconciler",
      "orders",
      "payments",
    ]);
    const payments = policies.find((p) => input(p, "metadata.namespace") === "payments")!;
    assert.deepEqual(input(payments, "spec.ingress[0].from"), [
      { podSelector: {} },
      { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } },
    ]);
    const orders = policies.find((p) => input(p, "metadata.namespace") === "orders")!;
    assert.deepEqual(input(orders, "spec.ingress[0].from"), [
      { podSelector: {} },
      { ipBlock: { cidr: "10.10.0.0/24" } },
    ]);
  });

  it("creates only the namespaces marked create, before their patch and policy", async () => {
    const plan = await runProgram(withNamespaces());
    const namespaces = plan
      .ofType(TYPES.namespace)
      .map((n) => input(n, "metadata.name"))
      .sort();
    assert.deepEqual(namespaces, ["cis-reconciler", "payments"]);
    assert.ok(plan.dependenciesOf("seed-hardening-sa-payments").includes("seed-hardening-ns-payments"));
    assert.ok(plan.dependenciesOf("seed-hardening-netpol-payments").includes("seed-hardening-ns-payments"));
  });

  it("uses the cluster's explicit Kubernetes provider for every Kubernetes resource, after the cluster is Active", async () => {
    const plan = await runProgram(withNamespaces());
    const [provider] = plan.ofType(TYPES.k8sProvider);
    assert.ok(provider);
    const kubernetesResources = plan.resources.filter((r) => r.type.startsWith("kubernetes:"));
    assert.ok(kubernetesResources.length >= 10);
    for (const resource of kubernetesResources) {
      assert.equal(resource.provider, provider.urn, `${resource.name} must use the cluster's provider`);
      assert.ok(
        resource.dependsOn.some((u) => u.endsWith("::seed-ready")),
        `${resource.name} must wait for the cluster to be Active`,
      );
    }
  });

  it("leaves the reconciler out when the stack opts out", async () => {
    const plan = await runProgram(seedWith((v) => (v.hardening = { reconciler: { enabled: false } })));
    assert.equal(plan.resources.filter((r) => r.name.includes("reconciler")).length, 0);
    assert.equal(plan.ofType("kubernetes:batch/v1:CronJob").length, 0);
  });

  it("rolls the audit policy out server after server, never on agents", async () => {
    const plan = await runProgram(rawConfig(seedStackValues()));
    const steps = plan.ofType(TYPES.command).filter((c) => c.name.startsWith("seed-audit-policy-"));
    assert.deepEqual(steps.map((s) => s.name).sort(), [
      "seed-audit-policy-server-1",
      "seed-audit-policy-server-2",
      "seed-audit-policy-server-3",
    ]);
    assert.ok(plan.dependenciesOf("seed-audit-policy-server-2").includes("seed-audit-policy-server-1"));
    assert.ok(plan.dependenciesOf("seed-audit-policy-server-3").includes("seed-audit-policy-server-2"));
    assert.ok(
      !plan.dependenciesOf("seed-audit-policy-server-1").some((d) => d.startsWith("seed-audit-policy-")),
    );
    for (const step of steps) {
      assert.ok(plan.dependenciesOf(step.name).includes("seed-ready"), `${step.name} waits for the cluster`);
    }
  });
});

import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as YAML from "yaml";
import { renderRegistrationScript } from "../components/cluster/registration";
import { renderRemoteCommand } from "../components/host/render";
import { UNKNOWN_TEXT } from "../scripts/offline/engine";
import { planStack, renderPlanJson } from "../scripts/offline/plan";
import { readStackFile, stackFilePath } from "../scripts/offline/stackFile";
import { PROJECT_DIR, TYPES, input, isSecret, rawConfig, runProgram, seedStackValues } from "./harness";

describe("the plan is honest about what only Rancher knows", () => {
  for (const stack of ["staging", "prod"]) {
    it(`${stack}: cluster id, Rancher's values and the kubeconfig are unknown; the node scripts are shown whole`, async () => {
      const result = await planStack(readStackFile(stackFilePath(PROJECT_DIR, stack), stack));
      assert.ok(result.ok);
      const { plan } = result;
      assert.equal(plan.outputs.clusterV1Id, UNKNOWN_TEXT);
      const [sync] = plan.resources.filter((r) => r.type === TYPES.clusterSync);
      assert.equal(sync.inputs.clusterId, UNKNOWN_TEXT);
      const [k8s] = plan.resources.filter((r) => r.type === TYPES.k8sProvider);
      assert.equal(k8s.inputs.kubeconfig, UNKNOWN_TEXT);
      const registrations = plan.resources.filter(
        (r) => r.type === TYPES.command && r.name.endsWith("-register"),
      );
      assert.ok(registrations.length > 0);
      for (const registration of registrations) {
        assert.equal(registration.inputs.stdin, UNKNOWN_TEXT, `${registration.name}: Rancher's values`);
        assert.match(String(registration.inputs.create), /Registers this node with the stack/);
      }
      const json = renderPlanJson(plan);
      assert.doesNotMatch(json, /c-m-[a-z0-9]/, "no invented cluster id");
      assert.doesNotMatch(json, /--token|k8s\/clusters/, "no invented registration command or kubeconfig");
    });
  }
});

describe("after pulumi up (the engine's up mode)", () => {
  it("the kubeconfig is Rancher's: server /k8s/clusters/<c-m-id>, a kubeconfig-user token, one context", async () => {
    const plan = await runProgram(rawConfig(seedStackValues()));
    const [k8s] = plan.ofType(TYPES.k8sProvider);
    const kubeconfig = YAML.parse(String(input(k8s, "kubeconfig"))) as {
      clusters: { name: string; cluster: { server: string } }[];
      users: { user: { token: string } }[];
      "current-context": string;
    };
    const id = String(plan.evaluation.outputs.clusterV1Id);
    assert.match(id, /^c-m-[bcdfghjklmnpqrstvwxz2456789]{8}$/);
    assert.equal(kubeconfig.clusters[0].cluster.server, `https://rancher.example.com/k8s/clusters/${id}`);
    assert.match(kubeconfig.users[0].user.token, /^kubeconfig-user-[a-z0-9]{5}:[a-z0-9]{54}$/);
    assert.equal(kubeconfig["current-context"], kubeconfig.clusters[0].name);
  });

  it("the registration keeps its output secret in the state, and its script is the same as in the plan", async () => {
    const plan = await runProgram(rawConfig(seedStackValues()));
    const registration = plan.named("agent-1-register");
    for (const output of ["stdout", "stderr"]) {
      assert.ok(registration.additionalSecretOutputs.includes(output), `${output} is kept secret`);
    }
    assert.ok(isSecret(registration.inputs.stdin));
    assert.equal(
      input(registration, "create"),
      renderRemoteCommand(renderRegistrationScript({ nodeName: "agent-1", roles: ["worker"], labels: {} })),
    );
  });
});

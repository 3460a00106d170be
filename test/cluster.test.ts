import { CA_BUNDLE_PLACEHOLDER } from "../scripts/offline/stackFile";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as YAML from "yaml";
import { validateStackConfig } from "../config/validate";
import { SEED_FIELD_MAPPINGS, readPath } from "../components/cluster/seedMapping";
import { PSACT_APISERVER_ARG, clusterSpecFor } from "../components/cluster/spec";
import { renderRegistrationScript } from "../components/cluster/registration";
import { renderRemoteCommand } from "../components/host/render";
import {
  PROJECT_DIR,
  TEST_TOKEN,
  TYPES,
  input,
  isSecret,
  rawConfig,
  runProgram,
  seedStackValues,
  seedWith,
} from "./harness";

const seedTemplate = YAML.parse(
  fs.readFileSync(path.join(PROJECT_DIR, "test", "fixtures", "seed-reference-template.yaml"), "utf8"),
) as Record<string, unknown>;

function clusterInputsOf(raw = rawConfig(seedStackValues())) {
  const { model, problems } = validateStackConfig(raw);
  assert.ok(model, JSON.stringify(problems));
  return clusterSpecFor(model.cluster) as unknown as Record<string, unknown>;
}

function yamlField(inputs: Record<string, unknown>, field: string): Record<string, unknown> {
  return YAML.parse(readPath(inputs, field) as string) as Record<string, unknown>;
}

describe("HardenedCluster: the seed's reference template", () => {
  it("the mapping table covers every hardened value the seed sets", () => {
    const mapped = SEED_FIELD_MAPPINGS.map((m) => m.template).sort();
    assert.deepEqual(mapped, [
      "metadata.namespace",
      "spec.localClusterAuthEndpoint.enabled",
      "spec.rkeConfig.chartValues",
      "spec.rkeConfig.etcd.disableSnapshots",
      "spec.rkeConfig.etcd.snapshotRetention",
      "spec.rkeConfig.etcd.snapshotScheduleCron",
      "spec.rkeConfig.machineGlobalConfig.cni",
      "spec.rkeConfig.machineSelectorConfig[0].config.profile",
      "spec.rkeConfig.machineSelectorConfig[0].config.protect-kernel-defaults",
      "spec.rkeConfig.upgradeStrategy.controlPlaneConcurrency",
      "spec.rkeConfig.upgradeStrategy.workerConcurrency",
    ]);
  });

  for (const mapping of SEED_FIELD_MAPPINGS) {
    it(`golden: ${mapping.template} → ${mapping.pulumi}${mapping.yamlPath !== undefined ? ` (YAML ${mapping.yamlPath || "document"})` : ""}`, () => {
      const expected = readPath(seedTemplate, mapping.template);
      assert.notEqual(expected, undefined, `the seed sets ${mapping.template}`);
      const inputs = clusterInputsOf();
      const actual =
        mapping.yamlPath === undefined
          ? readPath(inputs, mapping.pulumi)
          : readPath(YAML.parse(readPath(inputs, mapping.pulumi) as string), mapping.yamlPath);
      assert.deepEqual(actual, expected);
    });
  }

  it("sets no PSA template and no kube-apiserver args for the PSP-era seed profile", () => {
    const inputs = clusterInputsOf();
    assert.equal(inputs.defaultPodSecurityAdmissionConfigurationTemplateName, undefined);
    assert.deepEqual(yamlField(inputs, "rkeConfig.machineGlobalConfig"), { cni: "canal" });
    assert.equal(readPath(inputs, "rkeConfig.etcd.s3Config"), undefined);
  });
});

describe("HardenedCluster: profile generations and overrides", () => {
  for (const [version, profile] of [
    ["v1.26.4+rke2r1", "cis-1.23"],
    ["v1.28.9+rke2r1", "cis"],
  ] as const) {
    it(`${profile} on ${version} sets the PSA template and Rancher's admission-control-config-file arg`, () => {
      const inputs = clusterInputsOf(
        seedWith((v) => {
          v.cluster.kubernetesVersion = version;
          v.cluster.profile = profile;
          v.cluster.machineGlobalConfig = {
            "kube-apiserver-arg": ["enable-admission-plugins=NodeRestriction"],
          };
        }),
      );
      assert.equal(inputs.defaultPodSecurityAdmissionConfigurationTemplateName, "rancher-restricted");
      assert.equal(yamlField(inputs, "rkeConfig.machineSelectorConfigs[0].config").profile, profile);
      assert.deepEqual(yamlField(inputs, "rkeConfig.machineGlobalConfig")["kube-apiserver-arg"], [
        "enable-admission-plugins=NodeRestriction",
        PSACT_APISERVER_ARG,
      ]);
    });
  }

  it("takes a custom PSA template", () => {
    const inputs = clusterInputsOf(
      seedWith((v) => {
        v.cluster.kubernetesVersion = "v1.30.2+rke2r1";
        v.cluster.podSecurityAdmissionTemplate = "corp-restricted";
      }),
    );
    assert.equal(inputs.defaultPodSecurityAdmissionConfigurationTemplateName, "corp-restricted");
  });

  it("applies every override", () => {
    const inputs = clusterInputsOf(
      seedWith((v) => {
        v.cluster.cni = "calico";
        v.cluster.chartValues = { "rke2-calico": { installation: { calicoNetwork: { mtu: 1400 } } } };
        v.cluster.etcd = {
          snapshotRetention: 12,
          snapshotScheduleCron: "0 */2 * * *",
          s3: {
            bucket: "snaps",
            endpoint: "minio:9000",
            folder: "prod",
            region: "eu",
            skipSslVerify: true,
            cloudCredentialName: "cc",
          },
        };
        v.cluster.upgradeStrategy = {
          controlPlaneConcurrency: "1",
          workerConcurrency: "25%",
          workerDrainOptions: { enabled: true, ignoreDaemonSets: true, timeout: 300 },
        };
        v.cluster.registries = {
          configs: [{ hostname: "registry.corp", authConfigSecretName: "reg-auth" }],
          mirrors: [
            {
              hostname: "docker.io",
              endpoints: ["https://registry.corp"],
              rewrites: { "^(.*)$": "mirror/$1" },
            },
          ],
        };
        v.cluster.labels = { team: "platform" };
        v.cluster.annotations = { owner: "ops" };
        v.cluster.localAuthEndpoint = { enabled: true, fqdn: "rke2.corp" };
        v.cluster.agentEnvVars = [{ name: "HTTP_PROXY", value: "http://proxy:3128" }];
        v.cluster.machineSelectorConfigs = [
          {
            config: { "kube-apiserver-arg": ["request-timeout=300s"] },
            matchLabels: { "rke.cattle.io/control-plane-role": "true" },
          },
        ];
      }),
    );
    assert.equal(yamlField(inputs, "rkeConfig.machineGlobalConfig").cni, "calico");
    assert.deepEqual(yamlField(inputs, "rkeConfig.chartValues"), {
      "rke2-calico": { installation: { calicoNetwork: { mtu: 1400 } } },
    });
    assert.deepEqual(readPath(inputs, "rkeConfig.etcd"), {
      disableSnapshots: false,
      snapshotRetention: 12,
      snapshotScheduleCron: "0 */2 * * *",
      s3Config: {
        bucket: "snaps",
        endpoint: "minio:9000",
        folder: "prod",
        region: "eu",
        skipSslVerify: true,
        cloudCredentialName: "cc",
      },
    });
    assert.deepEqual(readPath(inputs, "rkeConfig.upgradeStrategy"), {
      controlPlaneConcurrency: "1",
      workerConcurrency: "25%",
      workerDrainOptions: { enabled: true, ignoreDaemonSets: true, timeout: 300 },
    });
    assert.deepEqual(readPath(inputs, "rkeConfig.registries"), {
      configs: [{ hostname: "registry.corp", authConfigSecretName: "reg-auth" }],
      mirrors: [
        { hostname: "docker.io", endpoints: ["https://registry.corp"], rewrites: { "^(.*)$": "mirror/$1" } },
      ],
    });
    assert.deepEqual(inputs.labels, { team: "platform" });
    assert.deepEqual(inputs.annotations, { owner: "ops" });
    assert.deepEqual(inputs.localAuthEndpoint, { enabled: true, fqdn: "rke2.corp" });
    assert.deepEqual(inputs.agentEnvVars, [{ name: "HTTP_PROXY", value: "http://proxy:3128" }]);
    const selectors = readPath(inputs, "rkeConfig.machineSelectorConfigs") as Record<string, unknown>[];
    assert.equal(selectors.length, 2);
    assert.deepEqual(YAML.parse(selectors[1].config as string), {
      "kube-apiserver-arg": ["request-timeout=300s"],
    });
    assert.deepEqual(selectors[1].machineLabelSelector, {
      matchLabels: { "rke.cattle.io/control-plane-role": "true" },
    });
    assert.deepEqual(YAML.parse(selectors[0].config as string), {
      profile: "cis-1.6",
      "protect-kernel-defaults": true,
    });
  });

  it("renders the hardening flags with a YAML library, not by hand", () => {
    const config = readPath(clusterInputsOf(), "rkeConfig.machineSelectorConfigs[0].config");
    assert.equal(config, "profile: cis-1.6\nprotect-kernel-defaults: true\n");
  });
});

describe("cluster wiring under the engine", () => {
  it("uses an explicit rancher2 provider that gets the token as a secret", async () => {
    const plan = await runProgram(rawConfig(seedStackValues()));
    const [provider] = plan.ofType(TYPES.rancherProvider);
    assert.ok(provider);
    assert.ok(isSecret(provider.inputs.tokenKey), "tokenKey must be a secret");
    assert.equal(input(provider, "tokenKey"), TEST_TOKEN);
    assert.equal(input(provider, "apiUrl"), "https://rancher.example.com");
    const [cluster] = plan.ofType(TYPES.cluster);
    assert.equal(cluster.provider, provider.urn);
    assert.equal(plan.ofType(TYPES.clusterSync)[0].provider, provider.urn);
  });

  it("registers each node after its host preparation and the cluster; Rancher's values travel as a secret on stdin", async () => {
    const plan = await runProgram(rawConfig(seedStackValues()));
    const model = validateStackConfig(rawConfig(seedStackValues())).model!;
    const registrations = plan.ofType(TYPES.command).filter((c) => c.name.endsWith("-register"));
    assert.equal(registrations.length, model.nodes.length);
    const [cluster] = plan.ofType(TYPES.cluster);
    for (const node of model.nodes) {
      const name = `${node.name}-register`;
      const deps = plan.dependenciesOf(name);
      assert.ok(
        deps.includes(`${node.name}-host-prep`),
        `${name} waits for ${node.name}-host-prep: ${deps.join(", ")}`,
      );
      assert.ok(deps.includes("seed"), `${name} waits for the cluster`);
      for (const other of model.nodes.filter((n) => n !== node)) {
        assert.ok(
          !deps.includes(`${other.name}-host-prep`),
          `${name} must not wait for ${other.name}'s host`,
        );
      }
      const registration = plan.named(name);
      assert.ok(isSecret(registration.inputs.stdin), "Rancher's values travel as a secret");
      assert.ok(cluster, "the cluster is registered");
      const stdin = String(input(registration, "stdin"));
      assert.match(stdin, /^cluster_id=c-m-[bcdfghjklmnpqrstvwxz2456789]{8}$/m);
      assert.match(stdin, /^token=[bcdfghjklmnpqrstvwxz2456789]{54}$/m);
      const token = /^token=(.*)$/m.exec(stdin)![1];
      assert.ok(!String(input(registration, "create")).includes(token), "the token never sits in the script");
      assert.equal(
        input(registration, "create"),
        renderRemoteCommand(
          renderRegistrationScript({ nodeName: node.name, roles: node.roles, labels: node.labels }),
        ),
        "the script is the node's, with its roles and labels, and nothing Rancher decides",
      );
      assert.ok(isSecret(registration.inputs.connection));
      assert.equal(registration.inputs.delete, undefined, "destroy leaves nodes untouched by default");
    }
  });

  it("uses insecureNodeCommand only when Rancher's certificate is self-signed", async () => {
    const secure = await runProgram(rawConfig(seedStackValues()));
    assert.match(String(input(secure.named("server-1-register"), "stdin")), /^insecure=false$/m);
    const insecure = await runProgram(
      seedWith((v) => (v.rancher = { apiUrl: "https://rancher.lab", insecure: true })),
    );
    assert.match(String(input(insecure.named("server-1-register"), "stdin")), /^insecure=true$/m);
    assert.equal(
      input(insecure.ofType(TYPES.rancherProvider)[0], "insecure"),
      "true",
      "providers take their inputs as strings",
    );
  });

  it("rancher.caCerts reaches the nodes' script, and Rancher's checksum of it their stdin", async () => {
    // A real certificate: the configuration decodes CA bundles.
    const caCerts = CA_BUNDLE_PLACEHOLDER;
    const plan = await runProgram(seedWith((v) => (v.rancher = { apiUrl: "https://rancher.corp", caCerts })));
    const registration = plan.named("agent-1-register");
    assert.ok(String(input(registration, "create")).includes(caCerts.split("\n")[1]));
    assert.match(String(input(registration, "stdin")), /^ca_checksum=[0-9a-f]{64}$/m);
    assert.match(String(input(registration, "stdin")), /^server=https:\/\/rancher\.corp$/m);
  });

  it("never uninstalls on removal, even with uninstallNodesOnDestroy: only decommissioned nodes (test/dayTwo)", async () => {
    const plan = await runProgram(seedWith((v) => (v.cluster.uninstallNodesOnDestroy = true)));
    assert.equal(input(plan.named("agent-1-register"), "delete"), undefined);
  });

  it("waits for Active after every registration and builds the Kubernetes provider from the secret kubeconfig", async () => {
    const plan = await runProgram(rawConfig(seedStackValues()));
    const [sync] = plan.ofType(TYPES.clusterSync);
    assert.ok(sync);
    assert.match(String(input(sync, "clusterId")), /^c-m-/);
    const deps = sync.dependsOn.map((u) => u.split("::").pop());
    for (const node of ["server-1", "server-2", "server-3", "agent-1", "agent-2"]) {
      assert.ok(deps.includes(`${node}-register`), `ClusterSync waits for ${node}-register`);
    }
    const [k8s] = plan.ofType(TYPES.k8sProvider);
    assert.ok(isSecret(k8s.inputs.kubeconfig), "kubeconfig is a secret");
    assert.equal(input(k8s, "enableServerSideApply"), "true");
    // Rancher's cluster id, so that a ClusterSync replaced on a node change does not replace the provider.
    assert.equal(input(k8s, "clusterIdentifier"), input(sync, "clusterId"));
  });

  it("exports the cluster id, name, profile and a secret kubeconfig", async () => {
    const plan = await runProgram(rawConfig(seedStackValues()));
    const outputs = plan.evaluation.outputs;
    assert.match(String(outputs.clusterV1Id), /^c-m-/);
    assert.equal(outputs.clusterName, "seed");
    assert.equal(outputs.profile, "cis-1.6");
    assert.ok(isSecret(outputs.kubeconfig));
  });
});

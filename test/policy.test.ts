/**
 * The policy pack without the Pulumi CLI: each policy is called with fake validation arguments (a passing
 * and a violating resource each, `notApplicable`, resources of other types), then the compiled pack is
 * started as the CLI would start it and driven over its gRPC interface to check that policy configuration
 * (enforcement levels, properties) is honoured.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";
import * as grpc from "@grpc/grpc-js";
import * as policySdk from "@pulumi/policy";
import type {
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import * as analyzerproto from "@pulumi/pulumi/proto/analyzer_pb";
import * as analyzerrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct, type JavaScriptValue } from "google-protobuf/google/protobuf/struct_pb";
import {
  CIS_PROFILES,
  POLICY_NAMES,
  TYPES,
  cisProfilePolicy,
  declaredNamespacesFromConfig,
  etcdSnapshotsPolicy,
  findPrivateKeyMaterial,
  namespaceHardeningPolicy,
  plaintextSshKeyPolicy,
  policies,
  protectKernelDefaultsPolicy,
  rke2ConfigSources,
  rancherTlsVerifiedPolicy,
  rancherTlsVerifiedProductionPolicy,
  sshHostKeyPinnedPolicy,
  sshHostKeyPinnedProductionPolicy,
} from "../policy/policies";
import { DEFAULT_PRODUCTION_STACKS, stackOfUrn } from "../policy/stackScope";

const ROOT = path.resolve(__dirname, "..", "..");

// ---------------------------------------------------------------------------------------------
// Fake validation arguments
// ---------------------------------------------------------------------------------------------

class NotApplicable extends Error {
  constructor(readonly reason: string | undefined) {
    super(reason ?? "not applicable");
  }
}

interface Outcome {
  readonly violations: { message: string; urn?: string }[];
  /** The reason given to `notApplicable`, when the policy called it. */
  readonly notApplicable?: string;
}

function options(additionalSecretOutputs: string[] = []): PolicyResourceOptions {
  return {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs,
  };
}

const urnOf = (type: string, name: string, stack = "test"): string =>
  `urn:pulumi:${stack}::hardened-rke2::${type}::${name}`;

interface FakeResource {
  readonly type: string;
  readonly name: string;
  /** The stack in the resource's URN; "test" (not a production stack) when unset. */
  readonly stack?: string;
  readonly props: Record<string, unknown>;
  readonly additionalSecretOutputs?: string[];
}

function resourceArgs(r: FakeResource, config: object = {}): ResourceValidationArgs {
  return {
    type: r.type,
    name: r.name,
    urn: urnOf(r.type, r.name, r.stack),
    props: r.props,
    opts: options(r.additionalSecretOutputs),
    stackTags: new Map<string, string>(),
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => config as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason);
    },
  };
}

function stackResource(r: FakeResource): PolicyResource {
  return {
    type: r.type,
    name: r.name,
    urn: urnOf(r.type, r.name, r.stack),
    props: r.props,
    opts: options(r.additionalSecretOutputs),
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
  };
}

async function collect(run: (report: (message: string, urn?: string) => void) => unknown): Promise<Outcome> {
  const violations: { message: string; urn?: string }[] = [];
  try {
    await run((message, urn) => violations.push(urn === undefined ? { message } : { message, urn }));
  } catch (err) {
    if (err instanceof NotApplicable) {
      return { violations, notApplicable: err.reason ?? "" };
    }
    throw err;
  }
  return { violations };
}

function validate(policy: ResourceValidationPolicy, r: FakeResource, config: object = {}): Promise<Outcome> {
  const validations = policy.validateResource;
  assert.ok(validations, `${policy.name} has no validateResource`);
  const list = Array.isArray(validations) ? validations : [validations];
  const args = resourceArgs(r, config);
  return collect(async (report) => {
    for (const v of list) await v(args, report);
  });
}

function validateStack(
  policy: StackValidationPolicy,
  resources: FakeResource[],
  config: object = {},
): Promise<Outcome> {
  const args: StackValidationArgs = {
    resources: resources.map(stackResource),
    stackTags: new Map<string, string>(),
    getConfig: <T extends object>() => config as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason);
    },
  };
  return collect((report) => policy.validateStack(args, report));
}

function assertPasses(outcome: Outcome): void {
  assert.equal(outcome.notApplicable, undefined, "the policy should apply");
  assert.deepEqual(outcome.violations, []);
}

function assertViolates(outcome: Outcome, ...patterns: RegExp[]): void {
  assert.equal(outcome.notApplicable, undefined, "the policy should apply");
  assert.ok(outcome.violations.length > 0, "expected a violation");
  for (const pattern of patterns) {
    assert.ok(
      outcome.violations.some((v) => pattern.test(v.message)),
      `no violation matches ${String(pattern)}: ${JSON.stringify(outcome.violations)}`,
    );
  }
}

function assertNotApplicable(outcome: Outcome): void {
  assert.deepEqual(outcome.violations, []);
  assert.notEqual(outcome.notApplicable, undefined, "expected notApplicable");
}

/**
 * The policy server's real preview proxy (`unknownCheckingProxy`), which throws `UnknownValueError` when
 * a policy reads a value not known yet. It is exported at run time but missing from the package's types.
 */
const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const previewProxy = (policySdk as unknown as { unknownCheckingProxy: <T extends object>(o: T) => T })
  .unknownCheckingProxy;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const SEED_CONFIG = "profile: cis-1.6\nprotect-kernel-defaults: true\n";
const CONTROL_PLANE = { matchLabels: { "rke.cattle.io/control-plane-role": "true" } };

function cluster(
  machineSelectorConfigs: { config?: string; machineLabelSelector?: object }[],
  extra: Record<string, unknown> = {},
): FakeResource {
  return {
    type: TYPES.clusterV2,
    name: "cluster",
    props: {
      name: "staging-rke2",
      kubernetesVersion: "v1.23.16+rke2r1",
      rkeConfig: {
        machineGlobalConfig: "cni: canal\n",
        machineSelectorConfigs,
        etcd: { disableSnapshots: false, snapshotRetention: 5, snapshotScheduleCron: "0 */5 * * *" },
        ...extra,
      },
    },
  };
}

const SEED_CLUSTER = cluster([{ config: SEED_CONFIG }]);

const PRIVATE_KEY = [
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
  "-----END OPENSSH PRIVATE KEY-----",
  "",
].join("\n");
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm9Xk2yP4kPq0bq0yJp8cGZr2m9Jk3cTtQeXh6c0m1a";

function command(props: Record<string, unknown>, additionalSecretOutputs = ["connection"]): FakeResource {
  return { type: TYPES.remoteCommand, name: "staging-server-1-host-prep", props, additionalSecretOutputs };
}

const CONNECTION = {
  host: "10.20.0.11",
  port: 22,
  user: "ubuntu",
  privateKey: PRIVATE_KEY,
  hostKey: HOST_KEY,
};
const UNPINNED = { host: "10.20.0.11", port: 22, user: "ubuntu", privateKey: PRIVATE_KEY };
const GOOD_COMMAND = command({
  connection: CONNECTION,
  create: "sudo sh /tmp/host-prep.sh",
  triggers: ["abc"],
});

const namespace = (name: string): FakeResource => ({
  type: TYPES.namespace,
  name: `${name}-namespace`,
  props: { metadata: { name, labels: { team: name } } },
});
const saPatch = (ns: string, automount: unknown = false): FakeResource => ({
  type: TYPES.serviceAccountPatch,
  name: `${ns}-default-sa`,
  props: { metadata: { name: "default", namespace: ns }, automountServiceAccountToken: automount },
});
const networkPolicy = (ns: string, podSelector: object = {}): FakeResource => ({
  type: TYPES.networkPolicy,
  name: `${ns}-network-policy`,
  props: {
    metadata: { name: "same-namespace", namespace: ns },
    spec: { podSelector, policyTypes: ["Ingress"], ingress: [{ from: [{ podSelector: {} }] }] },
  },
});

async function withPulumiConfig<T>(
  config: Record<string, string> | undefined,
  run: () => Promise<T>,
): Promise<T> {
  const saved = process.env["PULUMI_CONFIG"];
  if (config === undefined) delete process.env["PULUMI_CONFIG"];
  else process.env["PULUMI_CONFIG"] = JSON.stringify(config);
  try {
    return await run();
  } finally {
    if (saved === undefined) delete process.env["PULUMI_CONFIG"];
    else process.env["PULUMI_CONFIG"] = saved;
  }
}

// ---------------------------------------------------------------------------------------------
// The pack's shape
// ---------------------------------------------------------------------------------------------

describe("policy pack definition", () => {
  test("has every named policy, uniquely named, none called 'all' (reserved)", () => {
    const names = policies.map((p) => p.name);
    assert.deepEqual([...names].sort(), Object.values(POLICY_NAMES).sort());
    assert.equal(new Set(names).size, names.length);
    assert.ok(!names.includes("all"));
  });

  test("the stack-scoped checks are advisory outside production stacks, every other policy mandatory", () => {
    const advisory: string[] = [POLICY_NAMES.sshHostKeyPinned, POLICY_NAMES.rancherTlsVerified];
    for (const p of policies) {
      assert.equal(p.enforcementLevel, advisory.includes(p.name) ? "advisory" : "mandatory", p.name);
    }
  });

  test("no config schema declares enforcementLevel (the policy server refuses it)", () => {
    for (const p of policies) {
      assert.ok(!p.configSchema?.properties["enforcementLevel"], p.name);
      assert.ok(!(p.configSchema?.required ?? []).includes("enforcementLevel"), p.name);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// ClusterV2 policies
// ---------------------------------------------------------------------------------------------

describe(POLICY_NAMES.cisProfile, () => {
  test("passes the seed's cluster-wide `profile: cis-1.6`", async () => {
    assertPasses(await validate(cisProfilePolicy, SEED_CLUSTER));
  });

  test("passes every valid CIS profile", async () => {
    for (const profile of CIS_PROFILES) {
      assertPasses(await validate(cisProfilePolicy, cluster([{ config: `profile: ${profile}\n` }])));
    }
  });

  test("flags a cluster without a profile", async () => {
    assertViolates(
      await validate(cisProfilePolicy, cluster([{ config: "protect-kernel-defaults: true\n" }])),
      /sets no CIS profile for all machines/,
    );
    assertViolates(await validate(cisProfilePolicy, cluster([])), /sets no CIS profile/);
    const noRkeConfig: FakeResource = {
      type: TYPES.clusterV2,
      name: "bare",
      props: { kubernetesVersion: "v1.23.16+rke2r1" },
    };
    assertViolates(await validate(cisProfilePolicy, noRkeConfig), /sets no CIS profile/);
  });

  test("flags a profile set only for some machines", async () => {
    const outcome = await validate(
      cisProfilePolicy,
      cluster([{ config: "" }, { config: SEED_CONFIG, machineLabelSelector: CONTROL_PLANE }]),
    );
    assertViolates(outcome, /Only rkeConfig\.machineSelectorConfigs\[1\] set one/);
  });

  test("flags a profile that is not a CIS profile, and a narrower entry that overrides it", async () => {
    assertViolates(
      await validate(cisProfilePolicy, cluster([{ config: "profile: etcd\n" }])),
      /"etcd", which is not a CIS profile/,
    );
    assertViolates(
      await validate(
        cisProfilePolicy,
        cluster([{ config: SEED_CONFIG }, { config: 'profile: ""\n', machineLabelSelector: CONTROL_PLANE }]),
      ),
      /machineSelectorConfigs\[1\] overrides the profile with ""/,
    );
  });

  test("treats an empty label selector as cluster-wide", async () => {
    assertPasses(
      await validate(
        cisProfilePolicy,
        cluster([{ config: SEED_CONFIG, machineLabelSelector: { matchLabels: {} } }]),
      ),
    );
  });

  test("flags a config that is not valid YAML", async () => {
    assertViolates(
      await validate(cisProfilePolicy, cluster([{ config: "profile: [cis-1.6\n" }])),
      /machineSelectorConfigs\[0\]: config is not valid YAML/,
    );
  });

  test("honours the allowedProfiles config", async () => {
    assertViolates(
      await validate(cisProfilePolicy, SEED_CLUSTER, { allowedProfiles: ["cis-1.23", "cis"] }),
      /"cis-1.6", which is not a CIS profile \(allowed: cis-1.23, cis\)/,
    );
  });

  test("is not applicable to other resource types", async () => {
    assertNotApplicable(await validate(cisProfilePolicy, GOOD_COMMAND));
    assertNotApplicable(await validate(cisProfilePolicy, namespace("payments")));
  });

  test("reads the machine selector configs in order, with their scope", () => {
    const sources = rke2ConfigSources(
      cluster([
        { config: SEED_CONFIG },
        { config: "kube-apiserver-arg: [a=b]\n", machineLabelSelector: CONTROL_PLANE },
      ]).props,
    );
    assert.deepEqual(
      sources.map((s) => [s.where, s.clusterWide]),
      [
        ["rkeConfig.machineGlobalConfig", true],
        ["rkeConfig.machineSelectorConfigs[0]", true],
        ["rkeConfig.machineSelectorConfigs[1]", false],
      ],
    );
    assert.deepEqual(sources[1]?.config, { profile: "cis-1.6", "protect-kernel-defaults": true });
  });

  test("lets an unknown config propagate during a preview (the server reports it as not checkable)", async () => {
    const unknownConfig = cluster([{ config: UNKNOWN_STRING }]);
    await assert.rejects(
      validate(cisProfilePolicy, { ...unknownConfig, props: previewProxy(unknownConfig.props) }),
      (err: unknown) => err instanceof Error && err.constructor.name === "UnknownValueError",
    );
  });
});

describe(POLICY_NAMES.protectKernelDefaults, () => {
  test("passes the seed config", async () => {
    assertPasses(await validate(protectKernelDefaultsPolicy, SEED_CLUSTER));
  });

  test("passes a profile without an explicit value (RKE2 forces it on)", async () => {
    assertPasses(await validate(protectKernelDefaultsPolicy, cluster([{ config: "profile: cis\n" }])));
  });

  test("flags protect-kernel-defaults set to false, as a boolean or a string", async () => {
    assertViolates(
      await validate(
        protectKernelDefaultsPolicy,
        cluster([{ config: "profile: cis-1.6\nprotect-kernel-defaults: false\n" }]),
      ),
      /machineSelectorConfigs\[0\] sets protect-kernel-defaults to false/,
    );
    assertViolates(
      await validate(
        protectKernelDefaultsPolicy,
        cluster([{ config: 'profile: cis-1.6\nprotect-kernel-defaults: "false"\n' }]),
      ),
      /sets protect-kernel-defaults to "false"/,
    );
  });

  test("flags a narrower entry or machineGlobalConfig turning it off", async () => {
    assertViolates(
      await validate(
        protectKernelDefaultsPolicy,
        cluster([
          { config: SEED_CONFIG },
          { config: "protect-kernel-defaults: false\n", machineLabelSelector: CONTROL_PLANE },
        ]),
      ),
      /machineSelectorConfigs\[1\] sets protect-kernel-defaults to false for the machines it selects/,
    );
    assertViolates(
      await validate(
        protectKernelDefaultsPolicy,
        cluster([{ config: SEED_CONFIG }], {
          machineGlobalConfig: "cni: canal\nprotect-kernel-defaults: false\n",
        }),
      ),
      /machineGlobalConfig sets protect-kernel-defaults to false/,
    );
  });

  test("flags a cluster with neither the flag nor a profile", async () => {
    assertViolates(
      await validate(protectKernelDefaultsPolicy, cluster([{ config: "" }])),
      /leaves protect-kernel-defaults off/,
    );
  });

  test("is not applicable to other resource types", async () => {
    assertNotApplicable(await validate(protectKernelDefaultsPolicy, GOOD_COMMAND));
  });
});

describe(POLICY_NAMES.etcdSnapshots, () => {
  test("passes snapshots enabled (and the provider default, unset)", async () => {
    assertPasses(await validate(etcdSnapshotsPolicy, SEED_CLUSTER));
    assertPasses(
      await validate(etcdSnapshotsPolicy, cluster([{ config: SEED_CONFIG }], { etcd: undefined })),
    );
  });

  test("flags disableSnapshots: true", async () => {
    assertViolates(
      await validate(
        etcdSnapshotsPolicy,
        cluster([{ config: SEED_CONFIG }], { etcd: { disableSnapshots: true } }),
      ),
      /disables etcd snapshots/,
    );
  });

  test("is not applicable to other resource types", async () => {
    assertNotApplicable(await validate(etcdSnapshotsPolicy, saPatch("payments")));
  });
});

// ---------------------------------------------------------------------------------------------
// SSH connection policies
// ---------------------------------------------------------------------------------------------

describe(POLICY_NAMES.plaintextSshKey, () => {
  test("passes a key that travels only in the connection @pulumi/command marks secret", async () => {
    assertPasses(await validate(plaintextSshKeyPolicy, GOOD_COMMAND));
    const bastion = { host: "bastion.example.com", user: "jump", privateKey: PRIVATE_KEY, hostKey: HOST_KEY };
    assertPasses(
      await validate(
        plaintextSshKeyPolicy,
        command({ connection: { ...CONNECTION, proxy: bastion }, create: "true" }),
      ),
    );
  });

  test("flags a connection with a private key that is not marked secret (node and bastion)", async () => {
    const bastion = { host: "bastion.example.com", user: "jump", privateKey: PRIVATE_KEY };
    const outcome = await validate(
      plaintextSshKeyPolicy,
      command({ connection: { ...CONNECTION, proxy: bastion } }, []),
    );
    assertViolates(
      outcome,
      /connection\.privateKey \(to 10\.20\.0\.11\) is in a connection that is not marked secret/,
      /connection\.proxy\.privateKey \(to bastion\.example\.com\)/,
    );
    assert.equal(outcome.violations.length, 2);
  });

  test("flags private key material in plain-text inputs", async () => {
    const outcome = await validate(
      plaintextSshKeyPolicy,
      command({
        connection: CONNECTION,
        create: `cat > /root/.ssh/id <<'EOF'\n${PRIVATE_KEY}EOF`,
        environment: { JUMP_KEY: PRIVATE_KEY },
        stdin: "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n",
        triggers: [{ key: PRIVATE_KEY }],
      }),
    );
    assertViolates(
      outcome,
      /input create contains a private key/,
      /input environment\.JUMP_KEY/,
      /input stdin/,
      /input triggers\[0\]\.key/,
    );
    assert.equal(outcome.violations.length, 4);
  });

  test("covers CopyToRemote too", async () => {
    const copy: FakeResource = {
      type: TYPES.copyToRemote,
      name: "audit-policy-copy",
      props: { connection: CONNECTION, remotePath: "/tmp/audit.yaml", triggers: [PRIVATE_KEY] },
      additionalSecretOutputs: ["connection"],
    };
    assertViolates(await validate(plaintextSshKeyPolicy, copy), /input triggers\[0\]/);
  });

  test("skips inputs unknown during a preview instead of failing", async () => {
    const props = previewProxy({
      connection: CONNECTION,
      create: UNKNOWN_STRING,
      environment: { TOKEN: UNKNOWN_STRING },
    });
    assertPasses(await validate(plaintextSshKeyPolicy, command(props)));
    assert.deepEqual(findPrivateKeyMaterial(previewProxy({ a: [UNKNOWN_STRING, PRIVATE_KEY] }), ""), [
      "a[1]",
    ]);
  });

  test("is not applicable to other resource types", async () => {
    assertNotApplicable(await validate(plaintextSshKeyPolicy, SEED_CLUSTER));
  });
});

describe(POLICY_NAMES.sshHostKeyPinned, () => {
  test("passes pinned host keys (node and bastion)", async () => {
    assertPasses(await validate(sshHostKeyPinnedPolicy, GOOD_COMMAND));
    const bastion = {
      host: "bastion.example.com",
      port: 2222,
      user: "jump",
      privateKey: PRIVATE_KEY,
      hostKey: HOST_KEY,
    };
    assertPasses(
      await validate(sshHostKeyPinnedPolicy, command({ connection: { ...CONNECTION, proxy: bastion } })),
    );
  });

  test("flags a node or bastion without hostKey", async () => {
    assertViolates(
      await validate(sshHostKeyPinnedPolicy, command({ connection: UNPINNED })),
      /connection to 10\.20\.0\.11 has no hostKey/,
    );
    const bastion = { host: "bastion.example.com", port: 2222, user: "jump", privateKey: PRIVATE_KEY };
    assertViolates(
      await validate(sshHostKeyPinnedPolicy, command({ connection: { ...CONNECTION, proxy: bastion } })),
      /connection\.proxy to bastion\.example\.com:2222 has no hostKey/,
    );
  });

  test("treats a host key unknown during a preview as pinned", async () => {
    assertPasses(
      await validate(
        sshHostKeyPinnedPolicy,
        command(previewProxy({ connection: { ...CONNECTION, hostKey: UNKNOWN_STRING } })),
      ),
    );
  });

  test("is not applicable to other types, nor to a command without a connection", async () => {
    assertNotApplicable(await validate(sshHostKeyPinnedPolicy, SEED_CLUSTER));
    assertNotApplicable(await validate(sshHostKeyPinnedPolicy, command({ create: "true" })));
  });
});

// ---------------------------------------------------------------------------------------------
// Stack-scoped policies: mandatory on production stacks, advisory elsewhere, explicitly allowable
// ---------------------------------------------------------------------------------------------

const PROVIDER: FakeResource = {
  type: TYPES.rancherProvider,
  name: "seed-rke2-rancher",
  props: { apiUrl: "https://rancher.example.com", insecure: false, tokenKey: "token-abc:xyz" },
};
/** Rancher's provisioning-v2 registration command (platform-facts: the format with `| sudo  sh`). */
const REGISTRATION =
  "curl -fL https://rancher.example.com/system-agent-install.sh | sudo  sh -s - --server https://rancher.example.com " +
  "--label 'cattle.io/os=linux' --token abcdef --etcd --controlplane";
const REGISTER = command({ connection: CONNECTION, create: "sh /tmp/register.sh", stdin: REGISTRATION });

interface ScopedPair {
  readonly advisory: ResourceValidationPolicy;
  readonly mandatory: ResourceValidationPolicy;
  /** Resources that pass, and the same resources with one field changed to the finding. */
  readonly cases: { readonly good: FakeResource; readonly bad: FakeResource; readonly message: RegExp }[];
}

const withStack = (r: FakeResource, stack: string): FakeResource => ({ ...r, stack });

const SCOPED: ScopedPair[] = [
  {
    advisory: sshHostKeyPinnedPolicy,
    mandatory: sshHostKeyPinnedProductionPolicy,
    cases: [
      {
        good: GOOD_COMMAND,
        bad: command({ ...GOOD_COMMAND.props, connection: UNPINNED }),
        message: /connection to 10\.20\.0\.11 has no hostKey/,
      },
      {
        good: command({
          connection: { ...CONNECTION, proxy: { host: "jump", user: "j", hostKey: HOST_KEY } },
        }),
        bad: command({ connection: { ...CONNECTION, proxy: { host: "jump", user: "j" } } }),
        message: /connection\.proxy to jump has no hostKey/,
      },
    ],
  },
  {
    advisory: rancherTlsVerifiedPolicy,
    mandatory: rancherTlsVerifiedProductionPolicy,
    cases: [
      {
        good: PROVIDER,
        bad: { ...PROVIDER, props: { ...PROVIDER.props, insecure: true } },
        message: /Rancher provider "seed-rke2-rancher" sets insecure/,
      },
      {
        // Provider inputs can arrive JSON-encoded, as strings.
        good: { ...PROVIDER, props: { ...PROVIDER.props, insecure: "false" } },
        bad: { ...PROVIDER, props: { ...PROVIDER.props, insecure: "true" } },
        message: /sets insecure/,
      },
      {
        good: REGISTER,
        bad: command({ ...REGISTER.props, stdin: REGISTRATION.replace("curl -fL", "curl --insecure -fL") }),
        message: /registers with curl without certificate verification/,
      },
      {
        // The program's own registration input: Rancher's command taken apart, one part a line.
        good: command({ ...REGISTER.props, stdin: "server=https://rancher\ninsecure=false\ntoken=t\n" }),
        bad: command({ ...REGISTER.props, stdin: "server=https://rancher\ninsecure=true\ntoken=t\n" }),
        message: /registers with curl without certificate verification/,
      },
    ],
  },
];

for (const { advisory, mandatory, cases } of SCOPED) {
  describe(`${advisory.name} / ${mandatory.name}`, () => {
    test("pass the good fixtures on every stack", async () => {
      for (const { good } of cases) {
        for (const stack of ["staging", "prod"]) {
          const applicable = stack === "prod" ? mandatory : advisory;
          assertPasses(await validate(applicable, withStack(good, stack)));
        }
      }
    });

    test("one changed field is mandatory on prod (the default production stack), advisory elsewhere", async () => {
      assert.deepEqual(DEFAULT_PRODUCTION_STACKS, ["prod"]);
      assert.equal(mandatory.enforcementLevel, "mandatory");
      assert.equal(advisory.enforcementLevel, "advisory");
      for (const { bad, message } of cases) {
        const prod = await validate(mandatory, withStack(bad, "prod"));
        assertViolates(prod, message, /^Production stack "prod": /);
        assertNotApplicable(await validate(advisory, withStack(bad, "prod")));
        assertViolates(await validate(advisory, withStack(bad, "staging")), message);
        assertNotApplicable(await validate(mandatory, withStack(bad, "staging")));
      }
    });

    test("productionStacks names the production stacks", async () => {
      const config = { productionStacks: ["prod", "dr"] };
      for (const { bad, message } of cases) {
        assertViolates(await validate(mandatory, withStack(bad, "dr"), config), message);
        assertNotApplicable(await validate(advisory, withStack(bad, "dr"), config));
        assertNotApplicable(await validate(mandatory, withStack(bad, "prod"), { productionStacks: ["dr"] }));
        assertViolates(
          await validate(advisory, withStack(bad, "prod"), { productionStacks: ["dr"] }),
          message,
        );
      }
    });

    test("allowedStacks accepts the finding on purpose: neither policy reports there", async () => {
      for (const { bad } of cases) {
        const lab = await validate(advisory, withStack(bad, "lab"), { allowedStacks: ["lab"] });
        assertNotApplicable(lab);
        assert.match(lab.notApplicable ?? "", /accepts this explicitly/);
        assertNotApplicable(await validate(mandatory, withStack(bad, "prod"), { allowedStacks: ["prod"] }));
      }
    });

    test("are not applicable to other resource types", async () => {
      for (const policy of [advisory, mandatory]) {
        assertNotApplicable(await validate(policy, withStack(SEED_CLUSTER, "prod")));
        assertNotApplicable(await validate(policy, withStack(namespace("payments"), "staging")));
      }
    });
  });
}

test("reads the stack from the resource URN", () => {
  assert.equal(stackOfUrn(urnOf(TYPES.remoteCommand, "x", "prod")), "prod");
  assert.equal(
    stackOfUrn(
      "urn:pulumi:stg-eu.1::hardened-rke2::hardened-rke2:cluster:X$rancher2:index/clusterV2:ClusterV2::c",
    ),
    "stg-eu.1",
  );
  assert.equal(stackOfUrn("not-a-urn"), undefined);
});

// ---------------------------------------------------------------------------------------------
// Namespace stack policy
// ---------------------------------------------------------------------------------------------

describe(POLICY_NAMES.namespaceHardening, () => {
  const validateNs = (
    resources: FakeResource[],
    config: object = {},
    pulumiConfig?: Record<string, string>,
  ) => withPulumiConfig(pulumiConfig, () => validateStack(namespaceHardeningPolicy, resources, config));

  test("passes a created namespace with its default-SA patch and NetworkPolicy", async () => {
    assertPasses(
      await validateNs([SEED_CLUSTER, namespace("payments"), saPatch("payments"), networkPolicy("payments")]),
    );
  });

  test("passes an existing namespace (create: false) that has both", async () => {
    assertPasses(await validateNs([saPatch("cattle-monitoring"), networkPolicy("cattle-monitoring")]));
  });

  test("flags a created namespace without its patch and NetworkPolicy", async () => {
    const outcome = await validateNs([namespace("payments")]);
    assertViolates(
      outcome,
      /"payments" \(created by the stack\) has no patch of ServiceAccount default/,
      /has no NetworkPolicy/,
    );
    assert.ok(outcome.violations.every((v) => v.urn === urnOf(TYPES.namespace, "payments-namespace")));
  });

  test("flags a namespace that has only one of the two", async () => {
    assertViolates(await validateNs([networkPolicy("ledger")]), /"ledger" \(hardened in part\) has no patch/);
    const onlyPatch = await validateNs([saPatch("ledger")]);
    assertViolates(onlyPatch, /"ledger" \(hardened in part\) has no NetworkPolicy selecting every pod/);
    assert.equal(onlyPatch.violations.length, 1);
  });

  test("flags a patch that leaves automount on, and a NetworkPolicy for some pods only", async () => {
    assertViolates(
      await validateNs([
        namespace("payments"),
        saPatch("payments", true),
        networkPolicy("payments", { matchLabels: { app: "api" } }),
      ]),
      /does not set automountServiceAccountToken to false/,
      /NetworkPolicies select only some pods/,
    );
  });

  test("flags a namespace declared in the stack config that the stack does not harden", async () => {
    const pulumiConfig = {
      "hardened-rke2:hardening": JSON.stringify({
        namespaces: [{ name: "payments", create: true }, { name: "ledger" }],
      }),
    };
    const outcome = await validateNs(
      [namespace("payments"), saPatch("payments"), networkPolicy("payments")],
      {},
      pulumiConfig,
    );
    assertViolates(
      outcome,
      /"ledger" \(declared in the stack config\) has no patch/,
      /"ledger" .* has no NetworkPolicy/,
    );
    assert.equal(outcome.violations.length, 2);
  });

  test("honours exemptNamespaces", async () => {
    assertNotApplicable(await validateNs([networkPolicy("legacy")], { exemptNamespaces: ["legacy"] }));
  });

  test("is not applicable to a stack without namespaces, and ignores other resource types", async () => {
    assertNotApplicable(await validateNs([SEED_CLUSTER, GOOD_COMMAND]));
  });

  test("skips a namespace whose name is unknown during a preview", async () => {
    const unknownNs: FakeResource = {
      type: TYPES.namespace,
      name: "x",
      props: previewProxy({ metadata: { name: UNKNOWN_STRING } }),
    };
    assertNotApplicable(await validateNs([unknownNs]));
  });

  test("reads declared namespaces from PULUMI_CONFIG (either key form), and nothing when absent or malformed", () => {
    const hardening = JSON.stringify({ namespaces: [{ name: "payments" }, { name: "ledger" }] });
    assert.deepEqual(
      declaredNamespacesFromConfig({
        PULUMI_CONFIG: JSON.stringify({ "hardened-rke2:hardening": hardening }),
      }),
      ["payments", "ledger"],
    );
    assert.deepEqual(
      declaredNamespacesFromConfig({
        PULUMI_CONFIG: JSON.stringify({ "hardened-rke2:config:hardening": hardening }),
      }),
      ["payments", "ledger"],
    );
    assert.deepEqual(declaredNamespacesFromConfig({}), []);
    assert.deepEqual(declaredNamespacesFromConfig({ PULUMI_CONFIG: "{not json" }), []);
    assert.deepEqual(
      declaredNamespacesFromConfig({ PULUMI_CONFIG: JSON.stringify({ "hardened-rke2:hardening": "{}" }) }),
      [],
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The compiled pack behind its gRPC interface, as `pulumi preview --policy-pack policy` runs it
// ---------------------------------------------------------------------------------------------

const SECRET_SIG = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };
const { EnforcementLevel } = analyzerproto;

interface RunningPack {
  readonly client: analyzerrpc.AnalyzerClient;
  stop(): void;
}

/** Starts a policy pack process, waits for the port it prints (as the CLI does) and connects to it. */
async function startPack(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunningPack> {
  // The pack reads its version from the package.json of its working directory, as under the CLI.
  const child = spawn(process.execPath, args, { cwd: path.join(ROOT, "policy"), env });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const port = await new Promise<string>((resolve, reject) => {
      const lines = readline.createInterface({ input: child.stdout });
      lines.once("line", (line) => resolve(line.trim()));
      child.once("exit", (code) => reject(new Error(`policy pack exited with ${String(code)}: ${stderr}`)));
    });
    assert.match(port, /^\d+$/, `the pack printed "${port}" instead of its port; stderr: ${stderr}`);
    const client = new analyzerrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    return {
      client,
      stop: () => {
        client.close();
        child.kill();
      },
    };
  } catch (err) {
    child.kill();
    throw err;
  }
}

function analyzerInfo(client: analyzerrpc.AnalyzerClient): Promise<analyzerproto.AnalyzerInfo> {
  return new Promise((resolve, reject) =>
    client.getAnalyzerInfo(new Empty(), (err, res) => (err ? reject(err) : resolve(res))),
  );
}

describe("policy pack server (compiled pack, gRPC as the Pulumi engine calls it)", () => {
  let pack: RunningPack | undefined;

  before(async () => {
    pack = await startPack([path.join(ROOT, "bin", "policy", "index.js")], {
      ...process.env,
      PULUMI_CONFIG: JSON.stringify({
        "hardened-rke2:hardening": JSON.stringify({ namespaces: [{ name: "declared-only" }] }),
      }),
    });
  });

  after(() => pack?.stop());

  const rpc = (): analyzerrpc.AnalyzerClient => {
    assert.ok(pack, "the policy pack server did not start");
    return pack.client;
  };

  function resourceOptions(additionalSecretOutputs: string[] = []): analyzerproto.AnalyzerResourceOptions {
    const opts = new analyzerproto.AnalyzerResourceOptions();
    opts.setAdditionalsecretoutputsList(additionalSecretOutputs);
    return opts;
  }

  function analyze(r: FakeResource): Promise<analyzerproto.AnalyzeDiagnostic[]> {
    const req = new analyzerproto.AnalyzeRequest();
    req.setType(r.type);
    req.setName(r.name);
    req.setUrn(urnOf(r.type, r.name, r.stack));
    req.setProperties(Struct.fromJavaScript(r.props as Record<string, JavaScriptValue>));
    req.setOptions(resourceOptions(r.additionalSecretOutputs));
    return new Promise((resolve, reject) =>
      rpc().analyze(req, (err, res) => (err ? reject(err) : resolve(res.getDiagnosticsList()))),
    );
  }

  function analyzeStack(resources: FakeResource[]): Promise<analyzerproto.AnalyzeDiagnostic[]> {
    const req = new analyzerproto.AnalyzeStackRequest();
    req.setResourcesList(
      resources.map((r) => {
        const res = new analyzerproto.AnalyzerResource();
        res.setType(r.type);
        res.setName(r.name);
        res.setUrn(urnOf(r.type, r.name, r.stack));
        res.setProperties(Struct.fromJavaScript(r.props as Record<string, JavaScriptValue>));
        res.setOptions(resourceOptions());
        return res;
      }),
    );
    return new Promise((resolve, reject) =>
      rpc().analyzeStack(req, (err, res) => (err ? reject(err) : resolve(res.getDiagnosticsList()))),
    );
  }

  /** Replaces the policy configuration, as `--policy-pack-config` (or a Pulumi Cloud policy group) does. */
  function configure(
    config: Record<string, { level: analyzerproto.EnforcementLevel; properties?: object }>,
  ): Promise<void> {
    const req = new analyzerproto.ConfigureAnalyzerRequest();
    const map = req.getPolicyconfigMap();
    for (const [name, { level, properties }] of Object.entries(config)) {
      const pc = new analyzerproto.PolicyConfig();
      pc.setEnforcementlevel(level);
      pc.setProperties(Struct.fromJavaScript((properties ?? {}) as Record<string, JavaScriptValue>));
      map.set(name, pc);
    }
    return new Promise((resolve, reject) => rpc().configure(req, (err) => (err ? reject(err) : resolve())));
  }

  const levelsOf = (diagnostics: analyzerproto.AnalyzeDiagnostic[], policy: string) =>
    diagnostics.filter((d) => d.getPolicyname() === policy).map((d) => d.getEnforcementlevel());

  const NO_PROFILE = cluster([{ config: "protect-kernel-defaults: true\n" }]);

  test("advertises the policies with their default enforcement levels", async () => {
    const info = await analyzerInfo(rpc());
    assert.equal(info.getName(), "hardened-rke2");
    const levels = Object.fromEntries(
      info.getPoliciesList().map((p) => [p.getName(), p.getEnforcementlevel()]),
    );
    assert.deepEqual(levels, {
      [POLICY_NAMES.cisProfile]: EnforcementLevel.MANDATORY,
      [POLICY_NAMES.protectKernelDefaults]: EnforcementLevel.MANDATORY,
      [POLICY_NAMES.etcdSnapshots]: EnforcementLevel.MANDATORY,
      [POLICY_NAMES.plaintextSshKey]: EnforcementLevel.MANDATORY,
      [POLICY_NAMES.namespaceHardening]: EnforcementLevel.MANDATORY,
      [POLICY_NAMES.sshHostKeyPinned]: EnforcementLevel.ADVISORY,
      [POLICY_NAMES.sshHostKeyPinnedInProduction]: EnforcementLevel.MANDATORY,
      [POLICY_NAMES.rancherTlsVerified]: EnforcementLevel.ADVISORY,
      [POLICY_NAMES.rancherTlsVerifiedInProduction]: EnforcementLevel.MANDATORY,
    });
  });

  test("reports violations at the default levels without config", async () => {
    assert.deepEqual(levelsOf(await analyze(NO_PROFILE), POLICY_NAMES.cisProfile), [
      EnforcementLevel.MANDATORY,
    ]);
    assert.deepEqual(levelsOf(await analyze(SEED_CLUSTER), POLICY_NAMES.cisProfile), []);
    assert.deepEqual(
      levelsOf(await analyze(command({ connection: UNPINNED })), POLICY_NAMES.sshHostKeyPinned),
      [EnforcementLevel.ADVISORY],
    );
  });

  test("reports an unpinned host key as mandatory on prod and advisory on staging", async () => {
    const unpinned = command({ connection: UNPINNED });
    const prod = await analyze(withStack(unpinned, "prod"));
    assert.deepEqual(levelsOf(prod, POLICY_NAMES.sshHostKeyPinnedInProduction), [EnforcementLevel.MANDATORY]);
    assert.deepEqual(levelsOf(prod, POLICY_NAMES.sshHostKeyPinned), []);
    const staging = await analyze(withStack(unpinned, "staging"));
    assert.deepEqual(levelsOf(staging, POLICY_NAMES.sshHostKeyPinned), [EnforcementLevel.ADVISORY]);
    assert.deepEqual(levelsOf(staging, POLICY_NAMES.sshHostKeyPinnedInProduction), []);
  });

  test("honours configured enforcement levels: lowered, raised, disabled", async () => {
    await configure({
      [POLICY_NAMES.cisProfile]: { level: EnforcementLevel.ADVISORY },
      [POLICY_NAMES.sshHostKeyPinned]: { level: EnforcementLevel.MANDATORY },
      [POLICY_NAMES.protectKernelDefaults]: { level: EnforcementLevel.DISABLED },
    });
    try {
      const diagnostics = await analyze(cluster([{ config: "protect-kernel-defaults: false\n" }]));
      assert.deepEqual(levelsOf(diagnostics, POLICY_NAMES.cisProfile), [EnforcementLevel.ADVISORY]);
      assert.deepEqual(levelsOf(diagnostics, POLICY_NAMES.protectKernelDefaults), []);
      assert.deepEqual(
        levelsOf(await analyze(command({ connection: UNPINNED })), POLICY_NAMES.sshHostKeyPinned),
        [EnforcementLevel.MANDATORY],
      );
    } finally {
      await configure({});
    }
  });

  test("honours configured policy properties", async () => {
    await configure({
      [POLICY_NAMES.cisProfile]: {
        level: EnforcementLevel.MANDATORY,
        properties: { allowedProfiles: ["cis"] },
      },
    });
    try {
      const diagnostics = await analyze(SEED_CLUSTER);
      assert.deepEqual(levelsOf(diagnostics, POLICY_NAMES.cisProfile), [EnforcementLevel.MANDATORY]);
      assert.match(
        diagnostics[0]?.getMessage() ?? "",
        /"cis-1.6", which is not a CIS profile \(allowed: cis\)/,
      );
    } finally {
      await configure({});
    }
  });

  test("sees secret inputs decrypted: secretness is invisible, the SDK's additionalSecretOutputs marker is not", async () => {
    const secretConnection = { ...SECRET_SIG, value: CONNECTION };
    // Marked by @pulumi/command: passes.
    assert.deepEqual(
      levelsOf(
        await analyze(command({ connection: secretConnection }, ["connection"])),
        POLICY_NAMES.plaintextSshKey,
      ),
      [],
    );
    // The same secret value without the marker is indistinguishable from plain text to the pack.
    assert.deepEqual(
      levelsOf(await analyze(command({ connection: secretConnection }, [])), POLICY_NAMES.plaintextSshKey),
      [EnforcementLevel.MANDATORY],
    );
  });

  test("in a preview, skips unknown command inputs and reports an unknown cluster config as not checkable", async () => {
    assert.deepEqual(
      levelsOf(
        await analyze(command({ connection: CONNECTION, create: UNKNOWN_STRING })),
        POLICY_NAMES.plaintextSshKey,
      ),
      [],
    );
    const diagnostics = await analyze(cluster([{ config: UNKNOWN_STRING }]));
    const cis = diagnostics.filter((d) => d.getPolicyname() === POLICY_NAMES.cisProfile);
    assert.equal(cis.length, 1);
    assert.equal(cis[0]?.getEnforcementlevel(), EnforcementLevel.ADVISORY);
    assert.match(cis[0]?.getMessage() ?? "", /can't run policy .* during preview/);
  });

  test("validates the stack, including namespaces declared in the stack config (PULUMI_CONFIG)", async () => {
    const diagnostics = await analyzeStack([
      namespace("payments"),
      saPatch("payments"),
      networkPolicy("payments"),
    ]);
    const messages = diagnostics.map((d) => d.getMessage());
    assert.equal(messages.length, 2, messages.join("\n"));
    assert.ok(
      messages.every((m) => m.includes('"declared-only" (declared in the stack config)')),
      messages.join("\n"),
    );
  });
});

/** `pulumi preview --policy-pack policy` runs this, after `npm ci` in policy/. */
const CLI_PACK_RUNNER = path.join(
  ROOT,
  "policy",
  "node_modules",
  "@pulumi",
  "pulumi",
  "cmd",
  "run-policy-pack",
);

test(
  "the pack starts as the Pulumi CLI starts it: ts-node over policy/index.ts with policy/'s own dependencies",
  {
    skip: fs.existsSync(CLI_PACK_RUNNER)
      ? false
      : "policy/node_modules is not installed (cd policy && npm ci)",
    timeout: 180_000,
  },
  async () => {
    // The first argument is the engine's address, used only to report errors.
    const pack = await startPack([CLI_PACK_RUNNER, "127.0.0.1:0", "."]);
    try {
      const info = await analyzerInfo(pack.client);
      assert.equal(info.getName(), "hardened-rke2");
      assert.deepEqual(
        info
          .getPoliciesList()
          .map((p) => p.getName())
          .sort(),
        Object.values(POLICY_NAMES).sort(),
      );
    } finally {
      pack.stop();
    }
  },
);

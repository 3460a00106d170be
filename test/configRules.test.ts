/**
 * The gate's rules beyond the fixture battery: warnings that name a CIS control, key and certificate material
 * read by the real libraries (and never echoed), the offline reader's handling of stack files, and the valid
 * relatives of every refused value, which must evaluate cleanly.
 */
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { utils } from "ssh2";
import { type ConfigProblem, formatProblem } from "../config/problems";
import { validateStackConfig } from "../config/validate";
import { checkCidr, isHostAddress, isLabelKey, isPinnedImage, isRke2Cni } from "../config/grammar";
import {
  CA_BUNDLE_PLACEHOLDER,
  HOST_KEY_PLACEHOLDER,
  PRIVATE_KEY_PLACEHOLDER,
  TOKEN_PLACEHOLDER,
  parseStackFile,
  readStackFile,
} from "../scripts/offline/stackFile";
import { HOST_KEY, PROJECT_DIR, TYPES, input, rawConfig, runProgram, seedWith } from "./harness";

type Raw = ReturnType<typeof rawConfig>;

function problemsOf(raw: Raw): readonly ConfigProblem[] {
  return validateStackConfig(raw).problems;
}

function errorsAt(raw: Raw, key: string): ConfigProblem[] {
  return problemsOf(raw).filter((p) => p.severity === "error" && p.key === `hardened-rke2:${key}`);
}

function warningsAt(raw: Raw, key: string): ConfigProblem[] {
  return problemsOf(raw).filter((p) => p.severity === "warning" && p.key === `hardened-rke2:${key}`);
}

/** A valid configuration: a model, and the whole program evaluates without throwing. */
async function assertEvaluates(raw: Raw): Promise<void> {
  const { model, problems } = validateStackConfig(raw);
  assert.ok(model, problems.map(formatProblem).join("\n"));
  const plan = await runProgram(raw);
  assert.ok(plan.resources.length > 20, `only ${plan.resources.length} resources`);
}

describe("weakening but valid values are warnings that name the CIS control", () => {
  for (const cidr of ["0.0.0.0/0", "::/0"]) {
    it(`allowFrom ${cidr} (5.3.2)`, async () => {
      const raw = seedWith((v) => (v.hardening = { namespaces: [{ name: "apps", allowFrom: [{ cidr }] }] }));
      const [warning, ...rest] = warningsAt(raw, "hardening.namespaces[0].allowFrom[0].cidr");
      assert.equal(rest.length, 0);
      assert.match(warning.message, /every address.*CIS 5\.3\.2/);
      await assertEvaluates(raw);
    });
  }

  for (const cni of ["none", "flannel", "multus,flannel"]) {
    it(`CNI ${cni} (5.3.2)`, async () => {
      const raw = seedWith((v) => (v.cluster.cni = cni));
      assert.match(warningsAt(raw, "cluster.cni")[0]?.message ?? "", /not enforced.*CIS 5\.3\.2/);
      await assertEvaluates(raw);
    });
  }

  it("a Kubernetes older than the guide's 1.21", () => {
    const raw = seedWith((v) => (v.cluster.kubernetesVersion = "v1.20.15+rke2r2"));
    assert.match(
      warningsAt(raw, "cluster.kubernetesVersion")[0]?.message ?? "",
      /CIS Benchmark v1\.6.*v1\.21/,
    );
    assert.ok(validateStackConfig(raw).model);
    assert.deepEqual(
      warningsAt(
        seedWith(() => {}),
        "cluster.kubernetesVersion",
      ),
      [],
    );
  });
});

describe("valid relatives of refused values evaluate cleanly", () => {
  const cases: [
    string,
    (
      v: Record<string, unknown> & { cluster: Record<string, unknown>; nodes: Record<string, unknown>[] },
    ) => void,
  ][] = [
    ["every RKE2 CNI", (v) => (v.cluster.cni = "multus,canal")],
    ["calico", (v) => (v.cluster.cni = "calico")],
    [
      "an IPv6 node address and a host name",
      (v) => {
        v.nodes[0].address = "fd00::11";
        v.nodes[1].address = "server-2.example.com";
      },
    ],
    [
      "an S3 endpoint with a port and a CA bundle",
      (v) =>
        (v.cluster.etcd = {
          s3: {
            bucket: "etcd-snapshots",
            endpoint: "minio.example.com:9000",
            endpointCa: CA_BUNDLE_PLACEHOLDER,
          },
        }),
    ],
    [
      "a Rancher CA bundle",
      (v) => (v.rancher = { apiUrl: "https://rancher.example.com:8443", caCerts: CA_BUNDLE_PLACEHOLDER }),
    ],
    [
      "agreeing hardening flags in machineGlobalConfig",
      (v) => {
        v.cluster.profile = "cis-1.6";
        v.cluster.machineGlobalConfig = {
          profile: "cis-1.6",
          "protect-kernel-defaults": true,
          "kube-apiserver-arg": ["audit-log-maxage=30"],
        };
      },
    ],
    [
      "labels with prefixes, empty values and kubelet-settable node labels",
      (v) => {
        v.cluster.labels = { "example.com/team": "platform", empty: "" };
        v.nodes[3].labels = { "node.kubernetes.io/pool": "gpu", "example.com/gpu": "true" };
      },
    ],
    [
      "a digest-pinned reconciler image, an own namespace and a selector with sets",
      (v) =>
        (v.hardening = {
          namespaces: [
            {
              name: "apps",
              create: true,
              labels: { team: "apps" },
              allowFrom: [{ cidr: "10.10.0.0/24" }, { namespace: "ingress-nginx" }],
            },
          ],
          reconciler: {
            image: `registry.example.com:5000/rancher/shell@sha256:${"a".repeat(64)}`,
            namespace: "hardening",
            excludeNamespaces: ["kube-system", "cis-reconciler"],
            networkPolicySelector: "team in (a,b),!legacy",
          },
        }),
    ],
    [
      "Unicode and shell metacharacters in free text",
      (v) => {
        v.cluster.agentEnvVars = [{ name: "NOTE", value: "ünïcødé 'single' (x) & ; | < > * ?" }];
        v.hardening = { auditRules: [{ level: "None", users: ["système:$(id)"] }] };
      },
    ],
  ];
  for (const [name, edit] of cases) {
    it(name, async () => assertEvaluates(seedWith(edit)));
  }
});

describe("the unpinned-host-key warning", () => {
  it("is given once per endpoint, naming the key path and the address dialled", () => {
    const raw = seedWith((v) => {
      delete v.nodes[2].hostKey;
      v.nodes[2].sshPort = 2222;
      v.nodes[4].bastion = { host: "bastion.example.com", hostKey: HOST_KEY };
      v.nodes[3].bastion = { host: "10.0.0.5", port: "2200" };
    });
    const warnings = problemsOf(raw).filter((p) => /not pinned/.test(p.message));
    assert.deepEqual(
      warnings.map((w) => w.key),
      ["hardened-rke2:nodes[2].hostKey", "hardened-rke2:nodes[3].bastion.hostKey"],
    );
    assert.match(warnings[0].message, /10\.0\.0\.13:2222/);
    assert.match(
      warnings[0].fix ?? "",
      /'hardened-rke2:nodes\[2\]\.hostKey'.*ssh-keyscan -t ed25519 10\.0\.0\.13/,
    );
    assert.match(warnings[1].message, /10\.0\.0\.5:2200/);
  });
});

describe("SSH keys are decoded, never echoed", () => {
  const body = (key: string) => key.split("\n")[1];

  it("accepts OpenSSH, PKCS#1 RSA and PKCS#8 private keys", () => {
    const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const ed = crypto.generateKeyPairSync("ed25519").privateKey;
    for (const key of [
      PRIVATE_KEY_PLACEHOLDER,
      rsa.export({ type: "pkcs1", format: "pem" }).toString(),
      ed.export({ type: "pkcs8", format: "pem" }).toString(),
    ]) {
      assert.ok(validateStackConfig(seedWith((v) => (v.sshPrivateKey = key))).model, key.split("\n")[0]);
    }
  });

  const refused: [string, () => string, RegExp][] = [
    [
      "a truncated key",
      () => "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
      /not an SSH private key/,
    ],
    ["a public key", () => HOST_KEY_PLACEHOLDER, /public key; the private key is needed/],
    [
      "a passphrase-protected key",
      () =>
        utils.generateKeyPairSync("ed25519", { passphrase: "pw", cipher: "aes256-ctr", rounds: 4 }).private,
      /passphrase/,
    ],
  ];
  for (const [name, make, message] of refused) {
    it(`refuses ${name} as the shared and as a per-node key`, () => {
      const key = make();
      const shared = errorsAt(
        seedWith((v) => (v.sshPrivateKey = key)),
        "sshPrivateKey",
      );
      const perNode = errorsAt(
        seedWith((v) => (v.nodeSshPrivateKeys = { "server-1": key })),
        "nodeSshPrivateKeys.server-1",
      );
      for (const problems of [shared, perNode]) {
        assert.equal(problems.length, 1);
        assert.match(problems[0].message, message);
        assert.equal(problems[0].value, undefined);
        assert.ok(!formatProblem(problems[0]).includes(body(key) ?? key));
      }
    });
  }

  it("refuses a private key given as a host key without echoing it", () => {
    const problems = errorsAt(
      seedWith((v) => (v.nodes[0].hostKey = PRIVATE_KEY_PLACEHOLDER)),
      "nodes[0].hostKey",
    );
    assert.ok(problems.some((p) => /private key, not the host's public key/.test(p.message)));
    for (const p of problems) assert.ok(!formatProblem(p).includes(body(PRIVATE_KEY_PLACEHOLDER)));
  });

  it("normalises a host key with a comment to TYPE BASE64", () => {
    const { model } = validateStackConfig(
      seedWith((v) => (v.nodes[0].hostKey = `${HOST_KEY} root@server-1`)),
    );
    assert.equal(model?.nodes[0].ssh.hostKey, HOST_KEY);
  });

  it("a secret with a control character is refused without being echoed", () => {
    const raw = seedWith((v) => (v.rancherToken = "token-abc:s3cr3t\u0000x"));
    const problems = problemsOf(raw).filter((p) => p.key === "hardened-rke2:rancherToken");
    assert.ok(problems.length > 0);
    for (const p of problems) assert.ok(!formatProblem(p).includes("s3cr3t"), formatProblem(p));
  });
});

describe("CA bundles are certificates only", () => {
  const key = crypto
    .generateKeyPairSync("ed25519")
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();
  for (const at of [
    "rancher.caCerts",
    "cluster.localAuthEndpoint.caCerts",
    "cluster.etcd.s3.endpointCa",
    "cluster.registries.configs[0].caBundle",
  ]) {
    it(`${at}: a private key next to the certificate is an error that does not echo it`, () => {
      const bundle = `${CA_BUNDLE_PLACEHOLDER}${key}`;
      const raw = seedWith((v) => {
        if (at === "rancher.caCerts") v.rancher = { apiUrl: "https://rancher.example.com", caCerts: bundle };
        if (at === "cluster.localAuthEndpoint.caCerts") v.cluster.localAuthEndpoint = { caCerts: bundle };
        if (at === "cluster.etcd.s3.endpointCa")
          v.cluster.etcd = { s3: { bucket: "snaps", endpoint: "s3.example.com", endpointCa: bundle } };
        if (at === "cluster.registries.configs[0].caBundle")
          v.cluster.registries = { configs: [{ hostname: "registry.example.com", caBundle: bundle }] };
      });
      const [problem] = errorsAt(raw, at);
      assert.match(problem.message, /holds a private key/);
      assert.ok(!formatProblem(problem).includes(key.split("\n")[1]));
    });
  }

  it("refuses a corrupted certificate", () => {
    const broken = CA_BUNDLE_PLACEHOLDER.replace(/\n[A-Za-z0-9+/]{10}/, "\nAAAAAAAAAA");
    const raw = seedWith((v) => (v.rancher = { apiUrl: "https://rancher.example.com", caCerts: broken }));
    assert.match(errorsAt(raw, "rancher.caCerts")[0]?.message ?? "", /does not decode/);
  });
});

describe("the grammar", () => {
  it("reads CIDRs with ipaddr.js and names the network form", () => {
    assert.deepEqual(checkCidr("10.10.0.1/24"), { ok: false, reason: "host-bits", network: "10.10.0.0/24" });
    assert.deepEqual(checkCidr("10.10.0.0/24"), { ok: true, family: "ipv4", prefix: 24 });
    for (const bad of ["10.0.0.256/8", "1/8", "010.0.0.0/8", "10.0.0.0/33", "fe80::/64%eth0", "10.0.0.0"])
      assert.deepEqual(checkCidr(bad), { ok: false, reason: "syntax" }, bad);
  });

  it("tells addresses from names", () => {
    for (const good of ["10.0.0.11", "fd00::1", "node-1", "node-1.example.com", "Node1.Example.COM"])
      assert.ok(isHostAddress(good), good);
    for (const bad of ["10.0.0.256", "10.0.0", "node_1", "-node", "a b", "10.0.0.1.", "fe80::1%eth0", ""])
      assert.ok(!isHostAddress(bad), bad);
  });

  it("knows RKE2's CNIs, pinned images and label keys", () => {
    for (const good of ["canal", "calico", "cilium", "flannel", "none", "multus,canal", "multus,cilium"])
      assert.ok(isRke2Cni(good), good);
    for (const bad of ["weave", "multus", "canal,multus", "multus,none", "Canal", ""])
      assert.ok(!isRke2Cni(bad), bad);
    assert.ok(isPinnedImage("rancher/shell:v0.6.4"));
    for (const bad of ["rancher/shell", "rancher/shell:latest", "registry.local:5000/rancher/shell"])
      assert.ok(!isPinnedImage(bad), bad);
    for (const bad of ["", "/a", "a/", "example.com/", "a".repeat(64), "bad key", "a/b/c"])
      assert.ok(!isLabelKey(bad), bad);
  });
});

describe("the offline reader reads stack files as Pulumi does", () => {
  const staging = fs.readFileSync(path.join(PROJECT_DIR, "stacks", "Pulumi.staging.yaml"), "utf8");

  it("ignores the keys of other namespaces", async () => {
    const text = staging.replace(
      "config:\n",
      "config:\n  aws:region: eu-west-1\n  pulumi:tags:\n    team: platform\n  rancher2:apiUrl: https://elsewhere.example.com\n  kubernetes:context: other\n",
    );
    const file = parseStackFile(text, "Pulumi.staging.yaml");
    assert.deepEqual(Object.keys(file.raw.values).sort(), [
      "cluster",
      "hardening",
      "nodes",
      "rancher",
      "rancherToken",
      "sshPrivateKey",
    ]);
    await assertEvaluates(file.raw);
  });

  it("gives every secure: value a placeholder of its kind, wherever it sits", async () => {
    const secure = (n: number) => `{ secure: v1:${"A".repeat(n)} }`;
    const text = staging
      .replace(
        "config:\n",
        `config:\n  hardened-rke2:rancherToken: ${secure(20)}\n  hardened-rke2:sshPrivateKey: ${secure(30)}\n  hardened-rke2:nodeSshPrivateKeys:\n    staging-server-1: ${secure(40)}\n`,
      )
      .replace(
        "apiUrl: https://rancher.staging.example.com",
        `apiUrl: https://rancher.staging.example.com\n    caCerts: ${secure(50)}`,
      );
    const file = parseStackFile(text, "Pulumi.staging.yaml");
    assert.deepEqual(file.placeholders, []);
    assert.deepEqual([...file.raw.secretKeys].sort(), [
      "nodeSshPrivateKeys",
      "rancher",
      "rancherToken",
      "sshPrivateKey",
    ]);
    assert.equal(file.raw.values.rancherToken, TOKEN_PLACEHOLDER);
    assert.deepEqual(file.raw.values.nodeSshPrivateKeys, { "staging-server-1": PRIVATE_KEY_PLACEHOLDER });
    assert.equal((file.raw.values.rancher as { caCerts: string }).caCerts, CA_BUNDLE_PLACEHOLDER);
    await assertEvaluates(file.raw);
    const plan = await runProgram(file.raw);
    const provider = plan.ofType(TYPES.rancherProvider)[0];
    assert.equal(input(provider, "caCerts"), CA_BUNDLE_PLACEHOLDER);
  });

  it("the placeholder key is a real ed25519 key and made fresh by each process", () => {
    const parsed = utils.parseKey(PRIVATE_KEY_PLACEHOLDER);
    assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed));
    assert.equal(parsed.type, "ssh-ed25519");
    assert.ok(parsed.isPrivateKey());
    assert.ok(
      !fs
        .readFileSync(path.join(PROJECT_DIR, "scripts", "offline", "stackFile.ts"), "utf8")
        .includes(PRIVATE_KEY_PLACEHOLDER.split("\n")[1]),
    );
  });

  it("the example stacks validate", () => {
    for (const stack of ["staging", "prod"]) {
      const { model, problems } = validateStackConfig(
        readStackFile(path.join(PROJECT_DIR, "stacks", `Pulumi.${stack}.yaml`)).raw,
      );
      assert.ok(model, problems.map(formatProblem).join("\n"));
    }
  });
});

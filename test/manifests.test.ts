import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as k8s from "@pulumi/kubernetes";
import type { OperatorNamespaceModel, ReconcilerModel } from "../config/model";
import {
  BUILTIN_NAMESPACES,
  DEFAULT_RECONCILER_IMAGE,
  PATCH_FORCE_ANNOTATION,
  RECONCILER_UID,
  SAME_NAMESPACE_POLICY_NAME,
  defaultServiceAccountPatch,
  namespaceManifest,
  reconcilerManifests,
  renderReconcilerScript,
  sameNamespaceNetworkPolicy,
} from "../components/hardening/manifests";

/** The part of a kubernetes-models class the tests use: schema validation, throwing on the first error. */
type ModelClass = new (data: unknown) => { validate(): void };

/**
 * kubernetes-models v5 is ESM-only (its exports map has only an "import" condition) and this project
 * compiles to CommonJS, where TypeScript rewrites `import()` into `require()`. An import() built at run
 * time stays a real dynamic import, which Node resolves through the exports map.
 */
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- constant code, the only way to keep import() in CommonJS output
const importEsm = new Function("specifier", "return import(specifier)") as (
  specifier: string,
) => Promise<unknown>;

async function loadModel(path: string): Promise<ModelClass> {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const module = (await importEsm(`kubernetes-models/${path}`)) as Record<string, ModelClass>;
  const model = module[name];
  assert.equal(typeof model, "function", `kubernetes-models/${path} exports ${name}`);
  return model;
}

let Namespace: ModelClass;
let ServiceAccount: ModelClass;
let NetworkPolicy: ModelClass;
let ClusterRole: ModelClass;
let ClusterRoleBinding: ModelClass;
let CronJob: ModelClass;

before(async () => {
  [Namespace, ServiceAccount, NetworkPolicy, ClusterRole, ClusterRoleBinding, CronJob] = await Promise.all([
    loadModel("v1/Namespace"),
    loadModel("v1/ServiceAccount"),
    loadModel("networking.k8s.io/v1/NetworkPolicy"),
    loadModel("rbac.authorization.k8s.io/v1/ClusterRole"),
    loadModel("rbac.authorization.k8s.io/v1/ClusterRoleBinding"),
    loadModel("batch/v1/CronJob"),
  ]);
});

function operatorNs(overrides: Partial<OperatorNamespaceModel> = {}): OperatorNamespaceModel {
  return { name: "shop", create: true, labels: {}, allowFrom: [], ...overrides };
}

function reconcilerModel(overrides: Partial<ReconcilerModel> = {}): ReconcilerModel {
  return {
    enabled: true,
    image: DEFAULT_RECONCILER_IMAGE,
    schedule: "*/5 * * * *",
    excludeNamespaces: [],
    networkPolicySelector: "cis.example.com/policed=true",
    namespace: "cis-reconciler",
    ...overrides,
  };
}

/** JSON round trip: kubernetes-models validates plain data, as the provider will send it. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

void describe("BUILTIN_NAMESPACES", () => {
  void it("lists the four namespaces every cluster has", () => {
    assert.deepEqual([...BUILTIN_NAMESPACES], ["default", "kube-system", "kube-public", "kube-node-lease"]);
  });
});

void describe("defaultServiceAccountPatch", () => {
  void it("validates against the ServiceAccount schema", () => {
    for (const ns of [...BUILTIN_NAMESPACES, "shop"]) {
      new ServiceAccount(plain(defaultServiceAccountPatch(ns))).validate();
    }
  });

  void it("sets exactly one field besides apiVersion/kind/metadata: automountServiceAccountToken=false", () => {
    const patch = defaultServiceAccountPatch("kube-system");
    assert.deepEqual(Object.keys(patch).sort(), [
      "apiVersion",
      "automountServiceAccountToken",
      "kind",
      "metadata",
    ]);
    assert.equal(patch.automountServiceAccountToken, false);
    assert.equal(patch.apiVersion, "v1");
    assert.equal(patch.kind, "ServiceAccount");
  });

  void it("names default in the namespace and carries only the patchForce annotation", () => {
    const patch = defaultServiceAccountPatch("shop");
    assert.deepEqual(patch.metadata, {
      name: "default",
      namespace: "shop",
      annotations: { "pulumi.com/patchForce": "true" },
    });
    assert.equal(PATCH_FORCE_ANNOTATION, "pulumi.com/patchForce");
  });

  void it("rejects names that are not namespaces", () => {
    for (const bad of ["", "Shop", "-shop", "shop_", "a".repeat(64), "a.b"]) {
      assert.throws(() => defaultServiceAccountPatch(bad), /not a valid namespace name/, bad);
    }
  });

  void it("fits core.v1.ServiceAccountPatch's args", () => {
    const patch = defaultServiceAccountPatch("shop");
    const args: k8s.core.v1.ServiceAccountPatchArgs = {
      metadata: patch.metadata,
      automountServiceAccountToken: patch.automountServiceAccountToken,
    };
    // The args carry the whole patch, and the patch they make is a valid ServiceAccount.
    new ServiceAccount(plain({ apiVersion: "v1", kind: "ServiceAccount", ...args })).validate();
    assert.deepEqual(plain(args), {
      metadata: { name: "default", namespace: "shop", annotations: { [PATCH_FORCE_ANNOTATION]: "true" } },
      automountServiceAccountToken: false,
    });
  });
});

void describe("namespaceManifest", () => {
  void it("renders a schema-valid Namespace with exactly the configured labels", () => {
    const labels = { team: "shop", "example.com/tier": "web", empty: "" };
    const manifest = namespaceManifest(operatorNs({ labels }));
    new Namespace(plain(manifest)).validate();
    assert.deepEqual(manifest, { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels } });
  });

  void it("refuses namespaces the stack does not create, built-in ones and bad labels", () => {
    assert.throws(() => namespaceManifest(operatorNs({ create: false })), /create: true/);
    for (const name of BUILTIN_NAMESPACES) {
      assert.throws(() => namespaceManifest(operatorNs({ name })), /built into Kubernetes/);
    }
    assert.throws(() => namespaceManifest(operatorNs({ name: "Shop" })), /not a valid namespace name/);
    assert.throws(
      () => namespaceManifest(operatorNs({ labels: { "bad key!": "x" } })),
      /not a valid label key/,
    );
    assert.throws(() => namespaceManifest(operatorNs({ labels: { k: "bad value" } })), /invalid value/);
    assert.throws(() => namespaceManifest(operatorNs({ labels: { k: "v".repeat(64) } })), /invalid value/);
  });
});

void describe("sameNamespaceNetworkPolicy", () => {
  void it("is RKE2's default-network-policy: every pod, Ingress only, from pods of the same namespace", () => {
    const policy = sameNamespaceNetworkPolicy(operatorNs());
    new NetworkPolicy(plain(policy)).validate();
    assert.equal(policy.metadata.name, SAME_NAMESPACE_POLICY_NAME);
    assert.equal(policy.metadata.name, "default-network-policy");
    assert.equal(policy.metadata.namespace, "shop");
    assert.deepEqual(policy.spec.podSelector, {});
    // No Egress: DNS queries (and all egress) leave the namespace as before.
    assert.deepEqual(policy.spec.policyTypes, ["Ingress"]);
    assert.equal("egress" in policy.spec, false);
    // A bare podSelector peer means "pods of this policy's namespace".
    assert.deepEqual(policy.spec.ingress, [{ from: [{ podSelector: {} }] }]);
  });

  void it("adds one peer per allowFrom entry, exactly as configured and in order", () => {
    const policy = sameNamespaceNetworkPolicy(
      operatorNs({
        allowFrom: [
          { namespace: "ingress-nginx" },
          { cidr: "10.42.0.0/16" },
          { namespace: "cattle-monitoring-system" },
          { cidr: "fd00:10::/64" },
          { cidr: "192.0.2.7/32" },
        ],
      }),
    );
    new NetworkPolicy(plain(policy)).validate();
    assert.equal(policy.spec.ingress.length, 1);
    assert.deepEqual(policy.spec.ingress[0]?.from, [
      { podSelector: {} },
      { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } },
      { ipBlock: { cidr: "10.42.0.0/16" } },
      { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "cattle-monitoring-system" } } },
      { ipBlock: { cidr: "fd00:10::/64" } },
      { ipBlock: { cidr: "192.0.2.7/32" } },
    ]);
  });

  void it("rejects bad sources", () => {
    const bad: [OperatorNamespaceModel["allowFrom"][number], RegExp][] = [
      [{}, /exactly one of/],
      [{ namespace: "a", cidr: "10.0.0.0/8" }, /exactly one of/],
      [{ namespace: "Not_A_Namespace" }, /not a valid namespace name/],
      [{ cidr: "10.0.0.0" }, /not a CIDR/],
      [{ cidr: "10.0.0.0/33" }, /not a CIDR/],
      [{ cidr: "300.0.0.0/8" }, /not a CIDR/],
      [{ cidr: "fd00::/129" }, /not a CIDR/],
      [{ cidr: "fe80::/64%eth0" }, /not a CIDR/],
      [{ cidr: "10.1.2.3/8" }, /host bits/],
      [{ cidr: "fd00::1/64" }, /host bits/],
      [{ cidr: "::ffff:10.0.0.1/120" }, /host bits/],
    ];
    for (const [source, message] of bad) {
      assert.throws(() => sameNamespaceNetworkPolicy(operatorNs({ allowFrom: [source] })), message);
    }
    assert.doesNotThrow(() => sameNamespaceNetworkPolicy(operatorNs({ allowFrom: [{ cidr: "0.0.0.0/0" }] })));
    assert.doesNotThrow(() => sameNamespaceNetworkPolicy(operatorNs({ allowFrom: [{ cidr: "::/0" }] })));
    assert.doesNotThrow(() =>
      sameNamespaceNetworkPolicy(operatorNs({ allowFrom: [{ cidr: "::ffff:10.0.0.0/104" }] })),
    );
  });

  void it("refuses the built-in namespaces, whose policy RKE2 manages", () => {
    for (const name of BUILTIN_NAMESPACES) {
      assert.throws(() => sameNamespaceNetworkPolicy(operatorNs({ name })), /RKE2's CIS profile manages/);
    }
  });

  void it("fits networking.v1.NetworkPolicy's args", () => {
    const policy = sameNamespaceNetworkPolicy(operatorNs({ allowFrom: [{ cidr: "10.0.0.0/8" }] }));
    const args: k8s.networking.v1.NetworkPolicyArgs = { metadata: policy.metadata, spec: policy.spec };
    new NetworkPolicy(
      plain({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", ...args }),
    ).validate();
    assert.deepEqual(plain(args), {
      metadata: {
        name: SAME_NAMESPACE_POLICY_NAME,
        namespace: "shop",
        labels: { "app.kubernetes.io/part-of": "hardened-rke2" },
      },
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: {} }, { ipBlock: { cidr: "10.0.0.0/8" } }] }],
      },
    });
  });
});

void describe("reconcilerManifests", () => {
  const manifests = reconcilerManifests(reconcilerModel());

  void it("renders only schema-valid objects", () => {
    new Namespace(plain(manifests.namespace)).validate();
    new ServiceAccount(plain(manifests.defaultServiceAccountPatch)).validate();
    new NetworkPolicy(plain(manifests.networkPolicy)).validate();
    new ServiceAccount(plain(manifests.serviceAccount)).validate();
    new ClusterRole(plain(manifests.clusterRole)).validate();
    new ClusterRoleBinding(plain(manifests.clusterRoleBinding)).validate();
    new CronJob(plain(manifests.cronJob)).validate();
  });

  void it("puts everything in its own namespace, labelled for restricted Pod Security", () => {
    assert.equal(manifests.namespace.metadata.name, "cis-reconciler");
    const labels = manifests.namespace.metadata.labels ?? {};
    assert.equal(labels["pod-security.kubernetes.io/enforce"], "restricted");
    assert.equal(labels["pod-security.kubernetes.io/enforce-version"], "latest");
    assert.equal(labels["pod-security.kubernetes.io/audit"], "restricted");
    assert.equal(labels["pod-security.kubernetes.io/warn"], "restricted");
    assert.equal(manifests.serviceAccount.metadata.namespace, "cis-reconciler");
    assert.equal(manifests.cronJob.metadata.namespace, "cis-reconciler");
    const custom = reconcilerManifests(reconcilerModel({ namespace: "ops-cis" }));
    assert.equal(custom.namespace.metadata.name, "ops-cis");
    assert.equal(custom.cronJob.metadata.namespace, "ops-cis");
    assert.equal(custom.clusterRoleBinding.subjects[0]?.namespace, "ops-cis");
  });

  void it("patches and polices its own namespace like any other", () => {
    assert.deepEqual(manifests.defaultServiceAccountPatch, defaultServiceAccountPatch("cis-reconciler"));
    assert.deepEqual(
      manifests.networkPolicy,
      sameNamespaceNetworkPolicy(operatorNs({ name: "cis-reconciler", create: true })),
    );
  });

  void it("gives its ServiceAccount no token by default; only the job's pod mounts one", () => {
    assert.equal(manifests.serviceAccount.automountServiceAccountToken, false);
    const pod = manifests.cronJob.spec.jobTemplate.spec.template.spec;
    assert.equal(pod.serviceAccountName, manifests.serviceAccount.metadata.name);
    assert.equal(pod.automountServiceAccountToken, true);
  });

  void it("grants exactly the least RBAC the script needs, no wildcards", () => {
    const rules = manifests.clusterRole.rules;
    for (const rule of rules) {
      for (const list of [rule.verbs, rule.resources, rule.apiGroups, rule.resourceNames ?? []]) {
        assert.equal(
          list.some((entry) => entry.includes("*")),
          false,
          JSON.stringify(rule),
        );
      }
    }
    assert.deepEqual(rules, [
      { apiGroups: [""], resources: ["namespaces"], verbs: ["list"] },
      {
        apiGroups: [""],
        resources: ["serviceaccounts"],
        resourceNames: ["default"],
        verbs: ["get", "patch"],
      },
      {
        apiGroups: ["networking.k8s.io"],
        resources: ["networkpolicies"],
        resourceNames: ["default-network-policy"],
        verbs: ["get"],
      },
      { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["create"] },
    ]);
    const forbidden = ["update", "delete", "deletecollection", "escalate", "bind", "impersonate", "watch"];
    assert.equal(
      rules.some((r) => r.verbs.some((v) => forbidden.includes(v))),
      false,
    );
  });

  void it("drops the NetworkPolicy permissions when the selector is empty", () => {
    const rules = reconcilerManifests(reconcilerModel({ networkPolicySelector: " " })).clusterRole.rules;
    assert.deepEqual(
      rules.map((r) => r.resources[0]),
      ["namespaces", "serviceaccounts"],
    );
  });

  void it("binds the role to its ServiceAccount only", () => {
    const binding = manifests.clusterRoleBinding;
    assert.deepEqual(binding.roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: manifests.clusterRole.metadata.name,
    });
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: manifests.serviceAccount.metadata.name, namespace: "cis-reconciler" },
    ]);
  });

  void it("schedules one run at a time", () => {
    const spec = manifests.cronJob.spec;
    assert.equal(spec.schedule, "*/5 * * * *");
    assert.equal(spec.concurrencyPolicy, "Forbid");
    assert.ok(spec.jobTemplate.spec.activeDeadlineSeconds > 0);
    assert.equal(
      reconcilerManifests(reconcilerModel({ schedule: "@hourly" })).cronJob.spec.schedule,
      "@hourly",
    );
  });

  void it("runs a restricted pod", () => {
    const pod = manifests.cronJob.spec.jobTemplate.spec.template.spec;
    assert.equal(pod.restartPolicy, "Never");
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, RECONCILER_UID);
    assert.ok(Number.isInteger(pod.securityContext.runAsUser) && pod.securityContext.runAsUser > 0);
    assert.deepEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" });
    assert.equal(pod.containers.length, 1);
    const [container] = pod.containers;
    assert.ok(container);
    const sc = container.securityContext;
    assert.equal(sc.runAsNonRoot, true);
    assert.equal(sc.runAsUser, RECONCILER_UID);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(sc.privileged, false);
    assert.deepEqual(sc.capabilities, { drop: ["ALL"] });
    assert.equal("add" in sc.capabilities, false);
    assert.deepEqual(sc.seccompProfile, { type: "RuntimeDefault" });
    assert.ok(container.resources.requests.cpu && container.resources.requests.memory);
    assert.ok(container.resources.limits.cpu && container.resources.limits.memory);
    // Only an emptyDir, allowed by the restricted profile (and RKE2's restricted PSP).
    assert.deepEqual(pod.volumes, [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }]);
    assert.deepEqual(container.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
    const podKeys = Object.keys(pod);
    for (const key of ["hostNetwork", "hostPID", "hostIPC"]) assert.equal(podKeys.includes(key), false, key);
  });

  void it("runs the rendered script with the image's POSIX shell", () => {
    const [container] = manifests.cronJob.spec.jobTemplate.spec.template.spec.containers;
    assert.equal(container?.image, "rancher/shell:v0.6.4");
    assert.equal(container?.command[0], "/bin/sh");
    assert.equal(container?.command[1], "-c");
    assert.equal(container?.command[2], renderReconcilerScript(reconcilerModel()));
  });

  void it("fits the @pulumi/kubernetes resources' args", () => {
    const cronJob: k8s.batch.v1.CronJobArgs = {
      metadata: manifests.cronJob.metadata,
      spec: manifests.cronJob.spec,
    };
    const role: k8s.rbac.v1.ClusterRoleArgs = {
      metadata: manifests.clusterRole.metadata,
      rules: manifests.clusterRole.rules,
    };
    const binding: k8s.rbac.v1.ClusterRoleBindingArgs = {
      metadata: manifests.clusterRoleBinding.metadata,
      roleRef: manifests.clusterRoleBinding.roleRef,
      subjects: manifests.clusterRoleBinding.subjects,
    };
    const sa: k8s.core.v1.ServiceAccountArgs = {
      metadata: manifests.serviceAccount.metadata,
      automountServiceAccountToken: manifests.serviceAccount.automountServiceAccountToken,
    };
    const ns: k8s.core.v1.NamespaceArgs = { metadata: manifests.namespace.metadata };
    // Each args object, with the manifest's apiVersion and kind, is a schema-valid object, and it drops nothing
    // of the rendered manifest.
    const cases: [unknown, ModelClass, { apiVersion: string; kind: string }][] = [
      [cronJob, CronJob, manifests.cronJob],
      [role, ClusterRole, manifests.clusterRole],
      [binding, ClusterRoleBinding, manifests.clusterRoleBinding],
      [sa, ServiceAccount, manifests.serviceAccount],
      [ns, Namespace, manifests.namespace],
    ];
    for (const [args, Model, manifest] of cases) {
      const object = plain({ apiVersion: manifest.apiVersion, kind: manifest.kind, ...(args as object) });
      new Model(object).validate();
      assert.deepEqual(object, plain(manifest), manifest.kind);
    }
  });

  void it("rejects bad models", () => {
    const bad: [Partial<ReconcilerModel>, RegExp][] = [
      [{ image: "rancher/shell" }, /not pinned/],
      [{ image: "rancher/shell:latest" }, /not pinned/],
      [{ image: "registry.local:5000/rancher/shell" }, /not pinned/],
      [{ image: "rancher/shell: v1" }, /not an image reference/],
      [{ image: "" }, /not an image reference/],
      [{ schedule: "every 5 minutes" }, /not a Kubernetes CronJob schedule/],
      [{ schedule: "0 */5 * * * *" }, /not a Kubernetes CronJob schedule/],
      [{ schedule: "61 * * * *" }, /not a Kubernetes CronJob schedule/],
      [{ schedule: "TZ=UTC */5 * * * *" }, /not a Kubernetes CronJob schedule/],
      [{ namespace: "kube-system" }, /built in/],
      [{ namespace: "CIS" }, /not a valid namespace name/],
      [{ excludeNamespaces: ["ok", "Not OK"] }, /excludeNamespaces\[1\]/],
      [{ excludeNamespaces: ["cis-reconciler"] }, /own namespace/],
      [{ networkPolicySelector: "team in (a,b" }, /unbalanced/],
      [{ networkPolicySelector: "team=a b" }, /cannot parse/],
      [{ networkPolicySelector: "te am=a" }, /cannot parse/],
      [{ networkPolicySelector: "team='x'" }, /not a label value|cannot parse/],
      [{ networkPolicySelector: "$(reboot)" }, /cannot parse|not a label key/],
      [{ networkPolicySelector: "team=a,,b" }, /not a label key|cannot parse/],
    ];
    for (const [overrides, message] of bad) {
      assert.throws(
        () => reconcilerManifests(reconcilerModel(overrides)),
        message,
        JSON.stringify(overrides),
      );
      assert.throws(
        () => renderReconcilerScript(reconcilerModel(overrides)),
        message,
        JSON.stringify(overrides),
      );
    }
    for (const image of [
      "registry.local:5000/rancher/shell:v0.6.4",
      `rancher/shell@sha256:${"a".repeat(64)}`,
    ]) {
      assert.doesNotThrow(() => reconcilerManifests(reconcilerModel({ image })), image);
    }
    for (const networkPolicySelector of [
      "a",
      "!a",
      "a=b",
      "a==b",
      "a!=b",
      "a in (b, c)",
      "a notin (b),x.io/y",
    ]) {
      assert.doesNotThrow(() => reconcilerManifests(reconcilerModel({ networkPolicySelector })));
    }
  });
});

// ------------------------------------------------------------------------------------------------
// The script: shellcheck, and real runs against a fake kubectl that keeps its state in files.
// ------------------------------------------------------------------------------------------------

const FAKE_KUBECTL = `#!/bin/sh
# Test double of kubectl for the reconciler script. State under $FAKE_STATE:
#   namespaces, selected: output of the two namespace listings
#   sa/<ns>: automountServiceAccountToken of default ("" = unset; no file = no ServiceAccount)
#   np/<ns>: the NetworkPolicy created there; fail-patch/<ns>: patching there fails
set -eu
S=$FAKE_STATE
printf '%s\\n' "$*" >>"$S/calls"
verb=$1
kind=$2
name=\${3:-}
ns=
prev=
for arg in "$@"; do
  if [ "$prev" = --namespace ]; then ns=$arg; fi
  prev=$arg
done
case "$verb $kind" in
  "get namespaces")
    case "$*" in
      *--selector*) cat "$S/selected" ;;
      *) cat "$S/namespaces" ;;
    esac
    ;;
  "get serviceaccount")
    if [ -f "$S/sa/$ns" ]; then printf 'default:%s' "$(cat "$S/sa/$ns")"; fi
    ;;
  "get networkpolicy")
    if [ -f "$S/np/$ns" ]; then printf 'networkpolicy.networking.k8s.io/%s\\n' "$name"; fi
    ;;
  "patch serviceaccount")
    if [ -f "$S/fail-patch/$ns" ]; then echo "Error from server (Forbidden)" >&2; exit 1; fi
    case "$*" in
      *'--type merge --patch {"automountServiceAccountToken":false}'*) printf false >"$S/sa/$ns" ;;
      *) echo "unexpected patch: $*" >&2; exit 2 ;;
    esac
    ;;
  "create --namespace")
    cat >"$S/np/$ns"
    ;;
  *)
    echo "fake kubectl: unexpected call: $*" >&2
    exit 2
    ;;
esac
`;

interface ClusterState {
  readonly namespaces: readonly string[];
  readonly selected: readonly string[];
  /** automountServiceAccountToken per namespace; a namespace absent here has no default SA. */
  readonly serviceAccounts: Readonly<Record<string, string>>;
  readonly policies: readonly string[];
  readonly failPatch?: readonly string[];
}

class FakeCluster {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "reconciler-"));
  private readonly state = path.join(this.dir, "state");

  constructor(initial: ClusterState) {
    const bin = path.join(this.dir, "bin");
    for (const d of [bin, this.state, ...["sa", "np", "fail-patch"].map((s) => path.join(this.state, s))]) {
      fs.mkdirSync(d, { recursive: true });
    }
    fs.writeFileSync(path.join(bin, "kubectl"), FAKE_KUBECTL, { mode: 0o755 });
    fs.writeFileSync(path.join(this.state, "namespaces"), initial.namespaces.map((n) => `${n}\n`).join(""));
    fs.writeFileSync(path.join(this.state, "selected"), initial.selected.map((n) => `${n}\n`).join(""));
    fs.writeFileSync(path.join(this.state, "calls"), "");
    for (const [ns, value] of Object.entries(initial.serviceAccounts)) {
      fs.writeFileSync(path.join(this.state, "sa", ns), value);
    }
    for (const ns of initial.policies) fs.writeFileSync(path.join(this.state, "np", ns), "existing");
    for (const ns of initial.failPatch ?? []) fs.writeFileSync(path.join(this.state, "fail-patch", ns), "");
  }

  run(shell: string, script: string): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(shell, ["-c", script, "cis-reconciler"], {
      encoding: "utf8",
      // stdin from /dev/null: on a socket (Node's default stdio) bash would source ~/.bashrc.
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: `${path.join(this.dir, "bin")}:/usr/bin:/bin`, FAKE_STATE: this.state, HOME: this.dir },
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  serviceAccount(ns: string): string | undefined {
    const file = path.join(this.state, "sa", ns);
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
  }

  policy(ns: string): string | undefined {
    const file = path.join(this.state, "np", ns);
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
  }

  calls(): string[] {
    return fs.readFileSync(path.join(this.state, "calls"), "utf8").split("\n").filter(Boolean);
  }

  dispose(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function lines(text: string): string[] {
  return text.split("\n").filter(Boolean);
}

const SHELLS = ["dash", "bash", "busybox"].filter((s) => spawnSync(s, ["-c", "true"]).status === 0);

void describe("renderReconcilerScript", () => {
  void it("is shellcheck-clean as a POSIX sh script", () => {
    const models = [
      reconcilerModel(),
      reconcilerModel({ networkPolicySelector: "" }),
      reconcilerModel({ excludeNamespaces: ["kube-system", "cattle-system"] }),
      reconcilerModel({ networkPolicySelector: "team in (a, b),!legacy,env!=dev" }),
    ];
    for (const model of models) {
      const script = renderReconcilerScript(model);
      assert.ok(script.startsWith("#!/bin/sh\n"));
      const result = spawnSync("shellcheck", ["--shell=sh", "--severity=style", "-"], {
        input: script,
        encoding: "utf8",
      });
      assert.equal(result.error, undefined, "shellcheck must be installed (npm test's pretest installs it)");
      assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    }
  });

  void it("carries the selector, exclusions and policy as inert single-quoted data", () => {
    const script = renderReconcilerScript(
      reconcilerModel({ excludeNamespaces: ["a", "b"], networkPolicySelector: "team in (x, y),!legacy" }),
    );
    assert.match(script, /^EXCLUDE=' a b '$/m);
    assert.match(script, /^SELECTOR='team in \(x, y\),!legacy'$/m);
    const policyLine = /^POLICY='(.*)'$/m.exec(script);
    assert.ok(policyLine?.[1]);
    const policy = JSON.parse(policyLine[1]) as object;
    new NetworkPolicy(policy).validate();
    assert.deepEqual(policy, {
      ...sameNamespaceNetworkPolicy(operatorNs()),
      metadata: { name: "default-network-policy", labels: { "app.kubernetes.io/part-of": "hardened-rke2" } },
    });
  });

  void it("leaves NetworkPolicies out entirely when the selector is empty", () => {
    const script = renderReconcilerScript(reconcilerModel({ networkPolicySelector: "" }));
    const code = script
      .split("\n")
      .filter((line) => !line.trimStart().startsWith("#"))
      .join("\n");
    assert.doesNotMatch(code, /networkpolic/i);
    assert.doesNotMatch(code, /--selector|SELECTOR|POLICY/);
    assert.match(code, /kubectl patch serviceaccount default/);
  });

  for (const shell of SHELLS) {
    void describe(`run by ${shell} against a fake kubectl`, () => {
      const model = reconcilerModel({
        excludeNamespaces: ["kube-system", "legacy"],
        networkPolicySelector: "cis.example.com/policed=true",
      });
      const script = renderReconcilerScript(model);

      void it("patches every non-excluded default ServiceAccount once, one line per change", () => {
        const cluster = new FakeCluster({
          namespaces: [
            "default",
            "kube-system",
            "legacy",
            "shop",
            "cattle-system",
            "brand-new",
            "cis-reconciler",
          ],
          selected: [],
          serviceAccounts: {
            default: "false",
            "kube-system": "true",
            legacy: "true",
            shop: "true",
            "cattle-system": "",
            "cis-reconciler": "",
          },
          policies: [],
        });
        try {
          const first = cluster.run(shell, script);
          assert.equal(first.status, 0, first.stderr);
          assert.equal(first.stderr, "");
          assert.deepEqual(lines(first.stdout), [
            "serviceaccount shop/default: automountServiceAccountToken true -> false",
            "serviceaccount cattle-system/default: automountServiceAccountToken unset -> false",
            "serviceaccount cis-reconciler/default: automountServiceAccountToken unset -> false",
          ]);
          // Excluded namespaces are not even read; a namespace without its SA yet waits for the next run.
          assert.equal(cluster.serviceAccount("kube-system"), "true");
          assert.equal(cluster.serviceAccount("legacy"), "true");
          assert.equal(cluster.serviceAccount("brand-new"), undefined);
          assert.equal(
            cluster.calls().some((c) => / --namespace (kube-system|legacy) /.test(c)),
            false,
          );
          assert.equal(cluster.calls().filter((c) => c.startsWith("patch ")).length, 3);

          const second = cluster.run(shell, script);
          assert.equal(second.status, 0, second.stderr);
          assert.equal(second.stdout, "", "an idempotent second run changes and prints nothing");
          assert.equal(cluster.calls().filter((c) => c.startsWith("patch ")).length, 3);
        } finally {
          cluster.dispose();
        }
      });

      void it("creates the policy only in selected namespaces that lack one, with the configured selector", () => {
        const cluster = new FakeCluster({
          namespaces: ["shop", "billing", "kube-system", "legacy"],
          selected: ["shop", "billing", "legacy"],
          serviceAccounts: { shop: "false", billing: "false", "kube-system": "false", legacy: "true" },
          policies: ["billing"],
        });
        try {
          const first = cluster.run(shell, script);
          assert.equal(first.status, 0, first.stderr);
          assert.deepEqual(lines(first.stdout), [
            "networkpolicy shop/default-network-policy: created",
            // Exclusions are about the ServiceAccount only; the selector alone decides policies.
            "networkpolicy legacy/default-network-policy: created",
          ]);
          assert.equal(cluster.policy("billing"), "existing", "an existing policy is left as it is");
          assert.equal(cluster.policy("kube-system"), undefined, "not selected");
          const created = JSON.parse(cluster.policy("shop") ?? "") as object;
          new NetworkPolicy(created).validate();
          assert.deepEqual(
            (created as { spec: unknown }).spec,
            sameNamespaceNetworkPolicy(operatorNs()).spec,
          );
          assert.ok(
            cluster
              .calls()
              .some((c) =>
                c.startsWith(
                  "get namespaces --field-selector status.phase=Active --selector cis.example.com/policed=true ",
                ),
              ),
            cluster.calls().join("\n"),
          );

          const second = cluster.run(shell, script);
          assert.equal(second.status, 0, second.stderr);
          assert.equal(second.stdout, "");
        } finally {
          cluster.dispose();
        }
      });

      void it("carries on past a failure and then exits 1", () => {
        const cluster = new FakeCluster({
          namespaces: ["locked", "shop"],
          selected: [],
          serviceAccounts: { locked: "true", shop: "true" },
          policies: [],
          failPatch: ["locked"],
        });
        try {
          const result = cluster.run(shell, script);
          assert.equal(result.status, 1);
          assert.deepEqual(lines(result.stdout), [
            "serviceaccount shop/default: automountServiceAccountToken true -> false",
          ]);
          assert.match(result.stderr, /namespace locked: cannot patch ServiceAccount default/);
          assert.match(result.stderr, /1 operation\(s\) failed/);
        } finally {
          cluster.dispose();
        }
      });
    });
  }
});

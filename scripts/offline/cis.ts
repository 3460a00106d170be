import * as YAML from "yaml";
import { type StackModel, isServer } from "../../config/model";
import { BUILTIN_NAMESPACES } from "../../config/grammar";
import { type RecordedResource, reveal } from "./engine";
import { mdText } from "./markdown";

export type ControlStatus = "enforced" | "partly" | "not enforced";

/** One CIS control the seed names, as this stack's resources enforce it. */
export interface ControlCoverage {
  readonly id: string;
  readonly title: string;
  readonly status: ControlStatus;
  /** Names of the resources that enforce it. */
  readonly enforcedBy: readonly string[];
  /** What is missing when the control is not fully enforced. */
  readonly missing: readonly string[];
  /** How the stack's CIS scan checks it (the ClusterScan's profile), or "-" without a scan. */
  readonly scannedBy: string;
  /** `npm run verify` reads this control's host side on every node (it sees drift the scan and preview miss). */
  readonly verifiedOnHosts: boolean;
}

/**
 * How Rancher's `rke2-cis-1.6-hardened` benchmark checks each control (rancher/security-scan
 * `package/cfg/rke2-cis-1.6-hardened/*.yaml`: `type: manual` checks only report "warn"); other profiles
 * are named without this detail.
 */
const CIS_16_HARDENED_CHECKS: Readonly<Record<string, string>> = {
  "4.2.6": "automated (kubelet --protect-kernel-defaults)",
  "1.1.12": "automated (etcd data directory ownership)",
  "1.2.22-1.2.25": "automated (kube-apiserver --audit-* flags)",
  "5.1.5": "automated (default ServiceAccounts in every namespace)",
  "5.2.x": "5.2.1-5.2.7 automated, 5.2.8-5.2.9 manual (warn)",
  "5.3.2": "automated (a NetworkPolicy in every namespace)",
};

/** Controls whose host side `npm run verify` checks on every node (scripts/verify/evaluate.ts). */
const VERIFIED_ON_HOSTS = new Set(["4.2.6", "1.1.12", "1.2.22-1.2.25"]);

const CLUSTER_SCAN = /^kubernetes:(cis|compliance)\.cattle\.io\/v1:ClusterScan$/;

const COMMAND = "command:remote:Command";
const CLUSTER = "rancher2:index/clusterV2:ClusterV2";
const SA_PATCH = "kubernetes:core/v1:ServiceAccountPatch";
const NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const CRONJOB = "kubernetes:batch/v1:CronJob";

function text(resource: RecordedResource, key: string): string {
  const value = reveal(resource.inputs[key]);
  return typeof value === "string" ? value : "";
}

function field(resource: RecordedResource | undefined, pathText: string): unknown {
  let current: unknown = resource?.inputs;
  for (const step of pathText.split("."))
    current = (reveal(current) as Record<string, unknown> | undefined)?.[step];
  return reveal(current);
}

function statusOf(enforcedBy: readonly string[], missing: readonly string[]): ControlStatus {
  if (missing.length === 0) return "enforced";
  return enforcedBy.length > 0 ? "partly" : "not enforced";
}

/**
 * The seed's controls, each judged from what the program actually registered for this stack (not from a static
 * table), so that a stack that turns something off, or a change that drops a resource, shows the gap.
 */
export function cisCoverage(resources: readonly RecordedResource[], model: StackModel): ControlCoverage[] {
  const cluster = resources.find((r) => r.type === CLUSTER);
  const hardeningFlags = (() => {
    const selectors = field(cluster, "rkeConfig.machineSelectorConfigs") as
      { config?: string; machineLabelSelector?: unknown }[] | undefined;
    const global = selectors?.find((s) => s.machineLabelSelector === undefined);
    return (global?.config ? YAML.parse(global.config) : {}) as Record<string, unknown>;
  })();
  const profile = typeof hardeningFlags.profile === "string" ? hardeningFlags.profile : undefined;
  const clusterName = cluster?.name ?? "the cluster";
  const profileMissing = profile
    ? []
    : [`profile disabled in this stack (${clusterName} has no CIS profile)`];
  const hostPrep = (node: string) =>
    resources.find((r) => r.type === COMMAND && r.name === `${node}-host-prep`);
  const controls: Omit<ControlCoverage, "scannedBy" | "verifiedOnHosts">[] = [];

  {
    const enforcedBy: string[] = [];
    const missing: string[] = [];
    for (const node of model.nodes) {
      const prep = hostPrep(node.name);
      if (prep && text(prep, "create").includes("90-kubelet.conf")) enforcedBy.push(prep.name);
      else missing.push(`node ${node.name} has no kernel-parameter step`);
    }
    if (cluster && hardeningFlags["protect-kernel-defaults"] === true) enforcedBy.push(cluster.name);
    else missing.push(`${clusterName} does not set protect-kernel-defaults: true`);
    controls.push({
      id: "4.2.6",
      title: "Kernel parameters (90-kubelet.conf) and protect-kernel-defaults",
      status: statusOf(enforcedBy, missing),
      enforcedBy,
      missing,
    });
  }

  {
    const enforcedBy: string[] = [];
    const missing: string[] = [...profileMissing];
    if (profile && cluster) enforcedBy.push(cluster.name);
    for (const node of model.nodes.filter(isServer)) {
      const prep = hostPrep(node.name);
      if (prep && text(prep, "create").includes("useradd")) enforcedBy.push(prep.name);
      else missing.push(`server ${node.name} gets no etcd user`);
    }
    controls.push({
      id: "1.1.12",
      title: "etcd data directory owned by etcd:etcd",
      status: statusOf(enforcedBy, missing),
      enforcedBy,
      missing,
    });
  }

  {
    const enforcedBy: string[] = [];
    const missing: string[] = [...profileMissing];
    if (profile && cluster) enforcedBy.push(cluster.name);
    for (const node of model.nodes.filter(isServer)) {
      const prep = hostPrep(node.name);
      const policy = prep ? text(prep, "stdin") : "";
      if (!policy) {
        missing.push(`server ${node.name} gets no audit policy`);
        continue;
      }
      const rules = (YAML.parse(policy) as { rules?: { level?: string }[] }).rules ?? [];
      if (rules.length > 0 && rules.every((r) => r.level === "None")) {
        missing.push(`server ${node.name}: audit level None records no request`);
      } else {
        enforcedBy.push(prep!.name);
      }
    }
    controls.push({
      id: "1.2.22-1.2.25",
      title: "API server audit log (policy, path, age, backups, size)",
      status: statusOf(enforcedBy, missing),
      enforcedBy,
      missing,
    });
  }

  {
    const patches = resources.filter(
      (r) => r.type === SA_PATCH && field(r, "automountServiceAccountToken") === false,
    );
    const patched = new Map(patches.map((p) => [String(field(p, "metadata.namespace")), p.name]));
    const expected = [...BUILTIN_NAMESPACES, ...model.hardening.namespaces.map((n) => n.name)];
    const enforcedBy = expected.flatMap((ns) => (patched.has(ns) ? [patched.get(ns)!] : []));
    const missing = expected
      .filter((ns) => !patched.has(ns))
      .map((ns) => `namespace ${ns}: default ServiceAccount not patched`);
    const reconciler = resources.find((r) => r.type === CRONJOB);
    if (reconciler) enforcedBy.push(reconciler.name);
    else missing.push("namespaces created after pulumi up are not patched (reconciler disabled)");
    controls.push({
      id: "5.1.5",
      title: "Default service accounts do not mount a token",
      status: statusOf(enforcedBy, missing),
      enforcedBy,
      missing,
    });
  }

  {
    const enforcedBy: string[] = [];
    const missing: string[] = [...profileMissing];
    if (profile && cluster) {
      const template = field(cluster, "defaultPodSecurityAdmissionConfigurationTemplateName");
      if (profile === "cis-1.5" || profile === "cis-1.6")
        enforcedBy.push(`${cluster.name} (RKE2 restricted PodSecurityPolicies)`);
      else if (typeof template === "string")
        enforcedBy.push(`${cluster.name} (Pod Security Admission: ${template})`);
      else missing.push(`${clusterName} sets no Pod Security Admission template`);
    }
    controls.push({
      id: "5.2.x",
      title: "Pod security (PSP up to 1.24, PSA after)",
      status: statusOf(enforcedBy, missing),
      enforcedBy,
      missing,
    });
  }

  {
    const enforcedBy: string[] = [];
    const missing: string[] = [];
    if (profile && cluster)
      enforcedBy.push(`${cluster.name} (RKE2 policies in ${BUILTIN_NAMESPACES.slice(0, 3).join(", ")})`);
    else missing.push(`profile disabled in this stack: built-in namespaces get no NetworkPolicy`);
    const policies = new Map(
      resources
        .filter((r) => r.type === NETWORK_POLICY)
        .map((p) => [String(field(p, "metadata.namespace")), p.name]),
    );
    for (const ns of model.hardening.namespaces) {
      if (policies.has(ns.name)) enforcedBy.push(policies.get(ns.name)!);
      else missing.push(`namespace ${ns.name} has no NetworkPolicy`);
    }
    const reconciler = resources.find((r) => r.type === CRONJOB);
    if (reconciler)
      enforcedBy.push(
        `${reconciler.name} (namespaces labelled ${model.hardening.reconciler.networkPolicySelector})`,
      );
    controls.push({
      id: "5.3.2",
      title: "Every namespace has a NetworkPolicy",
      status: statusOf(enforcedBy, missing),
      enforcedBy,
      missing,
    });
  }
  const scan = resources.find((r) => CLUSTER_SCAN.test(r.type));
  const scanProfile = scan ? field(scan, "spec.scanProfileName") : undefined;
  return controls.map((control) => ({
    ...control,
    scannedBy:
      typeof scanProfile !== "string"
        ? "-"
        : scanProfile === "rke2-cis-1.6-profile-hardened"
          ? `${scanProfile}: ${CIS_16_HARDENED_CHECKS[control.id] ?? "checked"}`
          : scanProfile,
    verifiedOnHosts: VERIFIED_ON_HOSTS.has(control.id),
  }));
}

export function renderCoverageMarkdown(controls: readonly ControlCoverage[], stack: string): string {
  const rows = controls.map(
    (c) =>
      `| ${[c.id, c.title, c.status, c.enforcedBy.join(", ") || "-", c.missing.join("; ") || "-", c.scannedBy, c.verifiedOnHosts ? "yes" : "-"].map(mdText).join(" | ")} |`,
  );
  return [
    `## CIS coverage for stack ${mdText(stack)}`,
    "",
    "Enforced: what this stack's resources set. Scanned: what Rancher's CIS scan checks in the running cluster",
    "(`pulumi up` fails on more failures than `scan.toleratedFailures`). Hosts: what `npm run verify` reads on",
    "every node over SSH, where neither `pulumi preview --refresh` nor the scan sees drift as it happens.",
    "",
    "| Control | What | Status | Enforced by | Missing | Scanned by | Hosts (verify) |",
    "|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

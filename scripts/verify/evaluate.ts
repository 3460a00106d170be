import * as crypto from "node:crypto";
import {
  AUDIT_POLICY_PATH,
  KERNEL_PARAMETERS,
  SYSCTL_CONF_PATH,
  renderSysctlConf,
} from "../../components/host/render";
import type { FileState, NodeExpectation, NodeFacts } from "./nodeCheck";
import { ETCD_DATA_DIR } from "./nodeCheck";

export type ControlStatus = "compliant" | "drift" | "not applicable";

/** One control on one node: what the stack expects, what the node has. */
export interface ControlResult {
  /** Stable id, e.g. `kernel.panic`, `sysctl-file`, `etcd-user`. */
  readonly control: string;
  /** The hardening guide's step or CIS control it stands for. */
  readonly title: string;
  readonly status: ControlStatus;
  readonly expected: string;
  readonly actual: string;
}

const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("hex");

function describeFile(state: FileState): string {
  switch (state.kind) {
    case "missing":
      return "missing";
    case "symlink":
      return "a symbolic link";
    default:
      return `${state.kind === "regular" ? "file" : state.kind} mode ${state.mode.padStart(4, "0")} owner ${state.uid}:${state.gid}`;
  }
}

/** A regular file owned by root:root with exactly this mode, or what is wrong with it. */
function fileProblem(state: FileState, mode: string): string | undefined {
  if (state.kind !== "regular")
    return state.kind === "missing" ? "missing" : `${describeFile(state)}, not a regular file`;
  if (state.mode !== mode || state.uid !== 0 || state.gid !== 0) return describeFile(state);
  return undefined;
}

function result(
  control: string,
  title: string,
  problem: string | undefined,
  expected: string,
  actualWhenFine = expected,
): ControlResult {
  return problem === undefined
    ? { control, title, status: "compliant", expected, actual: actualWhenFine }
    : { control, title, status: "drift", expected, actual: problem };
}

function notApplicable(control: string, title: string, expected: string, why: string): ControlResult {
  return { control, title, status: "not applicable", expected, actual: why };
}

/**
 * Compares what the node check read with what the stack prepares: one result per control, drift naming
 * what was expected and what the node has. Pure, so that every control is tested from facts alone.
 */
export function evaluateNode(expect: NodeExpectation, facts: NodeFacts): ControlResult[] {
  const results: ControlResult[] = [];

  // Kernel parameters, from the running kernel (hardening guide "Set kernel parameters", CIS 4.2.6).
  for (const param of KERNEL_PARAMETERS) {
    const actual = facts.kernel.get(param.name) ?? "unreadable";
    results.push(
      result(
        param.name,
        "Kernel parameter in the running kernel (CIS 4.2.6, protect-kernel-defaults)",
        actual === String(param.value) ? undefined : actual,
        String(param.value),
      ),
    );
  }

  // 90-kubelet.conf as host preparation writes it.
  const sysctlName = SYSCTL_CONF_PATH;
  const fileIssue = fileProblem(facts.sysctlFile, "644");
  const contentIssue =
    fileIssue === undefined &&
    facts.sysctlFile.kind === "regular" &&
    facts.sysctlFile.sha256 !== sha256(renderSysctlConf())
      ? `content differs: ${
          facts.sysctlSettings
            .filter((s) => s.file === sysctlName)
            .map((s) => `${s.key}=${s.value}`)
            .join(" ") || "none of the four settings"
        }`
      : undefined;
  results.push(
    result(
      "sysctl-file",
      `${sysctlName} as host preparation writes it`,
      fileIssue ?? contentIssue,
      `file mode 0644 owner 0:0 holding ${KERNEL_PARAMETERS.map((p) => `${p.name}=${p.value}`).join(" ")}`,
    ),
  );

  // Files applied after ours at boot: the last setting of each parameter wins.
  for (const param of KERNEL_PARAMETERS) {
    const last = [...facts.sysctlSettings].reverse().find((s) => s.key === param.name);
    const overriding =
      last && last.file !== sysctlName && last.value !== String(param.value) ? last : undefined;
    results.push(
      result(
        `sysctl-override ${param.name}`,
        "No sysctl file applied after 90-kubelet.conf at boot undoes a value",
        overriding
          ? `${overriding.file} sets ${param.name}=${overriding.value} (applied after ${sysctlName})`
          : undefined,
        `${param.name}=${param.value} after boot`,
      ),
    );
  }

  // The etcd user and group, as the guide's useradd creates them.
  const etcdTitle = "etcd user and group in /etc/passwd and /etc/group (hardening guide, etcd user)";
  const etcdExpected = "system user etcd, primary group etcd, nologin shell";
  if (!expect.etcdUser) {
    results.push(
      notApplicable("etcd-user", etcdTitle, etcdExpected, "not created on this node (not a server)"),
    );
  } else {
    results.push(result("etcd-user", etcdTitle, etcdUserProblem(facts), etcdExpected));
  }

  // CIS 1.1.12: etcd's data directory owned by etcd:etcd, where RKE2 runs etcd.
  const dirTitle = `${ETCD_DATA_DIR} owned by etcd:etcd (CIS 1.1.12)`;
  if (!expect.roles.includes("etcd")) {
    results.push(notApplicable("etcd-data-dir", dirTitle, "etcd:etcd", "no etcd role"));
  } else if (facts.rke2 === undefined) {
    results.push(notApplicable("etcd-data-dir", dirTitle, "etcd:etcd", "RKE2 is not installed yet"));
  } else {
    results.push(
      result("etcd-data-dir", dirTitle, etcdDataDirProblem(facts), "directory owned by etcd:etcd"),
    );
  }

  // The audit policy: content and permissions as host preparation writes it.
  const policyTitle = `${AUDIT_POLICY_PATH} is the stack's policy (CIS 1.2.22-1.2.25)`;
  if (expect.auditPolicy === undefined) {
    results.push(notApplicable("audit-policy", policyTitle, "-", "not written on this node (not a server)"));
    results.push(
      notApplicable("audit-policy-loaded", "kube-apiserver runs the current policy", "-", "not a server"),
    );
    return results;
  }
  const policyHash = sha256(expect.auditPolicy);
  const policyIssue =
    fileProblem(facts.auditPolicy, "600") ??
    (facts.auditPolicy.kind === "regular" && facts.auditPolicy.sha256 !== policyHash
      ? `content differs from the configured policy (sha256 ${facts.auditPolicy.sha256.slice(0, 12)})`
      : undefined);
  results.push(
    result(
      "audit-policy",
      policyTitle,
      policyIssue,
      `file mode 0600 owner 0:0, sha256 ${policyHash.slice(0, 12)}`,
    ),
  );

  // A kube-apiserver started after the policy was written reads it (RKE2 passes --audit-policy-file).
  const loadedTitle = "kube-apiserver started after the current audit policy";
  const loadedExpected = `kube-apiserver with --audit-policy-file=${AUDIT_POLICY_PATH}, started after the policy was written`;
  if (!expect.roles.includes("controlplane")) {
    results.push(
      notApplicable(
        "audit-policy-loaded",
        loadedTitle,
        loadedExpected,
        "no controlplane role: no kube-apiserver",
      ),
    );
  } else if (facts.rke2 === undefined) {
    results.push(
      notApplicable("audit-policy-loaded", loadedTitle, loadedExpected, "RKE2 is not installed yet"),
    );
  } else {
    results.push(result("audit-policy-loaded", loadedTitle, apiserverProblem(facts), loadedExpected));
  }
  return results;
}

function etcdUserProblem(facts: NodeFacts): string | undefined {
  if (facts.etcdUser === undefined && facts.etcdGroup === undefined) return "no etcd user, no etcd group";
  if (facts.etcdUser === undefined) return "no etcd user in /etc/passwd (the etcd group exists)";
  if (facts.etcdGroup === undefined) return "no etcd group in /etc/group (the etcd user exists)";
  const [, , uid, gid, , , shell] = facts.etcdUser.split(":");
  const [, , groupGid] = facts.etcdGroup.split(":");
  const problems: string[] = [];
  if (!(Number(uid) > 0 && Number(uid) <= facts.sysUidMax)) problems.push(`uid ${uid} is not a system uid`);
  if (gid !== groupGid) problems.push(`primary group ${gid} is not the etcd group ${groupGid}`);
  if (!/^(\/usr)?\/sbin\/nologin$/.test(shell ?? "")) problems.push(`shell ${shell} can log in`);
  return problems.length > 0 ? problems.join("; ") : undefined;
}

function etcdDataDirProblem(facts: NodeFacts): string | undefined {
  const dir = facts.etcdDataDir;
  if (dir.kind === "missing") return "missing (RKE2 is installed but etcd has no data directory)";
  if (dir.kind !== "directory") return describeFile(dir);
  const uid = facts.etcdUser?.split(":")[2];
  const gid = facts.etcdGroup?.split(":")[2];
  if (String(dir.uid) !== uid || String(dir.gid) !== gid) {
    return `owner ${dir.uid}:${dir.gid}, the etcd user and group are ${uid ?? "absent"}:${gid ?? "absent"}`;
  }
  return undefined;
}

/** How far the computed start of kube-apiserver may lag its real start (rounding of btime and ticks). */
export const START_TIME_SLACK_S = 2;

function apiserverProblem(facts: NodeFacts): string | undefined {
  const api = facts.apiserver;
  if (!api) return "no kube-apiserver process is running";
  if (api.policyFile !== AUDIT_POLICY_PATH)
    return `kube-apiserver ${api.pid} runs with --audit-policy-file=${api.policyFile ?? "(none)"}`;
  if (facts.auditPolicy.kind !== "regular") return "the audit policy file is not there";
  if (api.started === undefined) return `cannot tell when kube-apiserver ${api.pid} started`;
  // The start time is the boot time (whole seconds) plus clock ticks, the policy's time whole seconds:
  // only a policy written clearly after the start counts, never one written in the same second or two.
  if (api.started + START_TIME_SLACK_S < facts.auditPolicy.mtime) {
    return `kube-apiserver ${api.pid} started ${new Date(api.started * 1000).toISOString()}, before the policy changed at ${new Date(facts.auditPolicy.mtime * 1000).toISOString()}: it still runs the old policy (restart rke2-server)`;
  }
  return undefined;
}

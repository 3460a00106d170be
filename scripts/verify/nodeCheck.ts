import { type NodeModel, type StackModel, isServer } from "../../config/model";
import { renderAuditPolicy } from "../../components/host/auditPolicy";
import {
  AUDIT_POLICY_PATH,
  KERNEL_PARAMETERS,
  SYSCTL_CONF_PATH,
  renderRemoteCommand,
} from "../../components/host/render";
import { renderScript } from "../../components/shell/script";

/** The fixed bash of the check, read as it is by shellcheck; the program adds only its values block. */
export const NODE_CHECK_SCRIPT = "scripts/verify/node-check.sh";

/** Where RKE2 keeps etcd's data on a server (`<data-dir>/server/db/etcd`, default data dir). */
export const ETCD_DATA_DIR = "/var/lib/rancher/rke2/server/db/etcd";

/** What the stack says a node must look like: the same inputs host preparation gets. */
export interface NodeExpectation {
  readonly node: string;
  readonly roles: NodeModel["roles"];
  /** Host preparation creates the etcd user here (servers, or every node with etcdUserOnAllNodes). */
  readonly etcdUser: boolean;
  /** The audit policy host preparation writes (servers only), as rendered from the stack. */
  readonly auditPolicy?: string;
}

export function expectationFor(model: StackModel, node: NodeModel): NodeExpectation {
  const { hardening } = model;
  return {
    node: node.name,
    roles: node.roles,
    etcdUser: isServer(node) || hardening.etcdUserOnAllNodes,
    auditPolicy: isServer(node)
      ? renderAuditPolicy(hardening.auditPolicyLevel, hardening.auditRules)
      : undefined,
  };
}

/**
 * The check's script for one node. `root` prefixes every path it reads, so that tests run it against
 * a temporary directory laid out like a node (`/proc/sys`, `/etc`, …); on a node it is empty.
 */
export function renderNodeCheckScript(nodeName: string, root = ""): string {
  return renderScript(NODE_CHECK_SCRIPT, {
    node_name: nodeName,
    root,
    param_names: KERNEL_PARAMETERS.map((p) => p.name),
    sysctl_path: SYSCTL_CONF_PATH,
    sysctl_name: SYSCTL_CONF_PATH.slice(SYSCTL_CONF_PATH.lastIndexOf("/") + 1),
    audit_policy_path: AUDIT_POLICY_PATH,
    etcd_data_dir: ETCD_DATA_DIR,
  });
}

/** The command of the node's one SSH session: the check as root, through `sudo -n` for another user. */
export function renderNodeCheckCommand(nodeName: string): string {
  return renderRemoteCommand(renderNodeCheckScript(nodeName));
}

export type FileState =
  | { readonly kind: "missing" | "symlink" }
  | {
      readonly kind: "regular";
      readonly mode: string;
      readonly uid: number;
      readonly gid: number;
      readonly mtime: number;
      readonly sha256: string;
    }
  | {
      readonly kind: "directory" | "other";
      readonly mode: string;
      readonly uid: number;
      readonly gid: number;
    };

export interface SysctlSetting {
  readonly file: string;
  readonly key: string;
  readonly value: string;
}

/** What the script read on a node. */
export interface NodeFacts {
  readonly kernel: ReadonlyMap<string, string>;
  readonly sysctlFile: FileState;
  /** Settings of the four parameters in our file and every file applied after it, in the order they apply. */
  readonly sysctlSettings: readonly SysctlSetting[];
  /** The etcd lines of /etc/passwd and /etc/group, when present. */
  readonly etcdUser?: string;
  readonly etcdGroup?: string;
  readonly sysUidMax: number;
  /** What shows RKE2 is installed (a path), or undefined when it is not. */
  readonly rke2?: string;
  readonly etcdDataDir: FileState;
  readonly auditPolicy: FileState;
  readonly apiserver?: { readonly pid: number; readonly started?: number; readonly policyFile?: string };
}

function parseFileState(fields: readonly string[]): FileState {
  const [kind, mode, uid, gid, mtime, sha256] = fields;
  if (kind === "missing" || kind === "symlink") return { kind };
  if (kind === "regular")
    return { kind, mode: mode, uid: Number(uid), gid: Number(gid), mtime: Number(mtime), sha256: sha256 };
  if (kind === "directory" || kind === "other")
    return { kind, mode: mode, uid: Number(uid), gid: Number(gid) };
  throw new Error(`unexpected file state "${fields.join(" ")}"`);
}

/**
 * Parses the script's output. Throws when the output is cut short (no `end` line) or malformed, so that
 * a broken session is reported as an error of that node, never as a compliant node.
 */
export function parseFacts(stdout: string): NodeFacts {
  const kernel = new Map<string, string>();
  const sysctlSettings: SysctlSetting[] = [];
  let sysctlFile: FileState | undefined;
  let etcdDataDir: FileState | undefined;
  let auditPolicy: FileState | undefined;
  let etcdUser: string | undefined;
  let etcdGroup: string | undefined;
  let sysUidMax = 999;
  let rke2: string | undefined;
  let apiserver: NodeFacts["apiserver"];
  let ended = false;
  for (const line of stdout.split("\n")) {
    if (line === "") continue;
    const [name, ...fields] = line.split(" ");
    const rest = fields.join(" ");
    switch (name) {
      case "node":
        break;
      case "kernel":
        kernel.set(fields[0], fields[1] ?? "");
        break;
      case "sysctl_file":
        sysctlFile = parseFileState(fields);
        break;
      case "sysctl_setting":
        sysctlSettings.push({ file: fields[0], key: fields[1], value: fields.slice(2).join(" ") });
        break;
      case "etcd_user":
        etcdUser = rest === "absent" ? undefined : rest;
        break;
      case "etcd_group":
        etcdGroup = rest === "absent" ? undefined : rest;
        break;
      case "sys_uid_max":
        sysUidMax = Number(rest);
        break;
      case "rke2":
        rke2 = fields[0] === "installed" ? fields[1] : undefined;
        break;
      case "etcd_data_dir":
        etcdDataDir = parseFileState(fields);
        break;
      case "audit_policy":
        auditPolicy = parseFileState(fields);
        break;
      case "apiserver":
        apiserver =
          fields[0] === "none"
            ? undefined
            : {
                pid: Number(fields[0]),
                started: fields[1] === "unknown" ? undefined : Number(fields[1]),
                policyFile: fields[2] === "-" ? undefined : fields[2],
              };
        break;
      case "end":
        ended = true;
        break;
      default:
        throw new Error(`unexpected line from the node check: ${line}`);
    }
  }
  if (!ended || !sysctlFile || !etcdDataDir || !auditPolicy) {
    throw new Error("the node check's output ended early (session cut short, or the script failed)");
  }
  return {
    kernel,
    sysctlFile,
    sysctlSettings,
    etcdUser,
    etcdGroup,
    sysUidMax,
    rke2,
    etcdDataDir,
    auditPolicy,
    apiserver,
  };
}

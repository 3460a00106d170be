/**
 * Pure renderers of what host preparation runs on a node over SSH: the sysctl file of the seed's
 * "Set kernel parameters" step, the preparation script (guard, kernel parameters, etcd user, audit
 * policy) and the command of the SSH session that feeds that script to a root shell.
 *
 * Everything here is deterministic text: the same inputs give byte-identical output, so the
 * `remote.Command` built from it only re-runs when something that matters changed.
 */

import { renderScript, shellQuote } from "../shell/script";

/** One kernel parameter that RKE2's CIS profile checks in `/proc/sys` before it starts. */
export interface KernelParameter {
  /** sysctl name, e.g. `vm.overcommit_memory`. */
  readonly name: string;
  /** The value the hardening guide requires. */
  readonly value: number;
}

/** The four parameters of the hardening guide's `/etc/sysctl.d/90-kubelet.conf`, in its order. */
export const KERNEL_PARAMETERS: readonly KernelParameter[] = Object.freeze([
  Object.freeze({ name: "vm.panic_on_oom", value: 0 }),
  Object.freeze({ name: "vm.overcommit_memory", value: 1 }),
  Object.freeze({ name: "kernel.panic", value: 10 }),
  Object.freeze({ name: "kernel.panic_on_oops", value: 1 }),
]);

/** Where the guide puts the kernel parameters. */
export const SYSCTL_CONF_PATH = "/etc/sysctl.d/90-kubelet.conf";
/** Where RKE2 reads its audit policy (and writes a `level: None` default only if it is missing). */
export const AUDIT_POLICY_PATH = "/etc/rancher/rke2/audit-policy.yaml";
/** The stack option that lets host preparation run on nodes where RKE2 is already present. */
export const ALLOW_EXISTING_INSTALL_OPTION = "hardened-rke2:hardening.allowExistingInstall";

/**
 * The exact content of `/etc/sysctl.d/90-kubelet.conf`: a comment saying who owns the file, then
 * the guide's four lines. The script replaces the file whole, so edits to it do not survive.
 */
export function renderSysctlConf(): string {
  const lines = KERNEL_PARAMETERS.map((p) => `${p.name}=${p.value}`);
  return [
    "# Managed by hardened-rke2 (RKE2 CIS hardening: kernel parameters checked by protect-kernel-defaults).",
    ...lines,
    "",
  ].join("\n");
}

/** Inputs of {@link renderHostPrepScript}. */
export interface HostPrepScriptOptions {
  /** The node's name in the stack; only printed, so the output says which node it is. */
  readonly nodeName: string;
  /** Create the `etcd` user and group (etcd and control-plane nodes, or all nodes when configured). */
  readonly createEtcdUser: boolean;
  /**
   * Write the audit policy to {@link AUDIT_POLICY_PATH} (server nodes) while RKE2 is not installed, or
   * when the file is missing. The policy is not part of the script: it arrives on the script's
   * standard input (`remote.Command` `stdin`), so that a policy change does not change (and re-run)
   * the script; later changes are the roll-out's (`components/host/audit-rollout.sh`).
   */
  readonly writeAuditPolicy: boolean;
  /**
   * On a node where RKE2 is already installed or running, make the changes host preparation would
   * make anyway (without it such a node is left as it is, and the run fails naming the changes,
   * unless there are none).
   */
  readonly allowExistingInstall: boolean;
}

export const HOST_PREP_SCRIPT = "components/host/host-prep.sh";

/** A flag of the values block: `'1'` for on, `''` for off (the scripts test it with `[ -n … ]`). */
export function flag(on: boolean): string {
  return on ? "1" : "";
}

/**
 * The preparation script of one node, run as root by bash: checks (RKE2 present, tools, policy on
 * standard input, later sysctl files, etcd user prerequisites) before any change, then kernel
 * parameters (atomic file, `sysctl -p`, read-back), the etcd user when asked, the audit policy when
 * given. On a node where RKE2 runs it changes nothing unless the stack allows it, and says what it
 * would change; a run that would change nothing succeeds there. Each step prints one line.
 */
export function renderHostPrepScript(options: HostPrepScriptOptions): string {
  const steps = [
    "guard",
    "sysctl",
    ...(options.createEtcdUser ? ["etcd-user"] : []),
    ...(options.writeAuditPolicy ? ["audit-policy"] : []),
  ];
  const script = renderScript(HOST_PREP_SCRIPT, {
    node_name: options.nodeName,
    sysctl_path: SYSCTL_CONF_PATH,
    sysctl_name: SYSCTL_CONF_PATH.slice(SYSCTL_CONF_PATH.lastIndexOf("/") + 1),
    sysctl_conf: renderSysctlConf(),
    param_names: KERNEL_PARAMETERS.map((p) => p.name),
    param_values: KERNEL_PARAMETERS.map((p) => String(p.value)),
    param_summary: KERNEL_PARAMETERS.map((p) => `${p.name}=${p.value}`).join(" "),
    audit_policy_path: AUDIT_POLICY_PATH,
    create_etcd_user: flag(options.createEtcdUser),
    write_audit_policy: flag(options.writeAuditPolicy),
    allow_existing_install: flag(options.allowExistingInstall),
    allow_option: ALLOW_EXISTING_INSTALL_OPTION,
  });
  // Fixed tokens, never stack values: the host test reads which steps to verify from this line.
  const firstLine = script.indexOf("\n") + 1;
  return `${script.slice(0, firstLine)}# hardened-rke2:steps ${steps.join(" ")}\n${script.slice(firstLine)}`;
}

/**
 * The command of the SSH session (`remote.Command` `create`): runs `script` as root. The SSH
 * user's login shell parses it, so it is plain POSIX sh. The script travels inside the command
 * as one single-quoted word and bash gets it as an argument (`bash -c`), which it parses from
 * memory: a script read from a pipe costs one system call per byte, about a second on an
 * emulated host. The session's standard input is left to the script (the audit policy).
 *
 * Root runs bash directly; any other user goes through `sudo -n`, which never prompts: a user
 * without passwordless sudo gets a message saying what to fix, at once, instead of a hang.
 */
export function renderRemoteCommand(script: string): string {
  const notRoot = "hardened-rke2: error: SSH user $(id -un) is not root and";
  const fix = "connect as root or give this user passwordless sudo (NOPASSWD)";
  return [
    `script=${shellQuote(script)};`,
    `if [ "$(id -u)" -eq 0 ]; then exec bash -c "$script"; fi;`,
    `if ! command -v sudo >/dev/null 2>&1; then echo "${notRoot} sudo is not installed; ${fix}" >&2; exit 1; fi;`,
    `if ! sudo -n true </dev/null >/dev/null 2>&1; then echo "${notRoot} cannot use sudo without a password (sudo -n failed); ${fix}" >&2; exit 1; fi;`,
    `exec sudo -n bash -c "$script"`,
  ].join(" ");
}

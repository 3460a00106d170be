/**
 * Pure renderers of what host preparation runs on a node over SSH: the sysctl file of the seed's
 * "Set kernel parameters" step, the preparation script (guard, kernel parameters, etcd user, audit
 * policy) and the command of the SSH session that feeds that script to a root shell.
 *
 * Everything here is deterministic text: the same inputs give byte-identical output, so the
 * `remote.Command` built from it only re-runs when something that matters changed.
 */

import { shellQuote } from "../shell/script";

// Re-exported until every script renders through components/shell/script.ts.
export { shellQuote };

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
   * Write the audit policy to {@link AUDIT_POLICY_PATH} (server nodes). The policy is not part of the
   * script: it arrives on the script's standard input (`remote.Command` `stdin`), so that a later
   * policy change, rolled out by `renderAuditPolicyUpdateScript`, does not change (and re-run) the script.
   */
  readonly writeAuditPolicy: boolean;
  /** Prepare the node even if RKE2 is already installed or running (the guide says: fresh installs only). */
  readonly allowExistingInstall: boolean;
}

/**
 * Shell functions shared by the preparation and the audit roll-out scripts.
 *
 * `write_file PATH MODE CONTENT` replaces a file atomically: a temp file in the same directory,
 * then rename(2) by `mv`, so no reader (RKE2, systemd-sysctl) ever sees a half-written file and a
 * failed run leaves the old file intact. The file is never appended to. It prints `NAME: written`,
 * `NAME: unchanged`, or `NAME: owner and mode fixed` when only those were wrong.
 *
 * Every external command costs a fork and an exec (about 30 ms each on an emulated host), so the
 * common paths use builtins: the content is compared with `read`, the temp file is created with its
 * final mode by the umask (`set -C` makes that an O_EXCL create), and ownership is tested with
 * `-O`/`-G`. Only `mv` always runs, and `stat` when the content is already right.
 */
export const WRITE_FILE_FUNCTIONS = `# content_matches PATH CONTENT: a regular file (not a symlink) holding exactly CONTENT.
content_matches() {
  local current=''
  if [ ! -f "$1" ] || [ -L "$1" ]; then return 1; fi
  # read returns 1 at the end of the file; 0 means it stopped at a NUL byte: not our content.
  if IFS= read -r -d '' current <"$1"; then return 1; fi
  [ "$current" = "$2" ]
}

# replace_file PATH MODE CONTENT: temp file in the same directory, created with MODE, then rename(2).
replace_file() {
  local mask
  printf -v mask '%04o' $((0777 & ~8#$2))
  pending_tmp="\${1%/*}/.\${1##*/}.hardened-rke2.$$.$RANDOM"
  umask "$mask"
  set -C # noclobber: the temp file is created with O_EXCL, never an existing file or link
  printf '%s' "$3" >"$pending_tmp"
  set +C
  umask 077
  if [ ! -O "$pending_tmp" ] || [ ! -G "$pending_tmp" ]; then chown root:root -- "$pending_tmp"; fi
  mv -f -- "$pending_tmp" "$1"
  pending_tmp=''
}

# write_file PATH MODE CONTENT: replace unless current; one line of output either way.
write_file() {
  local name=\${1##*/}
  if ! content_matches "$1" "$3"; then
    replace_file "$@"
    echo "$name: written"
  elif [ "$(stat -c '%a %u %g' -- "$1")" = "\${2#0} 0 0" ]; then
    echo "$name: unchanged"
  else
    chown root:root -- "$1"
    chmod "$2" -- "$1"
    echo "$name: owner and mode fixed"
  fi
}`;

/**
 * Common head of every generated script: strict mode, a fixed PATH, the C locale, and removal of
 * the temp file of an interrupted write. The steps are inside `main`, called by the last line
 * ({@link RUN_MAIN}) with standard input detached, so that no command reads what the session sends.
 */
export function renderScriptPrologue(title: string): string {
  return `#!/usr/bin/env bash
# shellcheck disable=SC2016 # single-quoted values with a '$' are meant literally
# ${title}
# Generated by hardened-rke2; runs as root through renderRemoteCommand (components/host/render.ts).
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# C locale: byte-wise comparisons and sorting, as systemd-sysctl and procps order sysctl.d files.
export LC_ALL=C
umask 077
pending_tmp=''
trap '[ -z "$pending_tmp" ] || rm -f -- "$pending_tmp"' EXIT`;
}

/** Runs `main` with standard input detached (see {@link renderScriptPrologue}). */
export const RUN_MAIN = `main "$@" </dev/null`;

/** First lines of every `main`: refuse to run as anyone but root. */
export const ROOT_CHECK = `  if [ "$EUID" -ne 0 ]; then
    echo "hardened-rke2: error: this script must run as root" >&2
    exit 1
  fi`;

/** Start time for {@link MAIN_DONE} (bash 5 \`EPOCHREALTIME\`, no fork; empty on bash 4). */
const START_TIME = `  local started=\${EPOCHREALTIME:-}`;

/** Last line of a successful run, with the script's own run time when bash can measure it. */
const MAIN_DONE = `  local elapsed=''
  if [ -n "$started" ] && [ -n "\${EPOCHREALTIME:-}" ]; then
    elapsed=$(((\${EPOCHREALTIME/[.,]/} - \${started/[.,]/}) / 1000))
    printf -v elapsed ' in %d.%03d s' $((elapsed / 1000)) $((elapsed % 1000))
  fi
  echo "host preparation: done$elapsed"`;

/**
 * The fresh-install guard. Evidence of RKE2 is its binary where the installer (tarball, RPM) and
 * Rancher's system agent put it, its data directories, its systemd units, an active rke2-server or
 * rke2-agent unit, or a running `rke2` process. All but `systemctl is-active` are shell builtins.
 */
function guardSection(allowExistingInstall: boolean): string {
  const onFound = allowExistingInstall
    ? `    echo "fresh-install guard: RKE2 found ($found_list), continuing because ${ALLOW_EXISTING_INSTALL_OPTION} is true"`
    : `    printf 'hardened-rke2: error: RKE2 is already installed or running on node %s: %s.\\n' "$node_name" "$found_list" >&2
    echo "The hardening guide prepares hosts only on fresh installations, before RKE2 is deployed; nothing was changed." >&2
    echo "To prepare this node anyway, set the stack option ${ALLOW_EXISTING_INSTALL_OPTION} to true." >&2
    exit 3`;
  return `  # --- fresh-install guard: runs first, nothing is changed before it passes ---
  local found=() found_list='' path unit comm_file comm
  for path in /usr/local/bin/rke2 /usr/bin/rke2 /opt/rke2/bin/rke2 \\
    /var/lib/rancher/rke2/server /var/lib/rancher/rke2/agent \\
    /etc/systemd/system/rke2-server.service /etc/systemd/system/rke2-agent.service \\
    /usr/local/lib/systemd/system/rke2-server.service /usr/local/lib/systemd/system/rke2-agent.service \\
    /usr/lib/systemd/system/rke2-server.service /usr/lib/systemd/system/rke2-agent.service; do
    if [ -e "$path" ] || [ -L "$path" ]; then found+=("$path"); fi
  done
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    for unit in rke2-server.service rke2-agent.service; do
      if systemctl is-active --quiet "$unit"; then found+=("active unit $unit"); fi
    done
  fi
  for comm_file in /proc/[0-9]*/comm; do
    { read -r comm <"$comm_file"; } 2>/dev/null || continue
    if [ "$comm" = rke2 ]; then
      comm_file=\${comm_file#/proc/}
      found+=("rke2 process \${comm_file%/comm}")
      break
    fi
  done
  for path in \${found[@]+"\${found[@]}"}; do
    found_list+=\${found_list:+, }$path
  done
  if [ -n "$found_list" ]; then
${onFound}
  else
    echo "fresh-install guard: no RKE2 installation found"
  fi`;
}

/**
 * Checks that need no change, done before the first change so that a node that cannot be prepared
 * is left as it was: the tools exist, and no sysctl file applied after ours sets one of the
 * parameters differently.
 *
 * At boot, systemd-sysctl (and procps' `sysctl --system`) merges /etc/sysctl.d, /run/sysctl.d,
 * /usr/local/lib/sysctl.d, /usr/lib/sysctl.d and /lib/sysctl.d by file name (a name in an earlier
 * directory hides, or masks as a link to /dev/null, the same name in later ones), applies the
 * `*.conf` files in byte order of their names, each overriding those before, and procps applies
 * /etc/sysctl.conf last. So only names after `90-kubelet.conf`, and /etc/sysctl.conf, can undo our
 * values, and the last of them to set a parameter wins. Keys may use `/` for `.`, and a leading `-`
 * (ignore errors).
 */
const SYSCTL_CHECK_SECTION = `  # --- kernel parameters: files applied after ours at boot must not undo them ---
  local dirs=(/etc/sysctl.d /run/sysctl.d /usr/local/lib/sysctl.d /usr/lib/sysctl.d /lib/sysctl.d)
  local later=() last_value=() last_file=() d h file base i j key value line hidden conflicts=0
  for ((d = 0; d < \${#dirs[@]}; d++)); do
    for file in "\${dirs[d]}"/*.conf; do
      base=\${file##*/}
      [[ "$base" > "$sysctl_name" ]] || continue
      [ -f "$file" ] || continue
      hidden=0
      for ((h = 0; h < d; h++)); do
        if [ -e "\${dirs[h]}/$base" ] || [ -L "\${dirs[h]}/$base" ]; then hidden=1; break; fi
      done
      [ "$hidden" -eq 1 ] || later+=("$file")
    done
  done
  # Insertion sort by file name (a handful of files): the order in which they are applied.
  for ((i = 1; i < \${#later[@]}; i++)); do
    file=\${later[i]}
    for ((j = i - 1; j >= 0; j--)); do
      [[ "\${later[j]##*/}" > "\${file##*/}" ]] || break
      later[j + 1]=\${later[j]}
    done
    later[j + 1]=$file
  done
  if [ -f /etc/sysctl.conf ]; then later+=(/etc/sysctl.conf); fi
  for file in \${later[@]+"\${later[@]}"}; do
    while IFS= read -r line || [ -n "$line" ]; do
      line=\${line#"\${line%%[![:space:]]*}"}
      case $line in '' | '#'* | ';'*) continue ;; esac
      [[ "$line" == *=* ]] || continue
      key=\${line%%=*}
      key=\${key%"\${key##*[![:space:]]}"}
      key=\${key#-}
      key=\${key//\\//.}
      value=\${line#*=}
      value=\${value#"\${value%%[![:space:]]*}"}
      value=\${value%"\${value##*[![:space:]]}"}
      for ((i = 0; i < \${#param_names[@]}; i++)); do
        if [ "$key" = "\${param_names[i]}" ]; then
          last_value[i]=$value
          last_file[i]=$file
        fi
      done
    done <"$file"
  done
  for ((i = 0; i < \${#param_names[@]}; i++)); do
    if [ -n "\${last_file[i]:-}" ] && [ "\${last_value[i]}" != "\${param_values[i]}" ]; then
      printf 'hardened-rke2: error: %s sets %s=%s and is applied after %s at boot, so RKE2 would refuse to start after a reboot (it requires %s=%s); remove or change that setting\\n' \\
        "\${last_file[i]}" "\${param_names[i]}" "\${last_value[i]}" "$sysctl_path" "\${param_names[i]}" "\${param_values[i]}" >&2
      conflicts=1
    fi
  done
  if [ "$conflicts" -ne 0 ]; then exit 4; fi`;

/** Applies our file with `sysctl -p` (as the guide says) and reads every value back from the kernel. */
function sysctlApplySection(): string {
  const summary = KERNEL_PARAMETERS.map((p) => `${p.name}=${p.value}`).join(" ");
  return `  # --- kernel parameters: file, apply, read back from the kernel ---
  write_file "$sysctl_path" 0644 "$sysctl_conf"
  local sysctl_failed=0 actual mismatches=0
  if ! sysctl -q -p "$sysctl_path" >/dev/null; then sysctl_failed=1; fi
  for ((i = 0; i < \${#param_names[@]}; i++)); do
    key=\${param_names[i]}
    actual=unreadable
    { read -r actual <"/proc/sys/\${key//.//}"; } 2>/dev/null || true
    if [ "$actual" != "\${param_values[i]}" ]; then
      printf 'hardened-rke2: error: kernel parameter %s: expected %s, the kernel reports %s\\n' "$key" "\${param_values[i]}" "$actual" >&2
      mismatches=1
    fi
  done
  if [ "$mismatches" -ne 0 ]; then exit 5; fi
  if [ "$sysctl_failed" -ne 0 ]; then
    echo "hardened-rke2: error: sysctl -p $sysctl_path failed" >&2
    exit 5
  fi
  echo ${shellQuote(`kernel parameters: ${summary} (read back from /proc/sys)`)}`;
}

/**
 * etcd user, checks (before any change). RKE2 looks the user and group up in /etc/passwd and
 * /etc/group, not through NSS, so those files are read (with the `read` builtin).
 */
const ETCD_USER_CHECK_SECTION = `  # --- etcd user: what exists, which nologin shell ---
  local has_user=0 has_group=0 name rest nologin=''
  while IFS=: read -r name rest; do
    if [ "$name" = etcd ]; then has_user=1; break; fi
  done </etc/passwd
  while IFS=: read -r name rest; do
    if [ "$name" = etcd ]; then has_group=1; break; fi
  done </etc/group
  if [ "$has_user" -eq 0 ]; then
    for path in /sbin/nologin /usr/sbin/nologin; do
      if [ -x "$path" ]; then nologin=$path; break; fi
    done
    if [ -z "$nologin" ]; then
      echo "hardened-rke2: error: neither /sbin/nologin nor /usr/sbin/nologin exists for the etcd user's shell" >&2
      exit 6
    fi
    if ! command -v useradd >/dev/null 2>&1; then
      echo "hardened-rke2: error: useradd not found (install the passwd/shadow-utils package)" >&2
      exit 6
    fi
  fi`;

/**
 * etcd user, change: the guide's `useradd -r -c "etcd user" -s /sbin/nologin -M etcd -U`, made
 * idempotent. An existing user and group are left alone; a group without the user is reused
 * (`-g etcd`, since `-U` would fail on it); a user without the group gets a system group.
 */
const ETCD_USER_APPLY_SECTION = `  # --- etcd user and group ---
  if [ "$has_user" -eq 1 ] && [ "$has_group" -eq 1 ]; then
    echo "etcd user: unchanged"
  elif [ "$has_user" -eq 1 ]; then
    groupadd -r etcd
    echo "etcd user: unchanged, etcd group: created"
  else
    local group_option=(-U) note=''
    if [ "$has_group" -eq 1 ]; then group_option=(-g etcd) note=' (existing etcd group reused)'; fi
    local status=0
    useradd -r -c "etcd user" -s "$nologin" -M "\${group_option[@]}" etcd || status=$?
    if [ "$status" -eq 9 ]; then
      # useradd also looks through NSS: the name is taken by a directory service (LDAP, SSSD).
      echo "hardened-rke2: error: user or group etcd exists in a directory service but not in /etc/passwd and /etc/group, where RKE2 looks for them" >&2
      exit 6
    elif [ "$status" -ne 0 ]; then
      echo "hardened-rke2: error: useradd failed (exit status $status)" >&2
      exit 6
    fi
    echo "etcd user: created$note"
  fi`;

/**
 * Audit policy. A missing /etc/rancher/rke2 is created with mode 0700, as current RKE2 creates it
 * (it holds RKE2's config and admin kubeconfig, for root only); an existing one is left as it is.
 */
const AUDIT_POLICY_SECTION = `  # --- audit policy (from standard input): before RKE2 starts, so that RKE2 uses it as is ---
  if [ ! -d /etc/rancher/rke2 ]; then
    [ -d /etc/rancher ] || mkdir -m 0755 /etc/rancher
    mkdir -m 0700 /etc/rancher/rke2
  fi
  write_file "$audit_policy_path" 0600 "$audit_policy"`;

/**
 * Reads the audit policy from standard input, at the top level because \`main\` runs with its
 * standard input detached. \`cat\` reads in bulk (bash's \`read\` takes one byte per system call on a
 * pipe), and the trailing \`.\` keeps the policy's final newline, which \`$(...)\` would strip.
 */
const AUDIT_POLICY_INPUT = `# The audit policy arrives on standard input (remote.Command stdin), not in this script.
audit_policy=$(
  cat
  echo .
)
audit_policy=\${audit_policy%.}`;

/**
 * A policy cut short in transit must not reach RKE2: the renderer's YAML always ends with a
 * newline and names its kind, so anything else is refused before any change.
 */
const AUDIT_POLICY_CHECK_SECTION = `  # --- audit policy: arrived whole on standard input ---
  if [ -z "$audit_policy" ] || [ "\${audit_policy: -1}" != $'\\n' ] || [[ "$audit_policy" != *"kind: Policy"* ]]; then
    echo "hardened-rke2: error: no complete audit policy on standard input (expected the YAML of an audit.k8s.io/v1 Policy); nothing was changed" >&2
    exit 2
  fi`;

/** Tools every preparation needs, checked before the first change. */
const TOOLS_CHECK_SECTION = `  local tool
  for tool in sysctl stat chown chmod mv; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "hardened-rke2: error: $tool not found on this node (sysctl is in procps, the rest in coreutils)" >&2
      exit 2
    fi
  done`;

/**
 * The preparation script of one node, run as root by bash reading it from standard input. Steps,
 * each reported in one line of standard output: fresh-install guard; checks (tools, later sysctl
 * files, etcd user prerequisites) before any change; kernel parameters (atomic file, `sysctl -p`,
 * read-back); the etcd user when asked; the audit policy when given. On failure it exits non-zero
 * with a message on standard error naming the file or parameter at fault.
 *
 * Every value from the stack reaches the script as a single-quoted shell word in the variable block
 * at the top; the rest of the text is fixed for a given set of steps.
 */
export function renderHostPrepScript(options: HostPrepScriptOptions): string {
  const steps = [
    "guard",
    "sysctl",
    ...(options.createEtcdUser ? ["etcd-user"] : []),
    ...(options.writeAuditPolicy ? ["audit-policy"] : []),
  ];
  const sysctlName = SYSCTL_CONF_PATH.slice(SYSCTL_CONF_PATH.lastIndexOf("/") + 1);

  const variables = [
    `node_name=${shellQuote(options.nodeName)}`,
    `sysctl_path=${shellQuote(SYSCTL_CONF_PATH)}`,
    `sysctl_name=${shellQuote(sysctlName)}`,
    `sysctl_conf=${shellQuote(renderSysctlConf())}`,
    `param_names=(${KERNEL_PARAMETERS.map((p) => shellQuote(p.name)).join(" ")})`,
    `param_values=(${KERNEL_PARAMETERS.map((p) => shellQuote(String(p.value))).join(" ")})`,
    ...(options.writeAuditPolicy ? [`audit_policy_path=${shellQuote(AUDIT_POLICY_PATH)}`] : []),
  ];

  const body = [
    ROOT_CHECK,
    START_TIME,
    `  printf 'hardened-rke2: preparing node %s\\n' "$node_name"`,
    guardSection(options.allowExistingInstall),
    TOOLS_CHECK_SECTION,
    ...(options.writeAuditPolicy ? [AUDIT_POLICY_CHECK_SECTION] : []),
    SYSCTL_CHECK_SECTION,
    ...(options.createEtcdUser ? [ETCD_USER_CHECK_SECTION] : []),
    sysctlApplySection(),
    ...(options.createEtcdUser ? [ETCD_USER_APPLY_SECTION] : []),
    ...(options.writeAuditPolicy ? [AUDIT_POLICY_SECTION] : []),
    MAIN_DONE,
  ];

  return [
    renderScriptPrologue('hardened-rke2 host preparation (hardening guide, "Setting up hosts").'),
    // Fixed tokens, never stack values: the host test reads which steps to verify from this line.
    `# hardened-rke2:steps ${steps.join(" ")}`,
    "# Values from the stack, each one single-quoted shell word: nothing in them expands.",
    ...variables,
    ...(options.writeAuditPolicy ? [AUDIT_POLICY_INPUT] : []),
    "",
    WRITE_FILE_FUNCTIONS,
    "",
    "main() {",
    ...body,
    "}",
    RUN_MAIN,
    "",
  ].join("\n");
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

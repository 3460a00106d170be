#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2016 # values: assigned in the generated block at "# @values", single-quoted literals
# hardened-rke2 host preparation (hardening guide, "Setting up hosts"): kernel parameters, the etcd
# user and group, the API server's audit policy. Runs as root through renderRemoteCommand
# (components/host/render.ts); every step prints one line saying what it changed or found correct.
#
# Safe to run again, and safe on a node where RKE2 already runs: there it changes nothing unless
# the stack allows it, and says which changes it would make. Exit codes: 1 not root, 2 a tool or the
# policy on standard input missing, 3 RKE2 present and something would change, 4 a later sysctl file
# undoes a value, 5 the kernel does not keep a value, 6 the etcd user cannot be created.
# @include components/host/head.sh

# @values

# The audit policy arrives on standard input (remote.Command stdin), not in this script, so that a
# policy change never changes the script. Read at the top level because main runs with standard
# input detached; cat reads in bulk, and the trailing "." keeps the final newline $(...) would strip.
audit_policy=''
if [ -n "$write_audit_policy" ]; then
  audit_policy=$(
    cat
    echo .
  )
  audit_policy=${audit_policy%.}
fi

# @include components/host/lib.sh

# @include components/host/sysctl-order.sh

# rke2_evidence: fills found[] with what shows that RKE2 is installed or running: its binary where
# the installer (tarball, RPM) and Rancher's system agent put it, its data directories, its systemd
# units, an active unit, or a running rke2 process. All but systemctl are shell builtins.
rke2_evidence() {
  local path unit comm_file comm
  for path in /usr/local/bin/rke2 /usr/bin/rke2 /opt/rke2/bin/rke2 \
    /var/lib/rancher/rke2/server /var/lib/rancher/rke2/agent \
    /etc/systemd/system/rke2-server.service /etc/systemd/system/rke2-agent.service \
    /usr/local/lib/systemd/system/rke2-server.service /usr/local/lib/systemd/system/rke2-agent.service \
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
      comm_file=${comm_file#/proc/}
      found+=("rke2 process ${comm_file%/comm}")
      break
    fi
  done
}

# remember_later_setting FILE INDEX VALUE (each_sysctl_setting's callback): the last value a file
# applied after ours sets for a parameter; ours (and the same name elsewhere, which ours hides) is
# the one being written, so it does not count.
remember_later_setting() {
  [ "${1##*/}" != "$sysctl_name" ] || return 0
  last_file[$2]=$1
  last_value[$2]=$3
}

# check_later_sysctl_files: exits 4 naming each file applied after ours at boot that would undo one
# of our values (see sysctl-order.sh for the order).
check_later_sysctl_files() {
  local last_value=() last_file=() i conflicts=0
  each_sysctl_setting '' "$sysctl_name" remember_later_setting
  for ((i = 0; i < ${#param_names[@]}; i++)); do
    if [ -n "${last_file[i]:-}" ] && [ "${last_value[i]}" != "${param_values[i]}" ]; then
      printf 'hardened-rke2: error: %s sets %s=%s and is applied after %s at boot, so RKE2 would refuse to start after a reboot (it requires %s=%s); remove or change that setting\n' \
        "${last_file[i]}" "${param_names[i]}" "${last_value[i]}" "$sysctl_path" "${param_names[i]}" "${param_values[i]}" >&2
      conflicts=1
    fi
  done
  if [ "$conflicts" -ne 0 ]; then exit 4; fi
}

# read_etcd_account: has_user, has_group from /etc/passwd and /etc/group (RKE2 reads those files,
# not NSS), and the nologin shell a new user would get; exits 6 when the user cannot be created.
read_etcd_account() {
  local name rest path
  while IFS=: read -r name rest; do
    if [ "$name" = etcd ]; then has_user=1 && break; fi
  done </etc/passwd
  while IFS=: read -r name rest; do
    if [ "$name" = etcd ]; then has_group=1 && break; fi
  done </etc/group
  if [ "$has_user" -eq 0 ]; then
    for path in /sbin/nologin /usr/sbin/nologin; do
      if [ -x "$path" ]; then nologin=$path && break; fi
    done
    if [ -z "$nologin" ]; then
      echo "hardened-rke2: error: neither /sbin/nologin nor /usr/sbin/nologin exists for the etcd user's shell" >&2
      exit 6
    fi
    if ! command -v useradd >/dev/null 2>&1; then
      echo "hardened-rke2: error: useradd not found (install the passwd/shadow-utils package)" >&2
      exit 6
    fi
  fi
}

# pending_changes: fills pending[] with what the steps below would change on this node.
pending_changes() {
  local i actual
  if ! content_matches "$sysctl_path" "$sysctl_conf" || ! owned_with_mode "$sysctl_path" 0644; then
    pending+=("write $sysctl_path")
  fi
  for ((i = 0; i < ${#param_names[@]}; i++)); do
    actual=unreadable
    { read -r actual <"/proc/sys/${param_names[i]//.//}"; } 2>/dev/null || true
    if [ "$actual" != "${param_values[i]}" ]; then pending+=("set ${param_names[i]}=${param_values[i]} (now $actual)"); fi
  done
  if [ -n "$create_etcd_user" ] && { [ "$has_user" -eq 0 ] || [ "$has_group" -eq 0 ]; }; then
    pending+=("create the etcd user and group")
  fi
  if [ -n "$write_audit_policy" ] && [ ! -e "$audit_policy_path" ]; then pending+=("write $audit_policy_path"); fi
  return 0
}

apply_kernel_parameters() {
  local i key actual sysctl_failed=0 mismatches=0
  write_file "$sysctl_path" 0644 "$sysctl_conf"
  if ! sysctl -q -p "$sysctl_path" >/dev/null; then sysctl_failed=1; fi
  for ((i = 0; i < ${#param_names[@]}; i++)); do
    key=${param_names[i]}
    actual=unreadable
    { read -r actual <"/proc/sys/${key//.//}"; } 2>/dev/null || true
    if [ "$actual" != "${param_values[i]}" ]; then
      printf 'hardened-rke2: error: kernel parameter %s: expected %s, the kernel reports %s\n' "$key" "${param_values[i]}" "$actual" >&2
      mismatches=1
    fi
  done
  if [ "$mismatches" -ne 0 ]; then exit 5; fi
  if [ "$sysctl_failed" -ne 0 ]; then
    echo "hardened-rke2: error: sysctl -p $sysctl_path failed" >&2
    exit 5
  fi
  echo "kernel parameters: ${param_summary} (read back from /proc/sys)"
}

# The guide's useradd -r -c "etcd user" -s /sbin/nologin -M etcd -U, made idempotent: an existing
# user and group are left alone; a group without the user is reused (-g etcd, since -U would fail
# on it); a user without the group gets a system group.
apply_etcd_user() {
  if [ "$has_user" -eq 1 ] && [ "$has_group" -eq 1 ]; then
    echo "etcd user: unchanged"
  elif [ "$has_user" -eq 1 ]; then
    groupadd -r etcd
    echo "etcd user: unchanged, etcd group: created"
  else
    local group_option=(-U) note='' status=0
    if [ "$has_group" -eq 1 ]; then group_option=(-g etcd) note=' (existing etcd group reused)'; fi
    useradd -r -c "etcd user" -s "$nologin" -M "${group_option[@]}" etcd || status=$?
    if [ "$status" -eq 9 ]; then
      # useradd also looks through NSS: the name is taken by a directory service (LDAP, SSSD).
      echo "hardened-rke2: error: user or group etcd exists in a directory service but not in /etc/passwd and /etc/group, where RKE2 looks for them" >&2
      exit 6
    elif [ "$status" -ne 0 ]; then
      echo "hardened-rke2: error: useradd failed (exit status $status)" >&2
      exit 6
    fi
    echo "etcd user: created$note"
  fi
}

# The policy is written before RKE2 starts, so that RKE2 uses it as is. Once RKE2 is on the node the
# file belongs to the audit policy roll-out, which restarts the API server and keeps the previous
# policy: host preparation then writes it only when it is missing, so a re-run (a new release of
# this program, allowExistingInstall) never puts an older policy over the one the roll-out installed.
apply_audit_policy() {
  if [ "${#found[@]}" -gt 0 ] && [ -e "$audit_policy_path" ]; then
    echo "audit-policy.yaml: present, left to the audit policy roll-out (RKE2 is installed)"
    return 0
  fi
  ensure_rke2_config_dir
  write_file "$audit_policy_path" 0600 "$audit_policy"
}

main() {
  if [ "$EUID" -ne 0 ]; then
    echo "hardened-rke2: error: this script must run as root" >&2
    exit 1
  fi
  local started=${EPOCHREALTIME:-} tool found=() found_list='' item pending=() pending_list=''
  local has_user=0 has_group=0 nologin=''
  printf 'hardened-rke2: preparing node %s\n' "$node_name"

  # Checks first: a node that cannot be prepared, or must not be, is left as it was.
  rke2_evidence
  for tool in sysctl stat chown chmod mv; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "hardened-rke2: error: $tool not found on this node (sysctl is in procps, the rest in coreutils)" >&2
      exit 2
    fi
  done
  if [ -n "$write_audit_policy" ]; then
    if [ -z "$audit_policy" ] || [ "${audit_policy: -1}" != $'\n' ] || [[ "$audit_policy" != *"kind: Policy"* ]]; then
      echo "hardened-rke2: error: no complete audit policy on standard input (expected the YAML of an audit.k8s.io/v1 Policy); nothing was changed" >&2
      exit 2
    fi
  fi
  check_later_sysctl_files
  if [ -n "$create_etcd_user" ]; then read_etcd_account; fi

  # The fresh-install guard: the hardening guide prepares hosts before RKE2 is deployed.
  if [ "${#found[@]}" -eq 0 ]; then
    echo "fresh-install guard: no RKE2 installation found"
  else
    for item in "${found[@]}"; do found_list+=${found_list:+, }$item; done
    pending_changes
    for item in ${pending[@]+"${pending[@]}"}; do pending_list+=${pending_list:+; }$item; done
    if [ -z "$pending_list" ]; then
      echo "fresh-install guard: RKE2 found ($found_list); this node already has everything host preparation sets, nothing to change"
    elif [ -n "$allow_existing_install" ]; then
      echo "fresh-install guard: RKE2 found ($found_list), continuing because $allow_option is true; changes: $pending_list"
    else
      printf 'hardened-rke2: error: RKE2 is already installed or running on node %s: %s.\n' "$node_name" "$found_list" >&2
      printf 'Host preparation would change: %s. Nothing was changed.\n' "$pending_list" >&2
      echo "The hardening guide prepares hosts only on fresh installations, before RKE2 is deployed." >&2
      echo "To make these changes on a running node anyway, set the stack option $allow_option to true." >&2
      exit 3
    fi
  fi

  apply_kernel_parameters
  if [ -n "$create_etcd_user" ]; then apply_etcd_user; fi
  if [ -n "$write_audit_policy" ]; then apply_audit_policy; fi
  echo "host preparation: done$(elapsed_since "$started")"
}

main "$@" </dev/null

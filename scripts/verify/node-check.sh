#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2154 # values are single-quoted literals, assigned by the "# @values" block
# hardened-rke2 verify: reads, and never changes, what the hardening guide's host preparation left on
# a node. It prints facts, one a line (`NAME FIELD...`); scripts/verify/evaluate.ts compares them
# with the stack. Runs as root (the audit policy is readable by root only), in one SSH session.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# C locale: byte-wise order of sysctl.d file names, as systemd-sysctl and procps apply them.
export LC_ALL=C

# @values

# fact NAME VALUE...: one line of output; a value never holds a newline (each is one field or the rest of the line).
fact() {
  local IFS=' '
  printf '%s\n' "$*"
}

# file_state PATH: "missing", "symlink", "regular MODE UID GID MTIME SHA256", "directory MODE UID GID"
# or "other MODE UID GID".
file_state() {
  if [ -L "$1" ]; then
    echo symlink
  elif [ ! -e "$1" ]; then
    echo missing
  elif [ -f "$1" ]; then
    local sum
    sum=$(sha256sum <"$1")
    echo "regular $(stat -c '%a %u %g %Y' -- "$1") ${sum%% *}"
  elif [ -d "$1" ]; then
    echo "directory $(stat -c '%a %u %g' -- "$1")"
  else
    echo "other $(stat -c '%a %u %g' -- "$1")"
  fi
}

kernel_values() {
  local i key value
  for ((i = 0; i < ${#param_names[@]}; i++)); do
    key=${param_names[i]}
    value=unreadable
    { read -r value <"$root/proc/sys/${key//.//}"; } 2>/dev/null || true
    fact kernel "$key" "$value"
  done
}

# @include components/host/sysctl-order.sh

# @include components/host/apiserver-processes.sh

# Every setting of one of the parameters in our file and in the files applied after it at boot, in
# the order systemd-sysctl and procps apply them.
sysctl_setting_fact() {
  fact sysctl_setting "${1#"$root"}" "${param_names[$2]}" "$3"
}

sysctl_settings() {
  each_sysctl_setting "$root" "$sysctl_name" sysctl_setting_fact
}

# The etcd user and group as RKE2 looks them up: in /etc/passwd and /etc/group, not through NSS.
etcd_identity() {
  local line found_user=absent found_group=absent max=999 name value
  while IFS= read -r line; do
    if [ "${line%%:*}" = etcd ]; then found_user=$line; fi
  done <"$root/etc/passwd"
  while IFS= read -r line; do
    if [ "${line%%:*}" = etcd ]; then found_group=$line; fi
  done <"$root/etc/group"
  if [ -f "$root/etc/login.defs" ]; then
    while read -r name value _; do
      if [ "$name" = SYS_UID_MAX ]; then max=$value; fi
    done <"$root/etc/login.defs"
  fi
  fact etcd_user "$found_user"
  fact etcd_group "$found_group"
  fact sys_uid_max "$max"
}

# Whether RKE2 is on this node: its binary where the installers put it, or its data directories.
rke2_presence() {
  local path evidence=''
  for path in /usr/local/bin/rke2 /usr/bin/rke2 /opt/rke2/bin/rke2 /var/lib/rancher/rke2/server /var/lib/rancher/rke2/agent; do
    if [ -e "$root$path" ]; then
      evidence=$path
      break
    fi
  done
  if [ -n "$evidence" ]; then fact rke2 installed "$evidence"; else fact rke2 absent; fi
}

# The running kube-apiserver: its start time (boot time plus the start tick of /proc/PID/stat) and
# the audit policy file it was started with.
apiserver() {
  local btime='' name value policy='' arg clk_tck pid ticks
  kube_apiserver_processes "$root/proc"
  if [ "${#kube_apiserver_pid[@]}" -eq 0 ]; then
    fact apiserver none
    return 0
  fi
  pid=${kube_apiserver_pid[0]}
  ticks=${kube_apiserver_start[0]}
  while read -r name value _; do
    if [ "$name" = btime ]; then btime=$value; fi
  done <"$root/proc/stat"
  while IFS= read -r -d '' arg; do
    case $arg in --audit-policy-file=*) policy=${arg#--audit-policy-file=} ;; esac
  done <"$root/proc/$pid/cmdline"
  clk_tck=$(getconf CLK_TCK 2>/dev/null) || clk_tck=100
  if [ -z "$ticks" ] || [ -z "$btime" ]; then
    fact apiserver "$pid" unknown "${policy:--}"
  else
    fact apiserver "$pid" $((btime + ticks / clk_tck)) "${policy:--}"
  fi
}

main() {
  if [ "$EUID" -ne 0 ] && [ -z "$root" ]; then
    echo "hardened-rke2: error: the node check must run as root (it reads the audit policy)" >&2
    exit 2
  fi
  fact node "$node_name"
  kernel_values
  fact sysctl_file "$(file_state "$root$sysctl_path")"
  sysctl_settings
  etcd_identity
  rke2_presence
  fact etcd_data_dir "$(file_state "$root$etcd_data_dir")"
  fact audit_policy "$(file_state "$root$audit_policy_path")"
  apiserver
  fact end
}
main "$@" </dev/null

#!/usr/bin/env bash
# Runs as root on a host-test guest (bash -s) and prints what host preparation should have set, one
# KEY=VALUE per line, for run.sh to compare. Test tooling only: it never runs outside a guest.
set -uo pipefail

state() { stat -c '%F %a %U %G' -- "$1" 2>/dev/null || echo missing; }

printf 'kernel=%s %s %s %s\n' "$(cat /proc/sys/vm/panic_on_oom)" "$(cat /proc/sys/vm/overcommit_memory)" \
  "$(cat /proc/sys/kernel/panic)" "$(cat /proc/sys/kernel/panic_on_oops)"
printf 'sysctl_state=%s\n' "$(state /etc/sysctl.d/90-kubelet.conf)"
printf 'sysctl_settings=%s\n' "$(grep -v '^#' /etc/sysctl.d/90-kubelet.conf 2>/dev/null | tr '\n' ' ')"
printf 'passwd_line=%s\n' "$(grep '^etcd:' /etc/passwd)"
printf 'group_line=%s\n' "$(grep '^etcd:' /etc/group)"
printf 'getent_passwd=%s\n' "$(getent passwd etcd)"
printf 'getent_group=%s\n' "$(getent group etcd)"
printf 'etcd_home=%s\n' "$(home=$(getent passwd etcd | cut -d: -f6) && [ -n "$home" ] && [ -e "$home" ] && echo exists || echo absent)"
printf 'sys_uid_max=%s\n' "$(awk '$1 == "SYS_UID_MAX" { print $2 }' /etc/login.defs | grep . || echo 999)"
printf 'policy_state=%s\n' "$(state /etc/rancher/rke2/audit-policy.yaml)"
printf 'policy_sha256=%s\n' "$(sha256sum </etc/rancher/rke2/audit-policy.yaml 2>/dev/null | cut -d' ' -f1)"
printf 'rke2_dir_state=%s\n' "$(state /etc/rancher/rke2)"

#!/usr/bin/env bash
# Prints everything host preparation may change, byte for byte (checksums) and as metadata (inode,
# mode, owner, mtime: a rewrite with the same bytes still shows), so run.sh can assert that a run
# changed nothing. Runs as root on a host-test guest (bash -s), and on the CI machine itself before
# and after the whole test, where it must never see a difference.
set -uo pipefail

files=(/etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/sysctl.d/90-kubelet.conf /etc/rancher/rke2/audit-policy.yaml)
for key in vm/panic_on_oom vm/overcommit_memory kernel/panic kernel/panic_on_oops; do
  printf '%s=%s\n' "$key" "$(cat "/proc/sys/$key")"
done
for file in "${files[@]}"; do
  if [ -e "$file" ]; then
    printf '%s %s\n' "$(sha256sum <"$file" | cut -d' ' -f1)" "$(stat -c '%n inode=%i mode=%a owner=%U:%G mtime=%Y' -- "$file")"
  else
    printf '%s absent\n' "$file"
  fi
done
for dir in /etc/sysctl.d /etc/rancher /etc/rancher/rke2; do
  printf '%s: %s\n' "$dir" "$(find "$dir" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null | tr ' ' '\n' | sort | tr '\n' ' ')"
done

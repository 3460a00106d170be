#!/usr/bin/env bash
# Removes RKE2 and Rancher's system agent from this node with their own uninstall scripts, for
# `pulumi destroy` when the stack sets cluster.uninstallNodesOnDestroy. Rendered by
# components/cluster/registration.ts (values where the "@values" line is); runs as root.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
umask 077

# Generated below: node_name, root ('' on a node; a temporary directory in tests).
# @values

main() {
  local script ran=0
  if [ "$EUID" -ne 0 ]; then
    echo "hardened-rke2: error: this script must run as root" >&2
    exit 1
  fi
  for script in \
    "$root/usr/local/bin/rancher-system-agent-uninstall.sh" \
    "$root/opt/rancher-system-agent/bin/rancher-system-agent-uninstall.sh" \
    "$root/usr/local/bin/rke2-uninstall.sh" \
    "$root/opt/rke2/bin/rke2-uninstall.sh"; do
    if [ -x "$script" ]; then
      echo "uninstall: running $script on $node_name"
      "$script"
      ran=$((ran + 1))
    fi
  done
  rm -f -- "$root/etc/rancher/hardened-rke2/registered-cluster" "$root/etc/rancher/hardened-rke2/registering-cluster"
  echo "uninstall: $node_name no longer runs RKE2 or the Rancher system agent ($ran uninstall script(s) run)"
}

main "$@" </dev/null

#!/bin/sh
# CIS reconciler of hardened-rke2, rendered by components/hardening/manifests.ts (values where the
# "@values" line is) and run by a CronJob in the cluster (rancher/shell: POSIX sh and kubectl only).
# Keeps CIS 5.1.5 (no token automount on default ServiceAccounts) and, where a selector asks for it,
# 5.3.2 (same-namespace network policy) true in namespaces created after `pulumi up`. Prints one line
# per change and nothing otherwise; errors go to stderr, the run carries on with the next namespace
# and exits 1 at the end, so the Job shows as failed.
set -eu

# Generated below: exclude (namespaces whose default ServiceAccount is left alone, space-separated and
# space-padded), selector (label selector of the namespaces that get the policy; '' selects none),
# policy_name, policy (the NetworkPolicy as JSON, without its namespace).
# @values

failures=0

fail() {
  echo "hardened-rke2: error: $*" >&2
  failures=$((failures + 1))
}

ensure_default_sa() {
  ns=$1
  if ! state=$(kubectl get serviceaccount default --namespace "$ns" --ignore-not-found \
    --output 'jsonpath={.metadata.name}:{.automountServiceAccountToken}'); then
    fail "namespace $ns: cannot read ServiceAccount default"
    return 0
  fi
  case "$state" in
    '' | default:false) return 0 ;;
  esac
  was=${state#default:}
  if kubectl patch serviceaccount default --namespace "$ns" --type merge \
    --patch '{"automountServiceAccountToken":false}' >/dev/null; then
    echo "serviceaccount $ns/default: automountServiceAccountToken ${was:-unset} -> false"
  else
    fail "namespace $ns: cannot patch ServiceAccount default"
  fi
}

ensure_policy() {
  ns=$1
  if ! found=$(kubectl get networkpolicy "$policy_name" --namespace "$ns" --ignore-not-found --output name); then
    fail "namespace $ns: cannot read NetworkPolicy $policy_name"
    return 0
  fi
  if [ -n "$found" ]; then
    return 0
  fi
  if printf '%s\n' "$policy" | kubectl create --namespace "$ns" --filename - >/dev/null; then
    echo "networkpolicy $ns/$policy_name: created"
  else
    fail "namespace $ns: cannot create NetworkPolicy $policy_name"
  fi
}

if ! namespaces=$(kubectl get namespaces --field-selector status.phase=Active \
  --output 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}'); then
  echo 'hardened-rke2: error: cannot list namespaces' >&2
  exit 1
fi
while IFS= read -r ns; do
  [ -n "$ns" ] || continue
  case "$exclude" in
    *" $ns "*) continue ;;
  esac
  ensure_default_sa "$ns"
done <<NAMESPACES
$namespaces
NAMESPACES

# An empty selector selects nothing: no policy is read or created (and the role has no rule for them).
if [ -n "$selector" ]; then
  if ! selected=$(kubectl get namespaces --field-selector status.phase=Active --selector "$selector" \
    --output 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}'); then
    echo "hardened-rke2: error: cannot list namespaces matching $selector" >&2
    exit 1
  fi
  while IFS= read -r ns; do
    [ -n "$ns" ] || continue
    ensure_policy "$ns"
  done <<SELECTED
$selected
SELECTED
fi

if [ "$failures" -gt 0 ]; then
  echo "hardened-rke2: error: $failures operation(s) failed" >&2
  exit 1
fi

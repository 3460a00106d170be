#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2016 # values: assigned in the generated block at "# @values", single-quoted literals
# hardened-rke2 audit policy roll-out on one RKE2 control-plane node (CIS 1.2.22-1.2.25). Runs as
# root through renderRemoteCommand (components/host/render.ts), one control-plane node at a time:
# the next node's step starts only when this one succeeded.
#
# Safe to retry and safe to fail:
# - an identical policy is reported fine only when this node's kube-apiserver runs, started after
#   the policy was written, and answers /readyz; otherwise rke2-server is restarted and waited for;
# - before anything changes, the cluster must be healthy: this node's /readyz (which includes its
#   etcd) and every control-plane node's kube-apiserver pod Ready;
# - the previous policy is kept; when the restart or the wait fails it is restored, rke2-server is
#   restarted again, and the step fails naming both outcomes;
# - the wait accepts only a kube-apiserver process that started after the new policy was written
#   (RKE2 replaces its static pod asynchronously: right after `systemctl restart rke2-server` the old
#   apiserver may still answer /readyz).
# Exit codes: 1 not root, 7 not an RKE2 server (nothing changed), 8 the new policy failed (previous
# restored and running), 9 the cluster is not healthy (nothing changed), 10 restoring failed too.
# @include components/host/head.sh

# @values

# @include components/host/lib.sh

# @include components/host/apiserver-processes.sh

# now_ticks: clock ticks since boot from /proc/uptime (centiseconds), the clock of /proc/PID/stat.
now_ticks() {
  local up
  read -r up _ <"$proc_root/uptime"
  echo $((${up/./} * clk_tck / 100))
}

# boot_id: this boot's id; a mark from another boot means any process now running started after it.
boot_id() {
  local id
  read -r id <"$proc_root/sys/kernel/random/boot_id"
  echo "$id"
}

# mark_written: records when the policy file was written (boot id and ticks since boot).
mark_written() {
  write_file "$written_mark" 0600 "$(boot_id) $(now_ticks)"$'\n' >/dev/null
}

# apiserver_state: sets apiserver_pids (every kube-apiserver process) and apiserver_fresh=1 when at
# least one runs and none of them started before the policy was written.
apiserver_state() {
  local i mark_boot='' mark_ticks=0 stale=0
  apiserver_pids=''
  apiserver_fresh=0
  if [ -r "$written_mark" ]; then read -r mark_boot mark_ticks <"$written_mark" || true; fi
  if [ -n "$mark_boot" ] && [ "$mark_boot" != "$(boot_id)" ]; then mark_ticks=0; fi
  kube_apiserver_processes "$proc_root"
  for ((i = 0; i < ${#kube_apiserver_pid[@]}; i++)); do
    apiserver_pids+=${apiserver_pids:+ }${kube_apiserver_pid[i]}
    if [ "${kube_apiserver_start[i]}" -le "$mark_ticks" ]; then stale=1; fi
  done
  if [ "${#kube_apiserver_pid[@]}" -gt 0 ] && [ "$stale" -eq 0 ]; then apiserver_fresh=1; fi
  return 0
}

# file_content PATH: sets content to the file's bytes, its final newline kept (by the "." trick).
file_content() {
  content=$(
    cat -- "$1"
    echo .
  )
  content=${content%.}
}

readyz() {
  answer=$("$kubectl" --kubeconfig "$kubeconfig" --request-timeout=10s get --raw /readyz 2>&1) || return 1
}

# wait_ready DEADLINE: until a kube-apiserver started after the policy was written answers /readyz.
wait_ready() {
  while :; do
    apiserver_state
    if [ "$apiserver_fresh" -eq 1 ] && readyz; then return 0; fi
    if [ "$apiserver_fresh" -eq 0 ]; then
      answer="no kube-apiserver started after the policy was written (running: ${apiserver_pids:-none})"
    fi
    if [ "$SECONDS" -ge "$1" ]; then return 1; fi
    sleep "$poll_seconds"
  done
}

# restart_and_wait: bounded restart of rke2-server (RKE2's unit has no start timeout) and wait.
restart_and_wait() {
  local deadline=$((SECONDS + timeout))
  if ! timeout "$timeout" systemctl restart rke2-server.service; then
    answer="systemctl restart rke2-server.service failed or took longer than $timeout s"
    return 1
  fi
  echo "rke2-server: restarted, waiting for a kube-apiserver started after the policy was written to answer /readyz (at most $timeout s)"
  wait_ready "$deadline"
}

# cluster_healthy: this node's /readyz (its etcd included) and every kube-apiserver pod Ready.
cluster_healthy() {
  local pods line unready=''
  if ! readyz; then
    problem="this node's API server does not answer /readyz ($answer)"
    return 1
  fi
  if ! pods=$("$kubectl" --kubeconfig "$kubeconfig" --request-timeout=10s -n kube-system get pods \
    -l component=kube-apiserver -o "jsonpath={range .items[*]}{.spec.nodeName}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}" 2>&1); then
    problem="cannot list the kube-apiserver pods ($pods)"
    return 1
  fi
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    [ "${line#*=}" = True ] || unready+=${unready:+, }${line%%=*}
  done <<<"$pods"
  if [ -n "$unready" ]; then
    problem="kube-apiserver not Ready on: $unready"
    return 1
  fi
  if [ -z "$pods" ]; then
    problem="no kube-apiserver pod found in kube-system"
    return 1
  fi
}

main() {
  if [ "$EUID" -ne 0 ]; then
    echo "hardened-rke2: error: this script must run as root" >&2
    exit 1
  fi
  local started=${EPOCHREALTIME:-} content='' answer='' problem='' apiserver_pids='' apiserver_fresh=0 first_failure
  if [ ! -x "$kubectl" ] || [ ! -r "$kubeconfig" ]; then
    echo "hardened-rke2: error: $kubectl or $kubeconfig missing: $node_name is not an RKE2 control-plane node, or RKE2 is not installed yet; nothing was changed" >&2
    exit 7
  fi

  if content_matches "$audit_policy_path" "$audit_policy"; then
    if ! owned_with_mode "$audit_policy_path" 0600; then
      chown root:root -- "$audit_policy_path"
      chmod 0600 -- "$audit_policy_path"
      echo "audit-policy.yaml: owner and mode fixed"
    fi
    apiserver_state
    if [ "$apiserver_fresh" -eq 1 ] && readyz; then
      echo "audit-policy.yaml: unchanged; kube-apiserver (pid $apiserver_pids) started after it was written and is ready, rke2-server not restarted"
      return 0
    fi
    # Written by an earlier run whose restart or wait failed: that run is not done yet. A stale API
    # server that still serves is restarted only while the rest of the cluster is healthy.
    if [ -n "$apiserver_pids" ] && readyz && ! cluster_healthy; then
      printf 'hardened-rke2: error: the cluster is not healthy: %s; rke2-server on %s was not restarted\n' "$problem" "$node_name" >&2
      exit 9
    fi
    echo "audit-policy.yaml: unchanged, but no kube-apiserver started after it was written is ready: finishing the roll-out on $node_name"
  else
    if ! cluster_healthy; then
      printf 'hardened-rke2: error: the cluster is not healthy: %s; the audit policy of %s was not changed\n' "$problem" "$node_name" >&2
      exit 9
    fi
    ensure_rke2_config_dir
    if [ -f "$audit_policy_path" ]; then
      file_content "$audit_policy_path"
      replace_file "$previous_path" 0600 "$content"
    else
      rm -f -- "$previous_path"
    fi
    replace_file "$audit_policy_path" 0600 "$audit_policy"
    mark_written
    echo "audit-policy.yaml: written (previous kept as ${previous_path##*/})"
  fi

  if restart_and_wait; then
    echo "kube-apiserver: ready ($answer)$(elapsed_since "$started")"
    return 0
  fi
  first_failure=$answer
  if [ ! -f "$previous_path" ]; then
    printf 'hardened-rke2: error: the new audit policy did not come up on %s: %s; there is no previous policy to restore\n' "$node_name" "$first_failure" >&2
    exit 10
  fi
  file_content "$previous_path"
  replace_file "$audit_policy_path" 0600 "$content"
  mark_written
  if restart_and_wait; then
    printf 'hardened-rke2: error: the new audit policy did not come up on %s: %s; the previous policy was restored and its kube-apiserver is ready again. Fix the policy, then run pulumi up again.\n' "$node_name" "$first_failure" >&2
    exit 8
  fi
  printf 'hardened-rke2: error: the new audit policy did not come up on %s: %s; the previous policy was restored, but it did not come up either: %s\n' "$node_name" "$first_failure" "$answer" >&2
  exit 10
}

main "$@" </dev/null

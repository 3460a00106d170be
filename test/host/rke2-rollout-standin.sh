#!/usr/bin/env bash
# Installs, on a systemd guest (run there as root: `bash -s -- NODE_NAME < this file`), a stand-in for
# RKE2 that behaves like it where the audit-policy roll-out (components/host/audit-rollout.sh) depends
# on it. Everything it does is logged, with the guest's EPOCHREALTIME (UML reads the host's clock), to
# /run/standin/events, which test/host/rollout.sh reads back.
#
# What is real and what is faked:
# - rke2-server.service is a real systemd unit restarted by the script's `systemctl restart`. Like
#   RKE2's own unit it has KillMode=process, so the API server it started survives a restart.
# - RKE2 writes the kube-apiserver static pod manifest with a hash of the files its arguments name
#   (the audit policy among them); the kubelet replaces the pod only when that hash changed, and
#   asynchronously. The stand-in compares the policy's sha256 with the one the running API server
#   started with; only when it differs does it, STANDIN_DELAY seconds after the restart returned,
#   stop the old process and start a new one. Until then the old one keeps answering /readyz.
# - The API server is a bash script named kube-apiserver (the kernel names a script's process after
#   its file, which is what the roll-out reads in /proc/PID/comm), started with RKE2's
#   --audit-policy-file argument. It is "starting" for STANDIN_STARTUP seconds, then ready. It uses
#   only builtins, so no child process ever carries its name.
# - A real RKE2 whose API server never comes up makes the roll-out wait its full 600 s; the stand-in
#   fails fast instead, on a marker /etc/standin/only-hash (the one policy hash it accepts): for any
#   other policy its static pod replacement kills the old API server, the new one never starts, and
#   rke2-server exits 1. The script's path is the same
#   (restart or wait failed: restore the previous policy, restart again).
# - kubectl at RKE2's path answers the two questions the roll-out asks: `get --raw /readyz` from this
#   node's API server (ok only while the current process runs and has finished starting), and the
#   kube-apiserver pods' Ready condition: this node's from its own API server, the other nodes' from
#   /run/standin/peers, which the test writes from the host before each step (the guests cannot
#   reach each other).
set -euo pipefail
node_name=${1:?usage: rke2-rollout-standin.sh NODE_NAME}
lib=/usr/local/lib/standin

mkdir -p "$lib" /etc/standin /run/standin /var/lib/rancher/rke2/bin /etc/rancher/rke2
chmod 0700 /etc/rancher/rke2
: >/run/standin/events
echo "$node_name" >/etc/standin/node-name
: >/run/standin/peers
cat >/etc/standin/env <<'EOF'
STANDIN_DELAY=4
STANDIN_STARTUP=3
EOF
# The admin kubeconfig RKE2 writes (only its presence is checked by the roll-out; kubectl ignores it).
cat >/etc/rancher/rke2/rke2.yaml <<'EOF'
apiVersion: v1
kind: Config
clusters:
  - cluster:
      server: https://127.0.0.1:6443
    name: default
contexts:
  - context:
      cluster: default
      user: default
    name: default
current-context: default
users:
  - name: default
EOF
chmod 0600 /etc/rancher/rke2/rke2.yaml

cat >"$lib/kube-apiserver" <<'EOF'
#!/bin/bash
# The stand-in API server: starting, then ready, then idle; builtins only (see the installer).
log() { printf '%s %s\n' "$EPOCHREALTIME" "$*" >>/run/standin/events; }
source /etc/standin/env
log "apiserver-start $$ $STANDIN_HASH $*"
# A FIFO opened read-write never reaches its end: read -t is a sleep without a child process.
exec 3<>"$STANDIN_FIFO"
read -r -t "$STANDIN_STARTUP" -u 3 _ || true
printf '%s\n' "$$" >/run/standin/ready.tmp.$$
mv -f /run/standin/ready.tmp.$$ /run/standin/ready 2>/dev/null || exit 1
log "apiserver-ready $$"
while :; do read -r -t 3600 -u 3 _ || true; done
EOF

cat >"$lib/rke2" <<'EOF'
#!/bin/bash
# The stand-in `rke2 server` (ExecStart of rke2-server.service).
set -u
log() { printf '%s %s\n' "$EPOCHREALTIME" "$*" >>/run/standin/events; }
source /etc/standin/env
policy=/etc/rancher/rke2/audit-policy.yaml
hash=none
if [ -f "$policy" ]; then hash=$(sha256sum "$policy" | cut -c1-16); fi
running_pid=$(cat /run/standin/apiserver.pid 2>/dev/null || true)
running_hash=$(cat /run/standin/apiserver.hash 2>/dev/null || true)
alive=no
if [ -n "$running_pid" ] && [ "$(cat "/proc/$running_pid/comm" 2>/dev/null)" = kube-apiserver ]; then alive=yes; fi
log "rke2-start $hash (running: ${running_pid:-none} $running_hash $alive)"
stop_apiserver() {
  if [ -n "$running_pid" ] && [ "$alive" = yes ]; then
    kill "$running_pid" 2>/dev/null || true
    log "apiserver-stop $running_pid"
  fi
  rm -f /run/standin/apiserver.pid /run/standin/ready
}
only=$(cat /etc/standin/only-hash 2>/dev/null || true)
if [ -n "$only" ] && [ "$hash" != "$only" ]; then
  # The new static pod replaced the old API server and never starts; rke2 gives up.
  stop_apiserver
  echo "$hash" >/run/standin/apiserver.hash
  log "rke2-refused $hash"
  exit 1
fi
if [ "$hash" != "$running_hash" ] || [ "$alive" = no ]; then
  # The kubelet replaces the static pod later, asynchronously: the old API server answers meanwhile.
  (
    sleep "$STANDIN_DELAY"
    # What a client asking now gets: the old API server still answers until the kubelet stops it.
    if STANDIN_PROBE=1 /var/lib/rancher/rke2/bin/kubectl --kubeconfig /etc/rancher/rke2/rke2.yaml get --raw /readyz >/dev/null 2>&1; then
      log "probe-before-replacement ok $running_pid"
    else
      log "probe-before-replacement down"
    fi
    stop_apiserver
    echo "$hash" >/run/standin/apiserver.hash
    fifo=/run/standin/idle.$BASHPID
    rm -f "$fifo"
    mkfifo -m 0600 "$fifo"
    STANDIN_HASH=$hash STANDIN_FIFO=$fifo setsid /usr/local/lib/standin/kube-apiserver --audit-policy-file="$policy" \
      </dev/null >/dev/null 2>&1 &
    echo "$!" >/run/standin/apiserver.pid
  ) </dev/null >/dev/null 2>&1 &
  log "rke2-ready replacing"
else
  log "rke2-ready unchanged"
fi
exit 0
EOF

cat >/var/lib/rancher/rke2/bin/kubectl <<'EOF'
#!/bin/bash
# The stand-in kubectl: the two requests the roll-out makes, anything else is an error.
set -u
args=" $* "
ready() {
  local pid ready_pid
  pid=$(cat /run/standin/apiserver.pid 2>/dev/null) || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = kube-apiserver ] || return 1
  ready_pid=$(cat /run/standin/ready 2>/dev/null) || return 1
  [ "$ready_pid" = "$pid" ]
}
case "$args" in
  *" get --raw /readyz "*)
    if ready; then
      if [ -z "${STANDIN_PROBE:-}" ]; then
        printf '%s readyz-ok %s\n' "$EPOCHREALTIME" "$(cat /run/standin/apiserver.pid)" >>/run/standin/events
      fi
      echo ok
      exit 0
    fi
    echo 'The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?' >&2
    exit 1
    ;;
  *" -n kube-system get pods -l component=kube-apiserver "*)
    ready || {
      echo 'The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?' >&2
      exit 1
    }
    # The format the roll-out's jsonpath asks for: NODE=STATUS of the Ready condition, one a line.
    echo "$(cat /etc/standin/node-name)=True"
    cat /run/standin/peers
    ;;
  *)
    echo "stand-in kubectl: unexpected arguments:$args" >&2
    exit 2
    ;;
esac
EOF

chmod 0755 "$lib/kube-apiserver" "$lib/rke2" /var/lib/rancher/rke2/bin/kubectl

cat >/etc/systemd/system/rke2-server.service <<'EOF'
[Unit]
Description=Stand-in for Rancher Kubernetes Engine v2 (server), hardened-rke2 host test
[Service]
# RKE2's unit is Type=notify: `systemctl restart` returns once rke2 reports ready, before the kubelet
# has replaced the API server. A oneshot that returns at once behaves the same for the roll-out.
Type=oneshot
RemainAfterExit=yes
KillMode=process
ExecStart=/usr/local/lib/standin/rke2 server
[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload

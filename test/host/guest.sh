# shellcheck shell=bash
# Disposable Debian 12 guests with their own kernel (user-mode Linux; minimal PID 1 or systemd), reachable only
# on 127.0.0.1 over SSH. Sourced by run.sh, which sets WORK (a temp directory), IMAGE (the cached
# base image), HOST_KEY_PUB (the image's SSH host key) and SSH_KEY (the run's throwaway key).
#
# Network: each guest runs inside its own, empty network namespace (only `lo`): slirp, UML's
# user-space network, can reach nothing there, so the guest cannot send anything off this machine.
# socat on 127.0.0.1:PORT (host namespace) enters that namespace per connection and connects to
# slirp's SSH redirect. The SSH host key is pinned (known_hosts from the image, StrictHostKeyChecking).

declare -A GUEST_PID=() GUEST_PORT=() GUEST_SOCAT=() GUEST_BOOT_TIMEOUT=()

# boot_guest NAME [systemd]: starts a guest on a copy-on-write layer over the base image (does not
# wait). With "systemd" the guest boots systemd (units, systemctl) instead of the minimal PID 1.
boot_guest() {
  local name=$1 init=/sbin/hrke2-init mem=256M dir key
  if [ "${2:-}" = systemd ]; then
    init=/lib/systemd/systemd mem=384M
    GUEST_BOOT_TIMEOUT[$name]=240
  fi
  dir=$WORK/guest-$name
  mkdir -p "$dir"
  key=$(cut -d' ' -f2 "$SSH_KEY.pub")
  # slirp's options as arguments (never ~/.slirprc): forward the guest's sshd, and make forwarded
  # connections come from 10.0.2.2, not 127.0.0.1, which the guest would drop as martians.
  cat >"$dir/slirp" <<EOF
#!/bin/sh
HOME='$dir' exec /usr/bin/slirp-fullbolt "redir tcp 2222 10.0.2.15:22" "host addr 10.0.2.2"
EOF
  chmod 0755 "$dir/slirp"
  # setsid: the guest's processes (UML's own, slirp) form one process group, stopped as a whole.
  # UML keeps the guest's memory in a file under TMPDIR.
  TMPDIR=$dir setsid unshare --net -- bash -c 'ip link set lo up && exec "$@"' guest \
    /usr/bin/linux.uml "mem=$mem" "ubd0=$dir/cow,$IMAGE" root=/dev/ubda rw "init=$init" \
    "eth0=slirp,,$dir/slirp" con=null con0=null,fd:1 ssl=null quiet "hrke2.key=$key" \
    </dev/null >"$dir/console.log" 2>&1 &
  GUEST_PID[$name]=$!
}

# bridge_guest NAME: listens on a free 127.0.0.1 port and forwards into the guest's namespace.
bridge_guest() {
  local name=$1 dir port attempt pid
  dir=$WORK/guest-$name
  cat >"$dir/bridge" <<EOF
#!/bin/sh
exec nsenter --net=/proc/${GUEST_PID[$name]}/ns/net socat STDIO TCP:127.0.0.1:2222
EOF
  chmod 0755 "$dir/bridge"
  for attempt in $(seq 1 20); do
    port=$((20000 + (RANDOM % 20000)))
    setsid socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "EXEC:$dir/bridge" </dev/null >>"$dir/socat.log" 2>&1 &
    pid=$!
    sleep 0.2
    if kill -0 "$pid" 2>/dev/null; then
      GUEST_PORT[$name]=$port
      GUEST_SOCAT[$name]=$pid
      echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$HOST_KEY_PUB")" >>"$WORK/known_hosts"
      return 0
    fi
    : "port $port taken (attempt $attempt)"
  done
  echo "could not find a free port on 127.0.0.1" >&2
  return 1
}

# ssh_args NAME USER: sets SSH_ARGS to reach the guest as USER through the user's shared
# connection (ControlMaster), with the pinned host key, the throwaway key only, and none of this
# machine's ssh configuration.
ssh_args() {
  SSH_ARGS=(-F /dev/null -i "$SSH_KEY" -o IdentitiesOnly=yes -o BatchMode=yes
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$WORK/known_hosts" -o GlobalKnownHostsFile=/dev/null
    -o ControlMaster=auto -o ControlPath="$WORK/cm-%C" -o ControlPersist=300 -o ConnectTimeout=10
    -o LogLevel=ERROR -p "${GUEST_PORT[$1]}" "$2@127.0.0.1")
}

# gssh NAME USER ARGS...: ssh to the guest (see ssh_args), at most 120 s.
gssh() {
  ssh_args "$1" "$2"
  shift 2
  timeout 120 ssh "${SSH_ARGS[@]}" "$@"
}

# wait_guest NAME: until root can log in (the first login opens the shared connection); 90 s at
# most, 240 s for a systemd guest (a loaded machine slows an emulated boot several times over).
wait_guest() {
  local name=$1 deadline=$((SECONDS + ${GUEST_BOOT_TIMEOUT[$1]:-90}))
  until gssh "$name" root true </dev/null 2>/dev/null; do
    if ! kill -0 "${GUEST_PID[$name]}" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      echo "guest $name did not come up; its console:" >&2
      tail -n 30 "$WORK/guest-$name/console.log" >&2
      return 1
    fi
    sleep 0.5
  done
}

# stop_guest NAME: closes the shared connections, then kills the guest's and socat's process groups.
stop_guest() {
  local name=$1 user
  [ -n "${GUEST_PID[$name]:-}" ] || return 0
  for user in root deploy nosudo; do
    gssh "$name" "$user" -O exit </dev/null >/dev/null 2>&1 || true
  done
  kill -KILL -- "-${GUEST_PID[$name]}" 2>/dev/null || true
  if [ -n "${GUEST_SOCAT[$name]:-}" ]; then kill -KILL -- "-${GUEST_SOCAT[$name]}" 2>/dev/null || true; fi
  wait "${GUEST_PID[$name]}" 2>/dev/null || true
  if [ -n "${GUEST_SOCAT[$name]:-}" ]; then wait "${GUEST_SOCAT[$name]}" 2>/dev/null || true; fi
  unset "GUEST_PID[$name]" "GUEST_SOCAT[$name]" "GUEST_BOOT_TIMEOUT[$name]"
}

# guest_processes_left PGID...: lists processes still in the given process groups after up to 10 s
# (the guest's processes end after its main process; init reaps them): empty when all are gone.
guest_processes_left() {
  local deadline=$((SECONDS + 10)) left
  while :; do
    left=$(pgrep -l -g "$(IFS=,; echo "$*")" || true)
    if [ -z "$left" ] || [ "$SECONDS" -ge "$deadline" ]; then break; fi
    sleep 0.2
  done
  printf '%s' "$left"
}

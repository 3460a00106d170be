# shellcheck shell=bash
# shellcheck disable=SC2016 # the single-quoted JavaScript and guest commands expand where they run
# Sourced by run.sh after the preparation tests: `npm run verify` against real kernels. A guest
# prepared by the program's own command verifies clean; each kind of drift, injected alone, is
# found and named; the fix makes it clean again. Then 50 configured nodes (entries pointing at two
# guests) are verified at once, with the wall time per node printed (informative, never asserted).
# Uses run.sh's WORK, PROJECT, HOST_TEST, SSH_KEY, HOST_KEY_PUB, STACK_FILE, the export of
# $STACK_FILE in $WORK/export, and guest.sh's functions.

VERIFY=(node "$PROJECT/bin/scripts/verify.js")
DRIFT_NODE=guest
DRIFT_DIR=$WORK/export/$DRIFT_NODE

# drift_stack FILE ENTRY...: the host-test stack with its nodes replaced by ENTRY ("name address
# port user"), every host key pinned to the image's, so verify checks exactly what was exported.
drift_stack() {
  local file=$1
  shift
  node - "$PROJECT/$STACK_FILE" "$file" "$(cut -d' ' -f1,2 "$HOST_KEY_PUB")" "$@" <<'EOF'
const fs = require("node:fs");
const YAML = require(require.resolve("yaml", { paths: [process.cwd()] }));
const [source, target, hostKey, ...entries] = process.argv.slice(2);
const doc = YAML.parse(fs.readFileSync(source, "utf8"));
doc.config["hardened-rke2:nodes"] = entries.map((entry) => {
  const [name, address, port, user, key] = entry.split(" ");
  return { name, address, sshPort: Number(port), user, roles: ["etcd", "controlplane", "worker"], hostKey: key ? `ssh-ed25519 ${key}` : hostKey };
});
fs.writeFileSync(target, YAML.stringify(doc));
EOF
}

# run_verify STACK_FILE [ARGS...]: sets VERIFY_RC, VERIFY_JSON (stdout), VERIFY_ERR, VERIFY_WALL_S.
run_verify() {
  local file=$1 t0 t1
  shift
  t0=$EPOCHREALTIME
  VERIFY_RC=0
  SSH_PRIVATE_KEY=$(<"$SSH_KEY") "${VERIFY[@]}" --config-file "$file" --format json "$@" \
    >"$WORK/verify.json" 2>"$WORK/verify.err" || VERIFY_RC=$?
  t1=$EPOCHREALTIME
  VERIFY_JSON=$(<"$WORK/verify.json")
  VERIFY_ERR=$(<"$WORK/verify.err")
  VERIFY_WALL_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

# findings: one line per drift finding of the last run, "node control: actual".
findings() {
  node -e 'const r = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
    for (const f of r.findings) console.log(`${f.node} ${f.control}: ${f.actual}`);
    for (const n of r.nodes) if (n.status === "error") console.log(`${n.node} error: ${n.error}`);' <<<"$VERIFY_JSON"
}

# statuses: "control=status" for every control of the first node, space separated.
statuses() {
  node -e 'const r = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
    console.log(r.nodes[0].results.map((c) => `${c.control}=${c.status}`).join(" "));' <<<"$VERIFY_JSON"
}

# expect_clean LABEL: the last verify found every node compliant.
expect_clean() {
  expect_eq "$1: exit 0, no finding" "$VERIFY_RC $(findings | tr '\n' ';')" "0 "
}

# expect_drift LABEL REGEX: exit 1 and the findings match REGEX (node, control, actual).
expect_drift() {
  expect_eq "$1: exit 1 (drift)" "$VERIFY_RC" 1
  expect_match "$1: found and named" "$(findings)" "$2"
}

# prep_again GUEST: the fix, re-running the node's prepared command exactly as remote.Command does.
prep_again() {
  local rc=0
  gssh "$1" root "$(cat "$DRIFT_DIR/command")" <"$DRIFT_DIR/stdin" >"$WORK/prep.out" 2>&1 || rc=$?
  expect_eq "re-run of the prepared command: exit 0" "$rc" 0
  [ "$rc" -eq 0 ] || sed 's/^/          | /' "$WORK/prep.out"
}

# start_rke2_standin GUEST: what RKE2 with a CIS profile leaves that verify reads (rancher/rke2: etcd's
# data dir chowned to etcd, kube-apiserver started with --audit-policy-file). A script's process name
# is its file name, so the kernel lists the stand-in as kube-apiserver.
start_rke2_standin() {
  gssh "$1" root 'install -D -m 0755 /bin/true /usr/local/bin/rke2 &&
    mkdir -p -m 0700 /var/lib/rancher/rke2/server/db/etcd && chown etcd:etcd /var/lib/rancher/rke2/server/db/etcd &&
    printf "#!/bin/sh\nwhile :; do sleep 60; done\n" >/run/kube-apiserver && chmod 0755 /run/kube-apiserver &&
    setsid -f /run/kube-apiserver --audit-policy-file=/etc/rancher/rke2/audit-policy.yaml </dev/null >/dev/null 2>&1' </dev/null
}

echo "== verify on real kernels (drift)"
if [ ! -f "$DRIFT_DIR/command" ]; then
  fail "the export has no command for node $DRIFT_NODE"
else
  da=drift-a
  db=drift-b
  boot_started=$SECONDS
  boot_guest "$da"
  boot_guest "$db"
  bridge_guest "$da"
  bridge_guest "$db"
  wait_guest "$da"
  wait_guest "$db"
  echo "  two guests up in $((SECONDS - boot_started)) s"
  ONE=$WORK/verify-one.yaml
  drift_stack "$ONE" "$DRIFT_NODE 127.0.0.1 ${GUEST_PORT[$da]} root"

  echo "-- a fresh guest is not prepared: verify says what is missing"
  run_verify "$ONE"
  expect_drift "fresh guest" "guest kernel\.panic: 0"
  expect_match "fresh guest: the etcd user is missing" "$(findings)" "guest etcd-user: no etcd user, no etcd group"
  expect_match "fresh guest: the audit policy is missing" "$(findings)" "guest audit-policy: missing"

  echo "-- prepared by the program's command: clean, RKE2's checks not applicable"
  prep_again "$da"
  before=$(gssh "$da" root 'wc -l </run/hrke2-ssh-sessions' </dev/null)
  run_verify "$ONE"
  after=$(gssh "$da" root 'wc -l </run/hrke2-ssh-sessions' </dev/null)
  expect_clean "prepared guest"
  expect_eq "prepared guest: one SSH session for the whole check" "$((after - before - 1))" 1
  expect_match "prepared guest: etcd data dir and kube-apiserver not applicable without RKE2" "$(statuses)" \
    'etcd-data-dir=not applicable .*audit-policy-loaded=not applicable'
  echo "  one node: verify took $VERIFY_WALL_S s (one SSH session, node start included)"
  ONE_SESSION_S=$VERIFY_WALL_S

  inject_and_fix() {
    local label=$1 inject=$2 regex=$3 fix=$4
    echo "-- drift: $label"
    gssh "$da" root "$inject" </dev/null
    run_verify "$ONE"
    expect_drift "$label" "$regex"
    if [ "$fix" = prep ]; then prep_again "$da"; else gssh "$da" root "$fix" </dev/null; fi
    run_verify "$ONE"
    expect_clean "$label, after the fix ($fix)"
  }
  inject_and_fix "sysctl -w kernel.panic=0" 'sysctl -q -w kernel.panic=0' \
    '^guest kernel\.panic: 0$' prep
  inject_and_fix "etcd user removed" 'userdel etcd' \
    '^guest etcd-user: no etcd user' prep
  inject_and_fix "audit policy mode loosened" 'chmod 0644 /etc/rancher/rke2/audit-policy.yaml' \
    '^guest audit-policy: file mode 0644 owner 0:0$' prep
  inject_and_fix "audit policy edited" 'echo "# edited" >>/etc/rancher/rke2/audit-policy.yaml' \
    '^guest audit-policy: content differs from the configured policy' prep
  # Host preparation refuses to run while such a file exists (it names it): the fix is removing it.
  inject_and_fix "a later file in /etc/sysctl.d" 'echo "kernel.panic = 0" >/etc/sysctl.d/99-local.conf' \
    '^guest sysctl-override kernel\.panic: /etc/sysctl\.d/99-local\.conf sets kernel\.panic=0' \
    'rm /etc/sysctl.d/99-local.conf'

  echo "-- RKE2 running (stand-in): etcd's data dir and the kube-apiserver's policy are checked"
  start_rke2_standin "$da"
  run_verify "$ONE"
  expect_clean "RKE2 stand-in running"
  expect_match "RKE2 stand-in: etcd data dir and kube-apiserver checked" "$(statuses)" \
    'etcd-data-dir=compliant .*audit-policy-loaded=compliant'
  restart_apiserver='pkill -x kube-apiserver; setsid -f /run/kube-apiserver --audit-policy-file=/etc/rancher/rke2/audit-policy.yaml </dev/null >/dev/null 2>&1'
  inject_and_fix "etcd data dir chowned to root (CIS 1.1.12)" 'chown root:root /var/lib/rancher/rke2/server/db/etcd' \
    '^guest etcd-data-dir: owner 0:0' 'chown etcd:etcd /var/lib/rancher/rke2/server/db/etcd'
  # A policy rewritten after kube-apiserver started (what a roll-out without the restart leaves).
  inject_and_fix "policy newer than the running kube-apiserver" \
    'sleep 3; cp -p /etc/rancher/rke2/audit-policy.yaml /run/p && cat /run/p >/etc/rancher/rke2/audit-policy.yaml' \
    '^guest audit-policy-loaded: kube-apiserver [0-9]+ started .*before the policy changed' "$restart_apiserver"

  prep_again "$db"
  start_rke2_standin "$db"
  # Every node needs its own address: one listener per loopback address forwards to a guest.
  fifty_port=$((20000 + RANDOM % 20000))
  entries=()
  setsid bash -c '
    port=$1 a=$2 b=$3
    for i in $(seq 2 51); do
      if [ $((i % 2)) -eq 0 ]; then to=$a; else to=$b; fi
      socat "TCP-LISTEN:$port,bind=127.0.0.$i,reuseaddr,fork" "TCP:127.0.0.1:$to" &
    done
    wait' fifty "$fifty_port" "${GUEST_PORT[$da]}" "${GUEST_PORT[$db]}" </dev/null >/dev/null 2>&1 &
  FIFTY_PGID=$!
  for i in $(seq 2 51); do
    if [ $((i % 4)) -lt 2 ]; then user=root; else user=deploy; fi
    entries+=("$(printf 'node-%02d' $((i - 1))) 127.0.0.$i $fifty_port $user")
  done
  sleep 1

  echo "-- connection errors are named per node, the other nodes still checked"
  MIXED=$WORK/verify-mixed.yaml
  ssh-keygen -q -t ed25519 -N '' -C other -f "$WORK/other" </dev/null
  drift_stack "$MIXED" "$DRIFT_NODE 127.0.0.1 ${GUEST_PORT[$da]} root" \
    "impostor 127.0.0.2 $fifty_port root $(cut -d' ' -f2 "$WORK/other.pub")" "closed 127.0.0.60 $fifty_port root"
  run_verify "$MIXED"
  expect_eq "mixed: exit 2" "$VERIFY_RC" 2
  expect_match "mixed: the impostor is refused for its host key" "$(findings)" \
    '^impostor error: .* presented a host key other than the pinned one: refused'
  expect_match "mixed: the closed port is named" "$(findings)" '^closed error: .*ECONNREFUSED'
  expect_match "mixed: the good node was still checked" "$VERIFY_ERR" 'guest: compliant'

  echo "-- 50 configured nodes on two guests (every other one through sudo as deploy)"
  FIFTY=$WORK/verify-fifty.yaml
  drift_stack "$FIFTY" "${entries[@]}"
  before_a=$(gssh "$da" root 'wc -l </run/hrke2-ssh-sessions' </dev/null)
  before_b=$(gssh "$db" root 'wc -l </run/hrke2-ssh-sessions' </dev/null)
  run_verify "$FIFTY"
  after_a=$(gssh "$da" root 'wc -l </run/hrke2-ssh-sessions' </dev/null)
  after_b=$(gssh "$db" root 'wc -l </run/hrke2-ssh-sessions' </dev/null)
  expect_clean "50 nodes"
  expect_eq "50 nodes: 50 SSH sessions in all, one per node" "$((after_a - before_a - 1 + after_b - before_b - 1))" 50
  per_node=$(awk -v t="$VERIFY_WALL_S" 'BEGIN { printf "%.3f", t / 50 }')
  echo "  wall time per node (from verify's progress lines):"
  grep -o 'node-[0-9]*: [a-z]* in [0-9.]* s' <<<"$VERIFY_ERR" | paste -d'|' - - - - | sed 's/^/    /; s/|/   /g' || true
  grep 'wall time' <<<"$VERIFY_ERR" | sed 's/^/  /'
  echo "  benchmark: 50 nodes in $VERIFY_WALL_S s = $per_node s per node; one node alone took $ONE_SESSION_S s (target: well under that per node)"
  kill -- "-$FIFTY_PGID" 2>/dev/null || true
  wait "$FIFTY_PGID" 2>/dev/null || true

  for g in "$da" "$db"; do
    pgids=("${GUEST_PID[$g]}" "${GUEST_SOCAT[$g]}")
    stop_guest "$g"
    expect_eq "$g: every guest process is gone" "$(guest_processes_left "${pgids[@]}")" ""
  done
fi

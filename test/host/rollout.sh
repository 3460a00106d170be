# shellcheck shell=bash
# shellcheck disable=SC2016 # the single-quoted guest commands expand in the guest
# The audit-policy roll-out on real kernels, sourced by run.sh (uses its pass/fail/expect_* helpers,
# WORK, PROJECT, HOST_TEST and guest.sh). Three systemd guests, each a control-plane server of
# test/host/Pulumi.rollouttest.yaml, run a stand-in for RKE2 (test/host/rke2-rollout-standin.sh: what
# is real and what is faked is said there). The roll-out commands are the ones the program generates
# for that stack, run in the program's order (each step depends on the one before) exactly as
# remote.Command does (`ssh HOST "$(cat command)"`, no stdin), stopping at the first failure as
# Pulumi stops a resource's dependents. What each step did is read back from the stand-ins' own logs.

ROLL_DIR=$WORK/rollout
ROLL_STACK=test/host/Pulumi.rollouttest.yaml
ROLL_NODES=(server-1 server-2 server-3)
declare -A ROLL_GUEST=([server-1]=roll-1 [server-2]=roll-2 [server-3]=roll-3)
declare -A ROLL_SKEW=()
mkdir -p "$ROLL_DIR/steps"

# roll_export DIR STACK_FILE: the program's roll-out steps for the stack, in its order: DIR/order
# (node names) and DIR/NODE.command, plus DIR/chain (each step's dependsOn on the step before).
roll_export() {
  mkdir -p "$1"
  node - "$PROJECT" "$1" "$2" <<'JS'
const [project, out, stackFile] = process.argv.slice(2);
const fs = require("node:fs");
const path = require("node:path");
const { planStack } = require(`${project}/bin/scripts/offline/plan.js`);
const { readStackFile } = require(`${project}/bin/scripts/offline/stackFile.js`);
const { reveal } = require(`${project}/bin/scripts/offline/engine.js`);
planStack(readStackFile(path.resolve(stackFile))).then((result) => {
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const recorded = new Map(result.evaluation.resources.map((r) => [r.urn, r]));
  // The plan lists resources in dependency order.
  const steps = result.plan.resources.filter((r) => r.type === "command:remote:Command" && /-audit-policy-/.test(r.name));
  const order = [];
  const chain = [];
  for (const [i, step] of steps.entries()) {
    const node = step.name.replace(/^.*-audit-policy-/, "");
    order.push(node);
    const inputs = recorded.get(step.urn).inputs;
    fs.writeFileSync(path.join(out, `${node}.command`), String(reveal(inputs.create)));
    if (inputs.stdin !== undefined) throw new Error(`${step.name} has stdin`);
    chain.push(i === 0 || step.dependsOn.includes(steps[i - 1].urn) ? "yes" : "no");
  }
  fs.writeFileSync(path.join(out, "order"), `${order.join(" ")}\n`);
  fs.writeFileSync(path.join(out, "chain"), `${chain.join(" ")}\n`);
});
JS
}

# roll_q NODE CMD: runs CMD as root on NODE's guest. The test's own readiness questions set
# STANDIN_PROBE so that the stand-in kubectl does not log them as the roll-out's.
roll_q() { gssh "${ROLL_GUEST[$1]}" root "export STANDIN_PROBE=1; $2" </dev/null; }

roll_ready() { roll_q "$1" '/var/lib/rancher/rke2/bin/kubectl --kubeconfig /etc/rancher/rke2/rke2.yaml get --raw /readyz >/dev/null 2>&1 && echo True || echo False'; }

# roll_peers NODE: the other servers' kube-apiserver pod Ready condition, as NODE's kubectl reports it.
roll_peers() {
  local other lines=''
  for other in "${ROLL_NODES[@]}"; do
    [ "$other" = "$1" ] || lines+="$other=$(roll_ready "$other")"$'\n'
  done
  printf '%s' "$lines" | gssh "${ROLL_GUEST[$1]}" root 'cat >/run/standin/peers'
}

roll_events_count() { roll_q "$1" 'wc -l </run/standin/events'; }

STEP_SEQ=0
# roll_step SET NODE: one roll-out step on NODE's guest; its output goes to ROLL_DIR/steps/SEQ-NODE.*
# and the stand-ins' events it caused to SEQ-NODE.events. Sets STEP_RC and STEP_FILE.
roll_step() {
  local set=$1 node=$2 guest=${ROLL_GUEST[$2]} before t0 t1
  STEP_SEQ=$((STEP_SEQ + 1))
  STEP_FILE=$ROLL_DIR/steps/$(printf '%02d' "$STEP_SEQ")-$node
  roll_peers "$node"
  before=$(roll_events_count "$node")
  t0=$EPOCHREALTIME
  STEP_RC=0
  gssh "$guest" root "$(cat "$ROLL_DIR/$set/$node.command")" </dev/null >"$STEP_FILE.out" 2>"$STEP_FILE.err" || STEP_RC=$?
  t1=$EPOCHREALTIME
  roll_q "$node" "tail -n +$((before + 1)) /run/standin/events" >"$STEP_FILE.events"
  echo "$node $STEP_RC $t0 $t1" >"$STEP_FILE.step"
  printf '  step  %-9s %-9s exit %-2d in %5.1f s: %s\n' "$set" "$node" "$STEP_RC" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$(tail -n 1 "$STEP_FILE.out" "$STEP_FILE.err" 2>/dev/null | grep -v '^==>\|^$' | tail -n 1 | cut -c1-150)"
}

# roll_chain SET [NODE...]: the steps in the program's order (all, or from the first NODE given);
# stops at the first failure. Sets CHAIN_RAN (nodes run) and CHAIN_FAILED (node, or empty).
roll_chain() {
  local set=$1 node started=no order
  shift
  read -ra order <"$ROLL_DIR/$set/order"
  CHAIN_RAN=()
  CHAIN_FAILED=''
  for node in "${order[@]}"; do
    if [ "$started" = no ] && [ $# -gt 0 ] && [ "$node" != "$1" ]; then continue; fi
    started=yes
    roll_step "$set" "$node"
    CHAIN_RAN+=("$node")
    if [ "$STEP_RC" -ne 0 ]; then
      CHAIN_FAILED=$node
      return 0
    fi
  done
}

# roll_analyze STEP_FILE...: the checks on the stand-ins' events of the given steps, printed as
# "ok|FAIL|info TEXT" lines (roll_report turns them into run.sh's pass/fail).
roll_analyze() {
  node - "$@" <<'JS'
const fs = require("node:fs");
const files = process.argv.slice(2);
const out = (kind, text) => console.log(`${kind}\t${text}`);
const steps = files.map((f) => {
  const [node, rc, t0, t1] = fs.readFileSync(`${f}.step`, "utf8").trim().split(" ");
  const skew = Number(fs.readFileSync(`${f}.skew`, "utf8"));
  const events = fs.readFileSync(`${f}.events`, "utf8").split("\n").filter(Boolean).map((line) => {
    const [t, kind, ...args] = line.split(" ");
    // On the host's clock (each guest's offset measured when it came up).
    return { t: Number(t) - skew, kind, args };
  });
  return { file: f.replace(/.*\//, ""), node, rc: Number(rc), t0: Number(t0), t1: Number(t1), events };
});
const base = steps[0].t0;
const rel = (t) => `+${(t - base).toFixed(1)}s`;
const disturbed = [];
for (const s of steps) {
  const starts = s.events.filter((e) => e.kind === "rke2-start");
  if (starts.length === 0) {
    out("info", `${s.file}: rke2-server not restarted`);
    continue;
  }
  // A disturbance: from the first restart until an API server started after it is ready.
  const first = starts[0];
  const fresh = new Set(s.events.filter((e) => e.kind === "apiserver-start" && e.t > first.t).map((e) => e.args[0]));
  const ready = s.events.find((e) => e.kind === "apiserver-ready" && fresh.has(e.args[0]));
  const end = ready ? ready.t : Infinity;
  disturbed.push({ node: s.node, file: s.file, from: first.t, to: end });
  const oldAnswered = s.events.filter((e) => e.kind === "probe-before-replacement" && e.args[0] === "ok");
  for (const e of oldAnswered) {
    out("info", `${s.file}: the old API server (pid ${e.args[1]}) still answered /readyz at ${rel(e.t)}, ${(e.t - first.t).toFixed(1)} s after the restart began`);
  }
  out("info", `${s.file}: restart began ${rel(first.t)}, ${starts.length} restart(s), fresh API server ready ${ready ? rel(ready.t) : "never"}, step ${rel(s.t0)}..${rel(s.t1)}`);
  if (s.rc === 0) {
    // The answer the step accepted: the roll-out's last /readyz before it ended.
    const answers = s.events.filter((e) => e.kind === "readyz-ok");
    const accepted = answers[answers.length - 1];
    const text = `${s.file}: the step passed on an API server started after the restart`;
    if (accepted && fresh.has(accepted.args[0]) && ready && ready.t <= accepted.t) {
      out("ok", `${text} (accepted pid ${accepted.args[0]}, started ${((s.events.find((e) => e.kind === "apiserver-start" && e.args[0] === accepted.args[0]).t - first.t)).toFixed(1)} s after the restart began)`);
    } else {
      out("FAIL", `${text}: accepted ${accepted ? `pid ${accepted.args[0]} at ${rel(accepted.t)}` : "no answer"}; fresh pids: ${[...fresh].join(",") || "none"}`);
    }
    if (ready && oldAnswered.length === 0) out("info", `${s.file}: no probe saw the old API server answer (it was gone before the probe)`);
  }
}
// Never two servers restarting or unready at once.
const overlaps = [];
for (const a of disturbed) for (const b of disturbed) {
  if (a.node < b.node && a.from < b.to && b.from < a.to) overlaps.push(`${a.file} ${rel(a.from)}..${rel(a.to)} and ${b.file} ${rel(b.from)}..${rel(b.to)}`);
}
for (const d of disturbed) out("info", `  ${d.node.padEnd(9)} restarting or unready ${rel(d.from)} .. ${d.to === Infinity ? "never ready" : rel(d.to)}`);
if (disturbed.length < 2) out("FAIL", `at least two servers were restarted in these steps (${disturbed.length})`);
else if (overlaps.length === 0) out("ok", `never two servers restarting or unready at once (${disturbed.length} restarts of ${new Set(disturbed.map((d) => d.node)).size} servers)`);
else out("FAIL", `two servers restarting or unready at once: ${overlaps.join("; ")}`);
// Clock-free form of the same: every disturbance that began in a step ended within that step.
const open = disturbed.filter((d) => d.to === Infinity).map((d) => d.file);
if (open.length === 0) out("ok", "every restart ended, within its own step, with a fresh API server ready");
else out("FAIL", `a restart did not end within its own step: ${open.join(", ")}`);
JS
}

roll_report() {
  local kind text
  while IFS=$'\t' read -r kind text; do
    case $kind in
      ok) pass "$text" ;;
      FAIL) fail "$text" ;;
      *) echo "  info  $text" ;;
    esac
  done
}

# roll_state NODE: "POLICY_HASH APISERVER_HASH READY" (hashes as the stand-in logs them: 16 hex).
roll_state() {
  roll_q "$1" 'p=$(sha256sum /etc/rancher/rke2/audit-policy.yaml | cut -c1-16); a=$(cat /run/standin/apiserver.hash);
    r=$(/var/lib/rancher/rke2/bin/kubectl --kubeconfig /etc/rancher/rke2/rke2.yaml get --raw /readyz 2>/dev/null || echo down); echo "$p $a $r"'
}

roll_restarts() { roll_q "$1" 'grep -c " rke2-start " /run/standin/events || true'; }

echo "== audit policy roll-out on three systemd guests (stand-in RKE2, $ROLL_STACK)"
roll_export "$ROLL_DIR/a" "$ROLL_STACK"
mkdir -p "$ROLL_DIR/b-stack"
sed 's/auditPolicyLevel: Metadata/auditPolicyLevel: Request/' "$ROLL_STACK" >"$ROLL_DIR/b-stack/Pulumi.rollouttest.yaml"
roll_export "$ROLL_DIR/b" "$ROLL_DIR/b-stack/Pulumi.rollouttest.yaml"
expect_eq "the program orders the roll-out server-1, server-2, server-3" "$(cat "$ROLL_DIR/a/order")" "server-1 server-2 server-3"
expect_eq "each step depends on the step before" "$(cat "$ROLL_DIR/a/chain")" "yes yes yes"
if cmp -s "$ROLL_DIR/a/server-2.command" "$ROLL_DIR/b/server-2.command"; then
  fail "the Request-level stack renders a different roll-out command"
else
  pass "the Request-level stack renders a different roll-out command"
fi

boot_started=$SECONDS
# At most two guests boot at once (each keeps a core busy).
boot_guest roll-1 systemd
bridge_guest roll-1
boot_guest roll-2 systemd
bridge_guest roll-2
wait_guest roll-1
boot_guest roll-3 systemd
bridge_guest roll-3
wait_guest roll-2
wait_guest roll-3
echo "  three systemd guests up in $((SECONDS - boot_started)) s"

# RKE2's default audit policy (what it writes when none is given): log nothing.
ROLL_OLD_POLICY=$'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n'
for node in "${ROLL_NODES[@]}"; do
  guest=${ROLL_GUEST[$node]}
  gssh "$guest" root bash -s -- "$node" <"$HOST_TEST/rke2-rollout-standin.sh"
  printf '%s' "$ROLL_OLD_POLICY" | gssh "$guest" root 'umask 077; cat >/etc/rancher/rke2/audit-policy.yaml && systemctl start rke2-server.service'
  # The guest's clock against this machine's (UML reads the host's; printed, and used to compare guests).
  h0=$EPOCHREALTIME
  g=$(gssh "$guest" root 'echo $EPOCHREALTIME' </dev/null)
  h1=$EPOCHREALTIME
  ROLL_SKEW[$node]=$(awk -v a="$h0" -v b="$h1" -v g="$g" 'BEGIN { printf "%.3f", g - (a + b) / 2 }')
  echo "  $node on $guest: stand-in installed; clock offset ${ROLL_SKEW[$node]} s (±$(awk -v a="$h0" -v b="$h1" 'BEGIN { printf "%.2f", (b - a) / 2 }'))"
done
for node in "${ROLL_NODES[@]}"; do
  deadline=$((SECONDS + 60))
  until [ "$(roll_ready "$node")" = True ] || [ "$SECONDS" -ge "$deadline" ]; do sleep 1; done
done
expect_eq "three stand-in servers ready on the old policy" \
  "$(for n in "${ROLL_NODES[@]}"; do roll_ready "$n"; done | tr '\n' ' ')" "True True True "
OLD_HASH=$(roll_state server-1 | cut -d' ' -f1)

# roll_steps_since SEQ: the step files after step SEQ, with their guests' clock offsets.
roll_steps_since() {
  local f node
  for f in "$ROLL_DIR"/steps/*.step; do
    f=${f%.step}
    [ "$((10#$(basename "$f" | cut -c1-2)))" -gt "$1" ] || continue
    node=$(cut -d' ' -f1 "$f.step")
    echo "${ROLL_SKEW[$node]}" >"$f.skew"
    echo "$f"
  done
}

echo "-- A. the program's roll-out of a new policy (Metadata) across the three servers"
seq0=$STEP_SEQ
roll_chain a
expect_eq "A. every step exits 0" "${CHAIN_FAILED:-none} ${#CHAIN_RAN[@]}" "none 3"
mapfile -t files < <(roll_steps_since "$seq0")
roll_analyze "${files[@]}" | roll_report
NEW_HASH=$(roll_state server-1 | cut -d' ' -f1)
for node in "${ROLL_NODES[@]}"; do
  expect_eq "A. $node: the new policy is in place and its API server runs it, ready" "$(roll_state "$node")" "$NEW_HASH $NEW_HASH ok"
  expect_eq "A. $node: the previous policy kept" \
    "$(roll_q "$node" 'sha256sum /etc/rancher/rke2/audit-policy.yaml.previous | cut -c1-16')" "$OLD_HASH"
done
if [ "$NEW_HASH" != "$OLD_HASH" ]; then pass "A. the policy changed ($OLD_HASH -> $NEW_HASH)"; else fail "A. the policy changed"; fi

echo "-- A2. the same roll-out again: nothing restarts"
restarts_before=$(for n in "${ROLL_NODES[@]}"; do roll_restarts "$n"; done | tr '\n' ' ')
roll_chain a
expect_eq "A2. every step exits 0" "${CHAIN_FAILED:-none} ${#CHAIN_RAN[@]}" "none 3"
expect_eq "A2. no server restarted" "$(for n in "${ROLL_NODES[@]}"; do roll_restarts "$n"; done | tr '\n' ' ')" "$restarts_before"
expect_match "A2. the step says why" "$(cat "$STEP_FILE.out")" '^audit-policy.yaml: unchanged; kube-apiserver \(pid [0-9]+\) started after it was written and is ready, rke2-server not restarted$'

echo "-- B. a policy (Request) that server-2 never comes up with"
# The stand-in on server-2 accepts only the current policy: any other makes it refuse to start.
roll_q server-2 "echo $NEW_HASH >/etc/standin/only-hash"
restarts3=$(roll_restarts server-3)
events3=$(roll_events_count server-3)
seq0=$STEP_SEQ
roll_chain b
expect_eq "B. the chain stops at server-2, after server-1 and server-2 ran" "${CHAIN_FAILED:-none} ${CHAIN_RAN[*]}" "server-2 server-1 server-2"
expect_eq "B. server-2's step fails with exit 8 (restored and running)" "$STEP_RC" 8
expect_match "B. server-2's step names the failure and the restore" "$(cat "$STEP_FILE.err")" \
  'the new audit policy did not come up on server-2: systemctl restart rke2-server.service failed.*; the previous policy was restored and its kube-apiserver is ready again'
B_HASH=$(roll_state server-1 | cut -d' ' -f1)
expect_eq "B. server-1 runs the Request policy" "$(roll_state server-1)" "$B_HASH $B_HASH ok"
expect_eq "B. server-2: its previous policy restored, a fresh API server runs it, ready" "$(roll_state server-2)" "$NEW_HASH $NEW_HASH ok"
expect_eq "B. server-3 untouched: its policy, no restart, no event" \
  "$(roll_state server-3) $(roll_restarts server-3) $(roll_events_count server-3)" "$NEW_HASH $NEW_HASH ok $restarts3 $events3"
mapfile -t files < <(roll_steps_since "$seq0")
roll_analyze "${files[@]}" | roll_report

echo "-- C. fixed (server-2 accepts any policy again), pulumi up again: the failed step and the ones after it"
roll_q server-2 'rm /etc/standin/only-hash'
seq0=$STEP_SEQ
# server-1's step succeeded and is in the state: Pulumi runs it no more. The retry starts at server-2.
roll_chain b server-2
expect_eq "C. server-2 and server-3 run and exit 0" "${CHAIN_FAILED:-none} ${CHAIN_RAN[*]}" "none server-2 server-3"
first_retry=$(find "$ROLL_DIR/steps" -name "$(printf '%02d' $((seq0 + 1)))-server-2.out")
expect_match "C. server-2 is not skipped: the policy written again and rke2-server restarted" "$(cat "$first_retry")" \
  '^audit-policy.yaml: written \(previous kept as audit-policy.yaml.previous\)$'
for node in "${ROLL_NODES[@]}"; do
  expect_eq "C. $node runs the Request policy, ready" "$(roll_state "$node")" "$B_HASH $B_HASH ok"
done
echo "-- D. an earlier run wrote the new policy and was cut off before the restart: the retry sees an identical file"
# server-3 back on the Metadata policy (the step of that stack), then the state such a run leaves:
# the Request policy (now its .previous) and the written mark in place, the old API server running.
roll_chain a server-3
expect_eq "D. server-3 back on the Metadata policy" "${CHAIN_FAILED:-none} $(roll_state server-3)" "none $NEW_HASH $NEW_HASH ok"
roll_q server-3 'cd /etc/rancher/rke2 && cp audit-policy.yaml.previous audit-policy.yaml && read -r up _ </proc/uptime &&
  echo "$(cat /proc/sys/kernel/random/boot_id) ${up/./}" >.audit-policy.hardened-rke2-written'
expect_eq "D. server-3: the Request policy on disk, the old API server still on Metadata and answering" \
  "$(roll_state server-3)" "$B_HASH $NEW_HASH ok"
seq0=$STEP_SEQ
roll_chain b server-3
expect_eq "D. the retry of server-3's step exits 0" "${CHAIN_FAILED:-none} ${CHAIN_RAN[*]}" "none server-3"
expect_match "D. it is not reported fine: the roll-out is finished" "$(cat "$STEP_FILE.out")" \
  '^audit-policy.yaml: unchanged, but no kube-apiserver started after it was written is ready: finishing the roll-out on server-3$'
expect_eq "D. server-3 runs the Request policy, ready" "$(roll_state server-3)" "$B_HASH $B_HASH ok"
mapfile -t files < <(roll_steps_since "$seq0")
roll_analyze "${files[@]}" | grep -v 'never two servers\|at least two servers' | roll_report

mapfile -t files < <(roll_steps_since 0)
echo "  the whole roll-out history (A, A2, B, C), on this machine's clock:"
roll_analyze "${files[@]}" | grep -v 'step passed on\|no probe saw\|old API server\|restart began' | roll_report

for guest in roll-1 roll-2 roll-3; do
  pgids=("${GUEST_PID[$guest]}" "${GUEST_SOCAT[$guest]}")
  stop_guest "$guest"
  expect_eq "$guest: every guest process is gone" "$(guest_processes_left "${pgids[@]}")" ""
done

# shellcheck shell=bash
# Node registration on real kernels, sourced by run.sh (uses its pass/fail/expect_* helpers, WORK,
# PROJECT, HOST_TEST and guest.sh). Two guests: one reached as root with sudo removed, one through
# the unprivileged "deploy" user with passwordless sudo. Each runs a stand-in Rancher over HTTPS with
# its own CA (openssl s_server in the guest, https://rancher.test:8443), serving Rancher's installer
# path with test/host/rancher-installer-standin.sh and /cacerts. The registration command and its
# stdin are rendered by the program's own code (bin/components/cluster/registration.js) from Rancher's
# real command format (bin/scripts/offline/rancher.js), and run exactly as remote.Command does.

REG_DIR=$WORK/registration
if ! command -v openssl >/dev/null 2>&1; then
  echo "installing openssl (the stand-in Rancher's CA)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >"$WORK/apt-openssl.log" 2>&1
fi
REG_SERVER=https://rancher.test:8443
mkdir -p "$REG_DIR"

# A token in the format of Rancher's (54 characters of its random-token alphabet), new every run.
reg_random_token() {
  local alphabet=bcdfghjklmnpqrstvwxz2456789 token='' i
  for ((i = 0; i < 54; i++)); do token+=${alphabet:RANDOM%27:1}; done
  printf '%s' "$token"
}
REG_TOKEN=$(reg_random_token)
REG_OTHER_TOKEN=$(reg_random_token)
printf '%s\n' "$REG_TOKEN" >"$REG_DIR/token"

# reg_pki: the stand-in Rancher's CA and its certificate for rancher.test.
reg_pki() {
  (
    cd "$REG_DIR" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=stand-in Rancher CA' -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj '/CN=rancher.test' -keyout key.pem -out req.csr 2>/dev/null
    echo 'subjectAltName=DNS:rancher.test' >ext
    openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out cert.pem 2>/dev/null
    sha=$(printf '%s' "$REG_TOKEN" | sha256sum | cut -d' ' -f1)
    sed "s/^# @expected\$/# @expected\nexpected_token_sha256='$sha'/" "$HOST_TEST/rancher-installer-standin.sh" >system-agent-install.sh
    # What Rancher answers on /v3/connect/agent: the agent's kubeconfig, naming Rancher's URL.
    printf '{"kubeConfig":"apiVersion: v1\\nclusters:\\n- cluster:\\n    server: %s\\n  name: cluster\\n","namespace":"fleet-default","secretName":"custom-standin-machine-plan"}\n' \
      "$REG_SERVER" >connect-agent
  )
}

# reg_render NAME CLUSTER TOKEN_FILE USE_CA_CERTS TIMEOUT ROLES LABELS: writes $REG_DIR/NAME.command
# and NAME.stdin with the program's renderers (the token is read from a file, never an argument).
reg_render() {
  node - "$PROJECT" "$REG_DIR" "$@" <<'JS'
const [project, dir, name, cluster, tokenFile, useCaCerts, timeout, roles, labels] = process.argv.slice(2);
const fs = require("fs");
const registration = require(`${project}/bin/components/cluster/registration.js`);
const { renderRemoteCommand } = require(`${project}/bin/components/host/render.js`);
const { nodeCommands } = require(`${project}/bin/scripts/offline/rancher.js`);
const ca = fs.readFileSync(`${dir}/ca.pem`, "utf8");
const token = fs.readFileSync(tokenFile, "utf8").trim();
const script = registration.renderRegistrationScript({
  nodeName: "node-1",
  roles: roles.split(","),
  labels: Object.fromEntries(labels.split(",").map((l) => l.split("="))),
  caCerts: useCaCerts === "yes" ? ca : undefined,
  installerTimeoutSeconds: Number(timeout),
});
// Rancher's command as Rancher writes it: agent variables in both slots, its CA checksum last.
const { nodeCommand } = nodeCommands({
  apiUrl: "https://rancher.test:8443",
  token,
  caCerts: ca,
  agentEnvVars: [{ name: "HTTP_PROXY", value: "http://proxy.example:3128" }],
});
fs.writeFileSync(`${dir}/${name}.command`, renderRemoteCommand(script));
fs.writeFileSync(`${dir}/${name}.stdin`, registration.registrationInput(cluster, nodeCommand), { mode: 0o600 });
JS
}

# reg_setup GUEST: the stand-in Rancher in the guest, reachable as rancher.test.
reg_setup() {
  local guest=$1 file
  gssh "$guest" root 'mkdir -p /srv/rancher && echo "127.0.0.1 rancher.test" >>/etc/hosts' </dev/null
  for file in ca.pem cert.pem key.pem system-agent-install.sh; do
    gssh "$guest" root "cat >/srv/rancher/$file" <"$REG_DIR/$file"
  done
  gssh "$guest" root 'mkdir -p /srv/rancher/v3/connect && cat >/srv/rancher/v3/connect/agent' <"$REG_DIR/connect-agent"
  gssh "$guest" root 'cp /srv/rancher/ca.pem /srv/rancher/cacerts && cd /srv/rancher &&
    setsid -f openssl s_server -quiet -WWW -accept 8443 -cert cert.pem -key key.pem </dev/null >/run/s_server.log 2>&1' </dev/null
  # The stand-in answers over HTTPS, verified with its own CA only.
  local deadline=$((SECONDS + 30))
  until gssh "$guest" root "curl -fsS --cacert /srv/rancher/ca.pem $REG_SERVER/cacerts >/dev/null" </dev/null 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "$guest: stand-in Rancher answers on $REG_SERVER"
      return 1
    fi
    sleep 0.5
  done
  pass "$guest: stand-in Rancher answers on $REG_SERVER with its own CA"
}

# reg_run GUEST USER NAME LABEL [sample]: runs NAME.command with NAME.stdin as remote.Command does;
# with "sample", samples the guest's process list (ps -eo args) throughout the run. Sets REG_RC,
# REG_OUT, REG_ERR.
reg_run() {
  local guest=$1 user=$2 name=$3 label=$4 t0 t1
  if [ "${5:-}" = sample ]; then
    gssh "$guest" root 'rm -f /run/ps-stop /run/ps-samples; setsid -f sh -c "while [ ! -e /run/ps-stop ]; do ps -eo args >>/run/ps-samples; echo ---- >>/run/ps-samples; done" </dev/null >/dev/null 2>&1' </dev/null
  fi
  gssh "$guest" "$user" true </dev/null
  t0=$EPOCHREALTIME
  REG_RC=0
  gssh "$guest" "$user" "$(cat "$REG_DIR/$name.command")" <"$REG_DIR/$name.stdin" >"$REG_DIR/out" 2>"$REG_DIR/err" || REG_RC=$?
  t1=$EPOCHREALTIME
  if [ "${5:-}" = sample ]; then gssh "$guest" root 'touch /run/ps-stop; sleep 0.3' </dev/null; fi
  REG_OUT=$(<"$REG_DIR/out")
  REG_ERR=$(<"$REG_DIR/err")
  printf '  run   %-58s exit %d; %s s\n' "$label" "$REG_RC" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
}

reg_show() { sed 's/^/          | /' "$REG_DIR/out" "$REG_DIR/err"; }

# reg_record GUEST KEY: a value the stand-in installer recorded.
reg_record() { gssh "$1" root "sed -n 's/^$2=//p' /var/lib/rancher-standin/record" </dev/null; }
reg_runs() { gssh "$1" root 'wc -l </var/lib/rancher-standin/runs 2>/dev/null || echo 0' </dev/null; }

# reg_no_token GUEST LABEL: the token appears in nothing the run printed, nor in the guest's files
# under /etc, /var, /run and /tmp (grep reads the token from a file, never from its arguments).
reg_no_token() {
  local guest=$1 label=$2 found
  if grep -qF -f "$REG_DIR/token" "$REG_DIR/out" "$REG_DIR/err"; then
    fail "$label: the token is absent from everything the command printed"
  else
    pass "$label: the token is absent from everything the command printed"
  fi
  gssh "$guest" root 'cat >/root/.token-pattern' <"$REG_DIR/token"
  found=$(gssh "$guest" root 'grep -rlF -f /root/.token-pattern /etc /var /run /tmp 2>/dev/null | grep -v "^/run/ps-samples$" || true' </dev/null)
  expect_eq "$label: the token is in no file under /etc, /var, /run, /tmp (logs included)" "$found" ""
}

# reg_ps_check GUEST LABEL TOKEN_FILE: the sampled process lists never held the token, and caught the run.
reg_ps_check() {
  local guest=$1 label=$2 samples caught connect leaked
  gssh "$guest" root 'cat >/root/.token-pattern' <"$3"
  samples=$(gssh "$guest" root 'grep -c "^----$" /run/ps-samples' </dev/null)
  caught=$(gssh "$guest" root 'grep -c "install\.sh" /run/ps-samples || true' </dev/null)
  connect=$(gssh "$guest" root 'grep -c "v3/connect/agent" /run/ps-samples || true' </dev/null)
  leaked=$(gssh "$guest" root 'grep -cF -f /root/.token-pattern /run/ps-samples || true' </dev/null)
  echo "          ($samples process lists sampled during the run; the installer seen in $caught lines, its token request in $connect)"
  if [ "$samples" -gt 0 ] && [ "$caught" -gt 0 ]; then
    pass "$label: process lists were sampled while Rancher's installer ran"
  else
    fail "$label: process lists were sampled while Rancher's installer ran" "samples $samples, installer lines $caught"
  fi
  expect_eq "$label: the token is in none of the $samples sampled process lists" "$leaked" 0
}

# reg_checks_first GUEST LABEL: what the first successful registration must have done.
reg_checks_first() {
  local guest=$1 label=$2
  expect_eq "$label: exit 0" "$REG_RC" 0
  [ "$REG_RC" -eq 0 ] || reg_show
  expect_eq "$label: the installer got no arguments (everything from its environment)" "$(reg_record "$guest" args)" 0
  expect_eq "$label: CATTLE_SERVER" "$(reg_record "$guest" server)" "$REG_SERVER"
  expect_eq "$label: CATTLE_TOKEN is the cluster's token" "$(reg_record "$guest" token_matches)" yes
  expect_eq "$label: CATTLE_CA_CHECKSUM is Rancher's" "$(reg_record "$guest" ca_checksum)" \
    "$(sha256sum "$REG_DIR/ca.pem" | cut -d' ' -f1)"
  expect_eq "$label: roles arrive" "$(reg_record "$guest" roles)" "etcd:true controlplane:true worker:false"
  expect_eq "$label: labels arrive (Rancher's, then the node's)" "$(reg_record "$guest" labels)" \
    "cattle.io/os=linux,topology.kubernetes.io/zone=z1"
  expect_eq "$label: the node name arrives" "$(reg_record "$guest" node_name)" node-1
  expect_eq "$label: the cluster's agent variables arrive" "$(reg_record "$guest" http_proxy)" "http://proxy.example:3128"
  expect_eq "$label: marker names the cluster" \
    "$(gssh "$guest" root 'cat /etc/rancher/hardened-rke2/registered-cluster; ls /etc/rancher/hardened-rke2' </dev/null | tr '\n' ' ')" \
    "c-m-regtest1 registered-cluster "
  expect_eq "$label: agent config written, root only" \
    "$(gssh "$guest" root 'stat -c "%a %U" /etc/rancher/agent /etc/rancher/agent/config.yaml' </dev/null | tr '\n' ' ')" \
    "700 root 600 root "
  expect_match "$label: says what it did" "$REG_OUT" '^registration: node-1 registered to cluster c-m-regtest1 as etcd controlplane with labels topology.kubernetes.io/zone=z1 in [0-9.]+ s$'
}

echo "== registration: two guests, a stand-in Rancher in each over HTTPS with its own CA"
reg_pki
reg_render ok c-m-regtest1 "$REG_DIR/token" yes 60 etcd,controlplane topology.kubernetes.io/zone=z1
reg_render ok-nocacerts c-m-regtest1 "$REG_DIR/token" no 60 etcd,controlplane topology.kubernetes.io/zone=z1
reg_render other c-m-other999 "$REG_DIR/token" yes 60 etcd,controlplane topology.kubernetes.io/zone=z1
printf '%s\n' "$REG_OTHER_TOKEN" >"$REG_DIR/wrong-token"
reg_render wrong c-m-regtest1 "$REG_DIR/wrong-token" yes 30 etcd,controlplane topology.kubernetes.io/zone=z1
expect_eq "rendered stdin carries the token; the command does not" \
  "$(grep -cF -f "$REG_DIR/token" "$REG_DIR/ok.stdin"; grep -cF -f "$REG_DIR/token" "$REG_DIR/ok.command" || true)" $'1\n0'

ra=reg-root
rb=reg-sudo
boot_started=$SECONDS
boot_guest "$ra"
boot_guest "$rb"
bridge_guest "$ra"
bridge_guest "$rb"
wait_guest "$ra"
wait_guest "$rb"
echo "  two guests up in $((SECONDS - boot_started)) s"
reg_setup "$ra"
reg_setup "$rb"

echo "-- R1. as root on a node without sudo; download verified with rancher.caCerts ($ra)"
gssh "$ra" root 'mv /usr/bin/sudo /usr/bin/sudo.removed' </dev/null
expect_eq "R1. the guest has no sudo" "$(gssh "$ra" root 'command -v sudo || echo none' </dev/null)" none
reg_run "$ra" root ok "R1. first registration as root" sample
reg_checks_first "$ra" "R1"
expect_eq "R1. the installer's curl calls trust the stack's CA bundle" "$(reg_record "$ra" curl_ca_bundle)" set
reg_ps_check "$ra" "R1" "$REG_DIR/token"
reg_no_token "$ra" "R1"

echo "-- R2. again: nothing to do"
reg_run "$ra" root ok "R2. second registration as root"
expect_eq "R2. exit 0" "$REG_RC" 0
expect_match "R2. says nothing to do" "$REG_OUT" '^registration: node-1 is registered to cluster c-m-regtest1; nothing to do$'
expect_eq "R2. the installer did not run again" "$(reg_runs "$ra")" 1

echo "-- R3. the node is registered to another cluster"
reg_run "$ra" root other "R3. registration to c-m-other999"
expect_eq "R3. refused: exit 1" "$REG_RC" 1
expect_match "R3. names the cluster it is registered to" "$REG_ERR" \
  '^hardened-rke2: error: node node-1 is registered to cluster c-m-regtest1, not c-m-other999'
expect_eq "R3. the installer did not run" "$(reg_runs "$ra")" 1

echo "-- R4. interrupted after the agent was installed (marker not yet written)"
gssh "$ra" root 'cd /etc/rancher/hardened-rke2 && mv registered-cluster registering-cluster' </dev/null
reg_run "$ra" root ok "R4. re-run after the interruption"
expect_eq "R4. exit 0" "$REG_RC" 0
[ "$REG_RC" -eq 0 ] || reg_show
expect_match "R4. completes it" "$REG_OUT" '^registration: completing the interrupted registration of node-1 to cluster c-m-regtest1$'
expect_eq "R4. marker written, pending gone" "$(gssh "$ra" root 'ls /etc/rancher/hardened-rke2' </dev/null)" registered-cluster
pgids=("${GUEST_PID[$ra]}" "${GUEST_SOCAT[$ra]}")
stop_guest "$ra"
expect_eq "$ra: every guest process is gone" "$(guest_processes_left "${pgids[@]}")" ""

echo "-- R5. through the deploy user and sudo; no rancher.caCerts: Rancher's /cacerts checked against the checksum ($rb)"
reg_run "$rb" deploy wrong "R5a. a wrong token (installer timeout 30 s)" sample
expect_eq "R5a. fails: exit 1" "$REG_RC" 1
expect_match "R5a. says the installer did not finish and why" "$REG_ERR" 'did not finish within 30 s on node-1; it retries for hours when the token is wrong'
expect_match "R5a. shows the installer's last lines" "$REG_ERR" '401 received while downloading Rancher connection information'
if grep -qF -f "$REG_DIR/wrong-token" "$REG_DIR/out" "$REG_DIR/err"; then fail "R5a. the wrong token is not printed"; else pass "R5a. the wrong token is not printed"; fi
reg_ps_check "$rb" "R5a" "$REG_DIR/wrong-token"
expect_eq "R5a. the registration stays pending for this cluster" \
  "$(gssh "$rb" root 'ls /etc/rancher/hardened-rke2; cat /etc/rancher/hardened-rke2/registering-cluster' </dev/null | tr '\n' ' ')" \
  "registering-cluster c-m-regtest1 "
reg_run "$rb" deploy ok-nocacerts "R5b. the right token, through sudo" sample
reg_checks_first "$rb" "R5b"
expect_match "R5b. completes the pending registration" "$REG_OUT" '^registration: completing the interrupted registration'
expect_eq "R5b. no CA bundle given: the installer's curl calls use the checksum" "$(reg_record "$rb" curl_ca_bundle)" ""
reg_ps_check "$rb" "R5b" "$REG_DIR/token"
reg_no_token "$rb" "R5b"
reg_run "$rb" deploy ok-nocacerts "R5c. again, through sudo"
expect_match "R5c. nothing to do" "$REG_OUT" 'nothing to do$'
expect_eq "R5c. the installer ran twice in all (timed out, then completed)" "$(reg_runs "$rb")" 2
pgids=("${GUEST_PID[$rb]}" "${GUEST_SOCAT[$rb]}")
stop_guest "$rb"
expect_eq "$rb: every guest process is gone" "$(guest_processes_left "${pgids[@]}")" ""

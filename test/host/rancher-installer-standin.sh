#!/bin/sh
# A stand-in for Rancher's system-agent installer (rancher/system-agent install.sh), served by the
# tests' stand-in Rancher. It behaves like the real one where hardened-rke2's registration depends on
# it, and records what it was given (never the token itself) for the tests to check:
# - settings from the environment (CATTLE_SERVER, CATTLE_TOKEN, CATTLE_CA_CHECKSUM, CATTLE_ROLE_*,
#   CATTLE_LABELS, CATTLE_NODE_NAME, CATTLE_AGENT_CONFIG_DIR, CATTLE_AGENT_VAR_DIR) or its arguments;
# - refuses to run as anyone but root, and without a role, like the real one;
# - with CATTLE_CA_CHECKSUM, downloads $CATTLE_SERVER/cacerts and exits 1 when its sha256 differs;
# - a wrong token: the real installer retries /v3/connect/agent 4500 times, 5 s apart; so does this one;
# - writes $CATTLE_AGENT_CONFIG_DIR/config.yaml (0600), then fetches the connection information from
#   $CATTLE_SERVER/v3/connect/agent as the real one does, the token in a curl command-line header
#   (-H "Authorization: Bearer ..."), into $CATTLE_AGENT_VAR_DIR/rancher2_connection_info.json.
# The test puts expected_token_sha256='<hex>' on the line after the @expected marker.
# @expected
set -eu

info() { echo "[INFO]  $*"; }
fatal() {
  echo "[FATAL]  $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --etcd) CATTLE_ROLE_ETCD=true; shift ;;
    --controlplane) CATTLE_ROLE_CONTROLPLANE=true; shift ;;
    --worker) CATTLE_ROLE_WORKER=true; shift ;;
    --node-name) CATTLE_NODE_NAME=$2; shift 2 ;;
    --label) CATTLE_LABELS="${CATTLE_LABELS:+$CATTLE_LABELS,}$2"; shift 2 ;;
    --server) CATTLE_SERVER=$2; shift 2 ;;
    --token) CATTLE_TOKEN=$2; shift 2 ;;
    --ca-checksum) CATTLE_CA_CHECKSUM=$2; shift 2 ;;
    *) fatal "Unknown argument passed in ($1)" ;;
  esac
done

[ "$(id -u)" = 0 ] || fatal "This script must run as root."
: "${CATTLE_ROLE_ETCD:=false}" "${CATTLE_ROLE_CONTROLPLANE:=false}" "${CATTLE_ROLE_WORKER:=false}"
[ -n "${CATTLE_TOKEN:-}" ] || fatal "\$CATTLE_TOKEN was not set."
[ -n "${CATTLE_SERVER:-}" ] || fatal "\$CATTLE_SERVER was not set"
if [ "$CATTLE_ROLE_CONTROLPLANE" = false ] && [ "$CATTLE_ROLE_ETCD" = false ] && [ "$CATTLE_ROLE_WORKER" = false ]; then
  fatal "You must select at least one role."
fi
config_dir=${CATTLE_AGENT_CONFIG_DIR:-/etc/rancher/agent}
var_dir=${CATTLE_AGENT_VAR_DIR:-/var/lib/rancher/agent}
record_dir=${var_dir%/var/lib/rancher/agent}/var/lib/rancher-standin
mkdir -p "$record_dir"

token_sha256=$(printf '%s' "$CATTLE_TOKEN" | sha256sum | cut -d' ' -f1)
{
  echo "args=$#"
  echo "server=$CATTLE_SERVER"
  echo "token_matches=$([ "$token_sha256" = "$expected_token_sha256" ] && echo yes || echo no)"
  echo "ca_checksum=${CATTLE_CA_CHECKSUM:-}"
  echo "roles=etcd:$CATTLE_ROLE_ETCD controlplane:$CATTLE_ROLE_CONTROLPLANE worker:$CATTLE_ROLE_WORKER"
  echo "labels=${CATTLE_LABELS:-}"
  echo "node_name=${CATTLE_NODE_NAME:-}"
  echo "http_proxy=${HTTP_PROXY:-}"
  echo "curl_ca_bundle=${CURL_CA_BUNDLE:+set}"
} >"$record_dir/record"
echo run >>"$record_dir/runs"

curl_caflag=''
if [ -n "${CATTLE_CA_CHECKSUM:-}" ]; then
  cacert=$(mktemp)
  curl -fsS --insecure "$CATTLE_SERVER/cacerts" -o "$cacert" || fatal "There was an error downloading CA certificate from Rancher"
  sum=$(sha256sum "$cacert" | cut -d' ' -f1)
  curl_caflag="--cacert $cacert"
  if [ "$sum" != "$CATTLE_CA_CHECKSUM" ]; then
    echo "[ERROR]  Configured cacerts checksum ($sum) does not match given --ca-checksum ($CATTLE_CA_CHECKSUM)" >&2
    exit 1
  fi
  info "Value from $CATTLE_SERVER/cacerts is an x509 certificate"
fi

mkdir -p "$config_dir" "$var_dir"
chmod 700 "$config_dir" "$var_dir"
i=1
while [ "$token_sha256" != "$expected_token_sha256" ]; do
  echo "[ERROR]  401 received while downloading Rancher connection information. Sleeping for 5 seconds and trying again" >&2
  i=$((i + 1))
  [ "$i" -lt 4500 ] || exit 1
  sleep 5
done
umask 0177
cat >"$config_dir/config.yaml" <<CONFIG
workDirectory: $var_dir/work
appliedPlanDirectory: $var_dir/applied
remoteEnabled: true
localEnabled: false
localPlanDirectory: $var_dir/plans
preserveWorkDirectory: false
connectionInfoFile: $var_dir/rancher2_connection_info.json
CONFIG
# shellcheck disable=SC2086 # word-split on purpose, as the real installer does with CURL_CAFLAG
curl -fsS $curl_caflag -H "Authorization: Bearer ${CATTLE_TOKEN}" -H "X-Cattle-Node-Name: ${CATTLE_NODE_NAME:-}" \
  "$CATTLE_SERVER/v3/connect/agent" -o "$var_dir/rancher2_connection_info.json" ||
  fatal "There was an error downloading Rancher connection information. Perhaps --ca-checksum needs to be set?"
info "Successfully downloaded Rancher connection information"
info "Starting/restarting rancher-system-agent.service"
[ -z "${cacert:-}" ] || rm -f "$cacert"

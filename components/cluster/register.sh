#!/usr/bin/env bash
# Registers this node with the stack's Rancher cluster. Rendered by components/cluster/registration.ts,
# which puts the stack's values where the "@values" line is; run as root (renderRemoteCommand uses sudo
# when the SSH user is not root).
#
# What Rancher decides arrives on standard input, one key=value a line (registrationCommand.ts): the
# cluster id, Rancher's URL, the installer's URL, the CA checksum, the agent environment variables and
# the registration token. The script downloads Rancher's system-agent installer and runs it with its
# documented environment (CATTLE_SERVER, CATTLE_TOKEN, CATTLE_CA_CHECKSUM, CATTLE_ROLE_*, CATTLE_LABELS,
# CATTLE_NODE_NAME), so the token is never in a command line, a process list, sudo's log or the output.
#
# Safe to run again: a node registered to this cluster is left alone; a registration that stopped
# half-way (the "registering" marker names this cluster) is completed by running the installer again; a
# node registered to another cluster, or running an agent of another Rancher, is refused, naming it.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
umask 077

# Generated below: node_name, role_etcd, role_controlplane, role_worker ('true'/'false'), node_labels
# (array of key=value), ca_certs (PEM of rancher.caCerts, or ''), installer_timeout (seconds), root (''
# on a node; a temporary directory in tests, so that every path below is under it).
# @values

state_dir=$root/etc/rancher/hardened-rke2
marker=$state_dir/registered-cluster
pending=$state_dir/registering-cluster
agent_config_dir=$root/etc/rancher/agent
agent_var_dir=$root/var/lib/rancher/agent
connection_info=$agent_var_dir/rancher2_connection_info.json
log=$root/var/log/hardened-rke2-registration.log

work=''
cleanup() {
  if [ -n "$work" ]; then rm -rf -- "$work"; fi
}
trap cleanup EXIT

fail() {
  printf 'hardened-rke2: error: %s\n' "$*" >&2
  exit 1
}

# read_input: Rancher's values from standard input into cluster_id, server, installer_url, ca_checksum,
# insecure, rancher_labels, agent_env and token.
read_input() {
  cluster_id='' server='' installer_url='' ca_checksum='' insecure=false token=''
  rancher_labels=()
  agent_env=()
  local line key value
  while IFS= read -r line || [ -n "$line" ]; do
    key=${line%%=*}
    value=${line#*=}
    case $key in
      cluster_id) cluster_id=$value ;;
      server) server=$value ;;
      installer_url) installer_url=$value ;;
      ca_checksum) ca_checksum=$value ;;
      insecure) insecure=$value ;;
      label) rancher_labels+=("$value") ;;
      env)
        [[ ${value%%=*} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || fail "an agent environment variable from Rancher has no valid name"
        agent_env+=("$value")
        ;;
      token) token=$value ;;
      '') ;;
      *) fail "unexpected line on standard input (key ${key:0:40})" ;;
    esac
  done
  if [ -z "$cluster_id" ] || [ -z "$server" ] || [ -z "$installer_url" ] || [ -z "$token" ]; then
    fail "the registration of $node_name needs the cluster id, Rancher's URL, the installer's URL and the token on standard input"
  fi
}

# origin URL: scheme://host[:port] of a URL.
origin() {
  if [[ $1 =~ ^([a-z]+://[^/]+) ]]; then printf '%s' "${BASH_REMATCH[1]}"; else printf '%s' "$1"; fi
}

# agent_server: the Rancher URL the installed agent talks to, the server of the kubeconfig in the
# connection information Rancher's installer saved; empty when there is none.
agent_server() {
  local text re='server:[[:space:]]*[\"]*(https?://[^\"[:space:],]+)'
  [ -f "$connection_info" ] || return 0
  text=$(<"$connection_info")
  if [[ $text =~ $re ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}

# write_atomic PATH TEXT: replaces the file whole (rename), so a crash leaves the old or the new one.
write_atomic() {
  printf '%s\n' "$2" >"$1.tmp"
  mv -f -- "$1.tmp" "$1"
}

# redact: copies standard input to standard output with the token replaced (bash only: no process
# ever gets the token as an argument).
redact() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    printf '%s\n' "${line//"$token"/[token]}"
  done
}

# curl as Rancher's installer sees it: its request for the connection information passes the token
# as a command-line header (-H "Authorization: Bearer <token>"), which every process list would show
# for the length of that request. This function, exported to the installer (which runs under bash),
# hands that header to curl in a root-only file (-H @file) instead; every other call is unchanged.
curl() {
  local args=() header='' status=0
  while [ $# -gt 0 ]; do
    if [ "$1" = -H ] && [[ ${2-} == "Authorization: Bearer "* ]]; then
      header=$(mktemp)
      printf '%s\n' "$2" >"$header"
      args+=(-H "@$header")
      shift 2
    else
      args+=("$1")
      shift
    fi
  done
  command curl "${args[@]}" || status=$?
  if [ -n "$header" ]; then rm -f -- "$header"; fi
  return "$status"
}

# tls_options: sets curl_tls to how this node verifies Rancher's certificate.
tls_options() {
  curl_tls=()
  if [ -n "$ca_certs" ]; then
    # rancher.caCerts: the download is verified with exactly this bundle. The installer's own curl
    # calls get it through CURL_CA_BUNDLE, together with the system's bundle for its GitHub download.
    printf '%s\n' "$ca_certs" >"$work/rancher-ca.pem"
    curl_tls=(--cacert "$work/rancher-ca.pem")
    cat "$work/rancher-ca.pem" >"$work/bundle.pem"
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cat /etc/ssl/certs/ca-certificates.crt >>"$work/bundle.pem"; fi
  elif [ "$insecure" = true ]; then
    curl_tls=(--insecure)
  elif [ -n "$ca_checksum" ]; then
    # Rancher's private CA without rancher.caCerts: take Rancher's /cacerts if its sha256 is the
    # checksum Rancher put in the command, as Rancher's installer itself does.
    curl -fsS --insecure --connect-timeout 30 --max-time 60 -o "$work/cacerts.pem" "$server/cacerts" ||
      fail "cannot download $server/cacerts to check Rancher's CA"
    local sum
    sum=$(sha256sum "$work/cacerts.pem")
    sum=${sum%% *}
    [ "$sum" = "$ca_checksum" ] ||
      fail "the CA at $server/cacerts has sha256 $sum, not the checksum $ca_checksum of the registration command; set rancher.caCerts to the CA that signed Rancher's certificate"
    curl_tls=(--cacert "$work/cacerts.pem")
  fi
}

# install_agent: downloads Rancher's installer and runs it with its environment; its output, token
# redacted, goes to the log.
install_agent() {
  local labels assignment status=0
  work=$(mktemp -d)
  tls_options
  curl -fsS "${curl_tls[@]}" --connect-timeout 30 --max-time 300 -o "$work/install.sh" "$installer_url" ||
    fail "cannot download Rancher's installer from $installer_url (certificate or network; see above)"
  labels=$(IFS=,; printf '%s' "${rancher_labels[*]}${rancher_labels[*]:+${node_labels[*]:+,}}${node_labels[*]}")
  mkdir -p -- "$(dirname -- "$log")"
  (
    for assignment in "${agent_env[@]}"; do export "${assignment?}"; done
    export CATTLE_SERVER="$server" CATTLE_TOKEN="$token" CATTLE_CA_CHECKSUM="$ca_checksum" \
      CATTLE_ROLE_ETCD="$role_etcd" CATTLE_ROLE_CONTROLPLANE="$role_controlplane" CATTLE_ROLE_WORKER="$role_worker" \
      CATTLE_LABELS="$labels" CATTLE_NODE_NAME="$node_name" \
      CATTLE_AGENT_CONFIG_DIR="$agent_config_dir" CATTLE_AGENT_VAR_DIR="$agent_var_dir"
    if [ -f "$work/bundle.pem" ]; then export CURL_CA_BUNDLE="$work/bundle.pem"; fi
    export -f curl
    exec timeout --kill-after=10 "$installer_timeout" bash "$work/install.sh"
  ) </dev/null 2>&1 | redact >"$log" || status=$?
  if [ "$status" -ne 0 ]; then
    if [ "$status" -eq 124 ]; then
      echo "hardened-rke2: error: Rancher's installer did not finish within $installer_timeout s on $node_name; it retries for hours when the token is wrong or Rancher cannot be reached. Its last lines ($log on the node):" >&2
    else
      echo "hardened-rke2: error: Rancher's installer failed on $node_name (exit $status). Its last lines ($log on the node):" >&2
    fi
    tail -n 20 -- "$log" >&2
    exit 1
  fi
  [ -f "$agent_config_dir/config.yaml" ] ||
    fail "Rancher's installer finished on $node_name but wrote no $agent_config_dir/config.yaml"
}

main() {
  local started=${EPOCHREALTIME:-} registered='' starting='' installed=false found='' elapsed=''
  [ "$EUID" -eq 0 ] || fail "this script must run as root"
  read_input
  if [ -f "$marker" ]; then registered=$(<"$marker"); fi
  if [ -f "$pending" ]; then starting=$(<"$pending"); fi
  if [ -f "$agent_config_dir/config.yaml" ]; then installed=true; fi
  found=$(agent_server)

  if [ -n "$registered" ] && [ "$registered" != "$cluster_id" ]; then
    fail "node $node_name is registered to cluster $registered, not $cluster_id. Delete it from cluster $registered in Rancher and run rancher-system-agent-uninstall.sh and rke2-uninstall.sh on it, or take the node out of this stack."
  fi
  if [ -n "$starting" ] && [ "$starting" != "$cluster_id" ]; then
    fail "node $node_name was being registered to cluster $starting, not $cluster_id. Finish or undo that registration (rancher-system-agent-uninstall.sh), or take the node out of this stack."
  fi
  if [ -n "$found" ] && [ "$(origin "$found")" != "$(origin "$server")" ]; then
    fail "node $node_name runs rancher-system-agent registered with the Rancher at $found, not $server. Uninstall it (rancher-system-agent-uninstall.sh) or take the node out of this stack."
  fi
  if [ "$installed" = true ] && [ -z "$registered" ] && [ -z "$starting" ]; then
    fail "node $node_name already runs rancher-system-agent${found:+ for the Rancher at $found} from a registration this stack did not make. Uninstall it (rancher-system-agent-uninstall.sh) or take the node out of this stack."
  fi
  if [ "$registered" = "$cluster_id" ] && [ "$installed" = true ] && [ -n "$found" ]; then
    echo "registration: $node_name is registered to cluster $cluster_id; nothing to do"
    return 0
  fi

  if [ -n "$starting" ]; then
    echo "registration: completing the interrupted registration of $node_name to cluster $cluster_id"
  elif [ -n "$registered" ]; then
    echo "registration: $node_name is marked registered to cluster $cluster_id but its agent is gone; registering again"
  fi
  mkdir -p -- "$state_dir"
  write_atomic "$pending" "$cluster_id"
  install_agent
  write_atomic "$marker" "$cluster_id"
  rm -f -- "$pending"
  if [ -n "$started" ] && [ -n "${EPOCHREALTIME:-}" ]; then
    elapsed=$(((${EPOCHREALTIME/[.,]/} - ${started/[.,]/}) / 1000))
    printf -v elapsed ' in %d.%03d s' $((elapsed / 1000)) $((elapsed % 1000))
  fi
  local roles=()
  if [ "$role_etcd" = true ]; then roles+=(etcd); fi
  if [ "$role_controlplane" = true ]; then roles+=(controlplane); fi
  if [ "$role_worker" = true ]; then roles+=(worker); fi
  echo "registration: $node_name registered to cluster $cluster_id as ${roles[*]}${node_labels[*]:+ with labels ${node_labels[*]}}$elapsed"
}

main "$@"

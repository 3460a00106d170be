import {
  AUDIT_POLICY_PATH,
  ROOT_CHECK,
  RUN_MAIN,
  WRITE_FILE_FUNCTIONS,
  renderScriptPrologue,
  shellQuote,
} from "./render";

/** How long a restarted rke2-server may take until its API server answers `/readyz` again. */
export const READYZ_TIMEOUT_SECONDS = 600;

/**
 * The script that brings one server node's audit policy to `auditPolicyYaml` after installation
 * (run as root, through `renderRemoteCommand`, one server at a time).
 *
 * - File already byte-identical: prints
 *   `audit-policy.yaml: unchanged, rke2-server not restarted` and exits 0. RKE2 reads the policy
 *   only when kube-apiserver starts, so an identical file needs no restart (its owner and mode are
 *   still set to root and 0600).
 * - Otherwise: atomic rewrite (temp file and rename, 0600, root), `systemctl restart rke2-server`
 *   (the guide's way to load a new policy), then waits until the local API server answers
 *   `/readyz`; restart and wait together take at most {@link READYZ_TIMEOUT_SECONDS}. The next
 *   server restarts only when this one serves again, so etcd keeps quorum. On timeout it fails
 *   with the last answer it got.
 *
 * Readiness is asked with what RKE2 itself installs on every server: the kubectl it unpacks to
 * `/var/lib/rancher/rke2/bin/kubectl` and the admin kubeconfig `/etc/rancher/rke2/rke2.yaml`, which
 * points at this node's API server (`https://127.0.0.1:6443`) with the cluster CA and an admin
 * client certificate. curl is not guaranteed on the host, and the kubeconfig spares the script the
 * certificate paths under `server/tls`, which differ between RKE2 versions.
 */
export function renderAuditPolicyUpdateScript(auditPolicyYaml: string): string {
  const body = `${ROOT_CHECK}
  if content_matches "$audit_policy_path" "$audit_policy"; then
    # Same policy: kube-apiserver already runs with it. Owner and mode are still enforced.
    if [ "$(stat -c '%a %u %g' -- "$audit_policy_path")" != "600 0 0" ]; then
      chown root:root -- "$audit_policy_path"
      chmod 0600 -- "$audit_policy_path"
      echo "audit-policy.yaml: owner and mode fixed"
    fi
    echo "audit-policy.yaml: unchanged, rke2-server not restarted"
    return 0
  fi
  if [ ! -x "$kubectl" ] || [ ! -r "$kubeconfig" ]; then
    echo "hardened-rke2: error: $kubectl or $kubeconfig missing: this is not an RKE2 server node, or RKE2 is not installed yet; nothing was changed" >&2
    exit 7
  fi
  if [ ! -d /etc/rancher/rke2 ]; then
    [ -d /etc/rancher ] || mkdir -m 0755 /etc/rancher
    mkdir -m 0700 /etc/rancher/rke2
  fi
  replace_file "$audit_policy_path" 0600 "$audit_policy"
  echo "audit-policy.yaml: written"
  # The whole restart and wait share one deadline: RKE2's unit has no start timeout
  # (TimeoutStartSec=0), so even the restart itself is bounded here.
  local deadline=$((SECONDS + timeout)) answer=''
  if ! timeout "$timeout" systemctl restart rke2-server.service; then
    echo "hardened-rke2: error: systemctl restart rke2-server.service failed or took longer than $timeout s" >&2
    exit 8
  fi
  echo "rke2-server: restarted, waiting for the API server's /readyz (at most until $timeout s after the restart began)"
  until answer=$("$kubectl" --kubeconfig "$kubeconfig" --request-timeout=10s get --raw /readyz 2>&1); do
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf 'hardened-rke2: error: the API server on this node did not answer /readyz within %s s after the restart; last answer: %s\\n' "$timeout" "$answer" >&2
      exit 8
    fi
    sleep 5
  done
  echo "kube-apiserver: ready ($answer)"`;

  return [
    renderScriptPrologue("hardened-rke2 audit policy update on an RKE2 server (CIS 1.2.22-1.2.25)."),
    "# Values from the stack, each one single-quoted shell word: nothing in them expands.",
    `audit_policy_path=${shellQuote(AUDIT_POLICY_PATH)}`,
    `audit_policy=${shellQuote(auditPolicyYaml)}`,
    `kubectl=${shellQuote("/var/lib/rancher/rke2/bin/kubectl")}`,
    `kubeconfig=${shellQuote("/etc/rancher/rke2/rke2.yaml")}`,
    `timeout=${shellQuote(String(READYZ_TIMEOUT_SECONDS))}`,
    "",
    WRITE_FILE_FUNCTIONS,
    "",
    "main() {",
    body,
    "}",
    RUN_MAIN,
    "",
  ].join("\n");
}

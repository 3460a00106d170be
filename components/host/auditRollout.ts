import { renderScript } from "../shell/script";
import { AUDIT_POLICY_PATH } from "./render";

/** How long a restarted rke2-server may take until its API server answers `/readyz` again. */
export const READYZ_TIMEOUT_SECONDS = 600;

/** The fixed bash of the roll-out (what it checks, keeps, restores: see the file's header). */
export const AUDIT_ROLLOUT_SCRIPT = "components/host/audit-rollout.sh";

/** Where the roll-out keeps the policy it replaced, to restore it when the new one fails. */
export const PREVIOUS_AUDIT_POLICY_PATH = `${AUDIT_POLICY_PATH}.previous`;
/** Boot id and ticks since boot when the roll-out wrote the policy: an API server must start after. */
export const AUDIT_POLICY_WRITTEN_MARK = "/etc/rancher/rke2/.audit-policy.hardened-rke2-written";

/** Where RKE2 unpacks kubectl on every server, and its admin kubeconfig (this node's API server). */
export const RKE2_KUBECTL = "/var/lib/rancher/rke2/bin/kubectl";
export const RKE2_KUBECONFIG = "/etc/rancher/rke2/rke2.yaml";

/**
 * The script that brings one control-plane node's audit policy to `auditPolicyYaml` after
 * installation, run as root through `renderRemoteCommand`, one control-plane node at a time.
 *
 * Readiness is asked with what RKE2 itself installs on every server: its kubectl and the admin
 * kubeconfig, which points at this node's API server (`https://127.0.0.1:6443`); curl is not
 * guaranteed on the host. Whether the API server restarted is read from `/proc`: the start time of
 * every `kube-apiserver` process against the time the policy was written.
 */
export function renderAuditPolicyUpdateScript(nodeName: string, auditPolicyYaml: string): string {
  return renderScript(AUDIT_ROLLOUT_SCRIPT, {
    node_name: nodeName,
    audit_policy_path: AUDIT_POLICY_PATH,
    audit_policy: auditPolicyYaml,
    previous_path: PREVIOUS_AUDIT_POLICY_PATH,
    written_mark: AUDIT_POLICY_WRITTEN_MARK,
    kubectl: RKE2_KUBECTL,
    kubeconfig: RKE2_KUBECONFIG,
    timeout: READYZ_TIMEOUT_SECONDS,
    poll_seconds: 5,
    proc_root: "/proc",
    // USER_HZ: what /proc/PID/stat counts in on every Linux architecture RKE2 supports.
    clk_tck: 100,
  });
}

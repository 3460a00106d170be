import type { AuditLevel } from "./model";

/**
 * Default reconciler image: `rancher/shell`, the image Rancher itself runs for chart operations and its
 * "Kubectl Shell". It has kubectl and a POSIX shell (SUSE BCI busybox base) and a numeric non-root
 * user (1000), and it is listed in Rancher's `rancher-images.txt`, so air-gapped Rancher installations
 * already mirror it. `rancher/kubectl` was rejected: it is built `FROM scratch` with only the kubectl
 * binary (no shell to run a script). v0.6.x is the line of Rancher v2.13 (kubectl v1.33); the script
 * uses only long-stable kubectl verbs (get/patch/create on core and networking/v1 objects), so the
 * usual kubectl version skew is not a concern. Pin a tag your registry mirrors with `reconciler.image`.
 */
export const DEFAULT_RECONCILER_IMAGE = "rancher/shell:v0.6.4";

/**
 * The catch-all audit level when the stack sets none: `Metadata` records who did what to which object
 * and when, without request or response bodies (no Secret contents in the log). RKE2's own default
 * (`None`) records nothing, which is why the hardening guide tells operators to change it.
 */
export const DEFAULT_AUDIT_LEVEL: AuditLevel = "Metadata";

/** Rancher's seed values: every default below that the reference template sets equals the template's value. */
export const SEED_DEFAULTS = {
  cni: "canal",
  chartValues: { "rke2-canal": {} },
  disableSnapshots: false,
  snapshotRetention: 5,
  snapshotScheduleCron: "0 */5 * * *",
  controlPlaneConcurrency: "10%",
  workerConcurrency: "10%",
  localAuthEndpointEnabled: false,
  fleetNamespace: "fleet-default",
  protectKernelDefaults: true,
} as const;

import type { ScanModel } from "../../config/model";

/**
 * Pure renderers of Rancher's CIS scan: the ClusterScan object (schema of the cis-operator's and the
 * compliance-operator's `clusterscans` CRD, `crds/clusterscan.yaml`) and the verdict on its summary.
 */

/** The ClusterScan's name in the cluster (cluster-scoped). */
export const CLUSTER_SCAN_NAME = "hardened-rke2";

/** The operator's counts after a run (`.status.summary` of the CRD). */
export interface ScanSummary {
  readonly pass: number;
  readonly fail: number;
  readonly warn: number;
  readonly skip: number;
  readonly notApplicable: number;
  readonly total: number;
}

export interface ClusterScanManifest {
  readonly apiVersion: string;
  readonly kind: "ClusterScan";
  readonly metadata: { readonly name: string; readonly annotations: Readonly<Record<string, string>> };
  readonly spec: {
    readonly scanProfileName: string;
    readonly scoreWarning: "pass" | "fail";
    readonly scheduledScanConfig: { readonly cronSchedule: string; readonly retentionCount: number };
  };
}

/**
 * The ClusterScan: the chosen profile, on the stack's schedule. `pulumi.com/waitFor` makes `pulumi up` wait
 * (up to `pulumi.com/timeoutSeconds`) until the operator marks the run `Complete`, which it does right after
 * it writes `.status.summary` (cis-operator `pkg/securityscan/jobHandler.go`); the program then judges the
 * summary ({@link scanVerdict}). Warnings count as passes (`scoreWarning: pass`): they are the benchmark's
 * manual checks, which no scan can decide.
 */
export function renderClusterScan(scan: ScanModel): ClusterScanManifest {
  return {
    apiVersion: `${scan.apiGroup}/v1`,
    kind: "ClusterScan",
    metadata: {
      name: CLUSTER_SCAN_NAME,
      annotations: {
        "pulumi.com/waitFor": "condition=Complete",
        "pulumi.com/timeoutSeconds": String(scan.timeoutSeconds),
      },
    },
    spec: {
      scanProfileName: scan.profile,
      scoreWarning: "pass",
      scheduledScanConfig: { cronSchedule: scan.schedule, retentionCount: scan.retentionCount },
    },
  };
}

/** Reads the operator's summary; counts it does not report are 0 (an older operator has no `warn`). */
export function readSummary(status: unknown): ScanSummary | undefined {
  const summary = (status as { summary?: Record<string, unknown> } | undefined)?.summary;
  if (typeof summary !== "object" || summary === null) return undefined;
  const count = (key: string) => (typeof summary[key] === "number" ? summary[key] : 0);
  return {
    pass: count("pass"),
    fail: count("fail"),
    warn: count("warn"),
    skip: count("skip"),
    notApplicable: count("notApplicable"),
    total: count("total"),
  };
}

/** Why `pulumi up` must fail for this summary, or undefined when the failures are within the tolerance. */
export function scanVerdict(
  summary: ScanSummary,
  toleratedFailures: number,
  profile: string,
): string | undefined {
  if (summary.fail <= toleratedFailures) return undefined;
  return (
    `The CIS scan (${profile}) failed ${summary.fail} check${summary.fail === 1 ? "" : "s"} ` +
    `(pass ${summary.pass}, warn ${summary.warn}, skip ${summary.skip}); the stack tolerates ${toleratedFailures}. ` +
    `See the report: kubectl get clusterscanreports, or Rancher's CIS scan page; ` +
    `to accept failures set hardened-rke2:scan.toleratedFailures.`
  );
}

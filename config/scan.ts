import * as semver from "semver";
import type { CisProfile, ClusterModel, ScanApiGroup, ScanModel } from "./model";
import { describeValue, setCommand } from "./problems";
import type { Reader } from "./reader";
import { parseRke2Version } from "./profiles";

/**
 * The `scan` section: Rancher's CIS scan app and the scheduled ClusterScan. Every rule about it lives here
 * and runs in the one gate (config/validate.ts), so that the scan profile is known before any resource
 * registers.
 */

export const SCAN_KEYS = [
  "enabled",
  "rancherVersion",
  "chartVersion",
  "profile",
  "schedule",
  "retentionCount",
  "toleratedFailures",
  "timeoutSeconds",
] as const;

export const SCAN_DEFAULTS = {
  rancherVersion: "2.11",
  // The cis-operator's own default schedule (DefaultCronSchedule in pkg/apis/cis.cattle.io/v1/types.go).
  schedule: "0 0 * * *",
  // The cis-operator's DefaultRetention.
  retentionCount: 3,
  toleratedFailures: 0,
  timeoutSeconds: 1800,
} as const;

/** The first Rancher minor with `rancher-compliance` (`compliance.cattle.io`) instead of `rancher-cis-benchmark`. */
const FIRST_COMPLIANCE_RANCHER = "2.12.0";
/** The first Rancher minor with the Helm-based `rancher-cis-benchmark` app (v2 scans). */
const FIRST_SCAN_APP_RANCHER = "2.5.0";

/** The app for each API group, as Rancher's chart repository names it (Chart.yaml annotations of each chart). */
export const SCAN_APPS: Readonly<
  Record<ScanApiGroup, { chartName: string; crdChartName: string; namespace: string }>
> = {
  // rancher/cis-operator chart/Chart.yaml: catalog.cattle.io/namespace, auto-install rancher-cis-benchmark-crd.
  "cis.cattle.io": {
    chartName: "rancher-cis-benchmark",
    crdChartName: "rancher-cis-benchmark-crd",
    namespace: "cis-operator-system",
  },
  // rancher/compliance-operator chart/Chart.yaml: same layout under the new names.
  "compliance.cattle.io": {
    chartName: "rancher-compliance",
    crdChartName: "rancher-compliance-crd",
    namespace: "compliance-operator-system",
  },
};

export function scanApiGroupFor(rancherVersion: semver.SemVer): ScanApiGroup {
  return semver.gte(rancherVersion, FIRST_COMPLIANCE_RANCHER) ? "compliance.cattle.io" : "cis.cattle.io";
}

/**
 * One row of the profile table: the ClusterScanBenchmark's Kubernetes range (`minKubernetesVersion`,
 * `maxKubernetesVersion` of the chart's benchmark) and its profiles. Up to CIS 1.8 Rancher ships a
 * hardened profile (for clusters with RKE2's CIS profile) and a permissive one; from 1.9 on there is one.
 */
interface ProfileRow {
  readonly min: string;
  /** Exclusive upper bound; none for the newest row. */
  readonly below?: string;
  readonly hardened: string;
  readonly permissive?: string;
}

export const SCAN_PROFILES: Readonly<Record<ScanApiGroup, readonly ProfileRow[]>> = {
  // rancher/charts packages/rancher-cis-benchmark (benchmark-rke2-cis-1.6-*: min 1.18.0, the hardening
  // guide's CIS 1.6) and rancher/cis-operator chart/templates (1.7: 1.25.x, 1.8: 1.26.x, 1.9: from 1.27.0).
  "cis.cattle.io": [
    {
      min: "1.18.0",
      below: "1.25.0",
      hardened: "rke2-cis-1.6-profile-hardened",
      permissive: "rke2-cis-1.6-profile-permissive",
    },
    {
      min: "1.25.0",
      below: "1.26.0",
      hardened: "rke2-cis-1.7-profile-hardened",
      permissive: "rke2-cis-1.7-profile-permissive",
    },
    {
      min: "1.26.0",
      below: "1.27.0",
      hardened: "rke2-cis-1.8-profile-hardened",
      permissive: "rke2-cis-1.8-profile-permissive",
    },
    { min: "1.27.0", hardened: "rke2-cis-1.9-profile" },
  ],
  // rancher/compliance-operator chart/templates/benchmark-rke2-cis-*.yaml.
  "compliance.cattle.io": [
    { min: "1.27.0", below: "1.28.0", hardened: "rke2-cis-1.9-profile" },
    { min: "1.28.0", below: "1.29.0", hardened: "rke2-cis-1.10-profile" },
    { min: "1.29.0", below: "1.32.0", hardened: "rke2-cis-1.11-profile" },
    { min: "1.32.0", hardened: "rke2-cis-1.12-profile" },
  ],
};

/**
 * The scan profile for a cluster: the benchmark whose Kubernetes range holds the cluster's version, hardened
 * when RKE2 runs a CIS profile, permissive (where Rancher has one) when the stack disabled it. Undefined when
 * the app has no RKE2 benchmark for that version.
 */
export function scanProfileFor(
  apiGroup: ScanApiGroup,
  kubernetesVersion: semver.SemVer,
  rke2Profile: CisProfile | undefined,
): string | undefined {
  // Release candidates are scanned as the release they lead to.
  const release = `${kubernetesVersion.major}.${kubernetesVersion.minor}.${kubernetesVersion.patch}`;
  const row = SCAN_PROFILES[apiGroup].find(
    (r) => semver.gte(release, r.min) && (r.below === undefined || semver.lt(release, r.below)),
  );
  if (!row) return undefined;
  return rke2Profile === undefined ? (row.permissive ?? row.hardened) : row.hardened;
}

/**
 * Validates `hardened-rke2:scan` against the cluster it scans, with the configuration's one reader (its cron
 * grammar, numbers, booleans and unknown-key messages).
 */
export function readScanConfig(
  v: Reader,
  value: unknown,
  cluster: ClusterModel | undefined,
): ScanModel | undefined {
  const obj = v.object("scan", value ?? {}, SCAN_KEYS);
  if (!obj) return undefined;
  const enabled = v.boolean("scan.enabled", obj.enabled) ?? true;

  const rancherText = obj.rancherVersion ?? SCAN_DEFAULTS.rancherVersion;
  const rancherVersion =
    typeof rancherText === "string" && /^v?\d+\.\d+(\.\d+)?$/.test(rancherText)
      ? semver.coerce(rancherText)
      : null;
  if (!rancherVersion || semver.lt(rancherVersion, FIRST_SCAN_APP_RANCHER)) {
    v.error("scan.rancherVersion", "This is not a Rancher version with the CIS scan app (2.5 or later).", {
      value: describeValue(rancherText),
      allowed:
        "MAJOR.MINOR of the Rancher server, e.g. 2.11 (rancher-cis-benchmark) or 2.12 (rancher-compliance)",
      fix: setCommand("scan.rancherVersion", SCAN_DEFAULTS.rancherVersion),
    });
  }
  const chartVersion = v.string("scan.chartVersion", obj.chartVersion, { example: "106.0.0+up8.0.0" });
  if (chartVersion !== undefined && semver.valid(chartVersion) === null) {
    v.error("scan.chartVersion", "This is not a chart version.", {
      value: describeValue(chartVersion),
      allowed: "a version of the chart in Rancher's rancher-charts repository, e.g. 106.0.0+up8.0.0",
      fix: `pulumi config rm --path 'hardened-rke2:scan.chartVersion' (Rancher then picks its newest)`,
    });
  }
  const configuredProfile = v.string("scan.profile", obj.profile, {
    example: "rke2-cis-1.6-profile-hardened",
  });
  if (configuredProfile !== undefined && !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(configuredProfile)) {
    v.error("scan.profile", "This is not a ClusterScanProfile name.", {
      value: describeValue(configuredProfile),
      allowed: "the name of a ClusterScanProfile, e.g. rke2-cis-1.6-profile-hardened",
      fix: setCommand("scan.profile", "rke2-cis-1.6-profile-hardened"),
    });
  }
  const schedule = v.cron("scan.schedule", obj.schedule, SCAN_DEFAULTS.schedule) ?? SCAN_DEFAULTS.schedule;
  const retentionCount =
    v.integer("scan.retentionCount", obj.retentionCount, {
      min: 1,
      max: 100,
      default: SCAN_DEFAULTS.retentionCount,
    }) ?? SCAN_DEFAULTS.retentionCount;
  const toleratedFailures =
    v.integer("scan.toleratedFailures", obj.toleratedFailures, {
      min: 0,
      default: SCAN_DEFAULTS.toleratedFailures,
    }) ?? SCAN_DEFAULTS.toleratedFailures;
  const timeoutSeconds =
    v.integer("scan.timeoutSeconds", obj.timeoutSeconds, {
      min: 60,
      max: 86400,
      default: SCAN_DEFAULTS.timeoutSeconds,
    }) ?? SCAN_DEFAULTS.timeoutSeconds;

  // Other errors are in the collector already: validation returns no model whatever this returns.
  if (!rancherVersion || !cluster) return undefined;
  const apiGroup = scanApiGroupFor(rancherVersion);
  const kubernetes = parseRke2Version(cluster.kubernetesVersion);
  if (!kubernetes) return undefined;
  const profile = configuredProfile ?? scanProfileFor(apiGroup, kubernetes, cluster.profile);
  if (enabled && profile === undefined) {
    const app = SCAN_APPS[apiGroup].chartName;
    v.error(
      "scan.rancherVersion",
      `Rancher ${rancherVersion.major}.${rancherVersion.minor}'s ${app} has no RKE2 scan profile for Kubernetes ${kubernetes.major}.${kubernetes.minor}.`,
      {
        allowed: SCAN_PROFILES[apiGroup].map((r) => `${r.hardened} (from ${r.min})`).join(", "),
        fix: `${setCommand("scan.profile", "NAME")} (a profile your Rancher has), or ${setCommand("scan.enabled", "false")}`,
      },
    );
    return undefined;
  }
  if (enabled && cluster.profile === undefined && configuredProfile === undefined) {
    v.warn(
      "scan.profile",
      `The cluster runs without RKE2's CIS profile: the scan uses ${profile}, and a hardened profile would fail.`,
    );
  }
  return {
    enabled,
    rancherVersion: `${rancherVersion.major}.${rancherVersion.minor}`,
    apiGroup,
    ...SCAN_APPS[apiGroup],
    ...(chartVersion !== undefined ? { chartVersion } : {}),
    profile: profile ?? "",
    schedule,
    retentionCount,
    toleratedFailures,
    timeoutSeconds,
  };
}

import * as semver from "semver";
import type { CisProfile, ClusterModel, ScanApiGroup, ScanModel } from "./model";
import { type ProblemCollector, describeValue, setCommand } from "./problems";
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

type Json = Record<string, unknown>;

/** Reads a whole number in a range, as Pulumi hands numbers over (strings of digits or numbers). */
function wholeNumber(
  problems: ProblemCollector,
  path: string,
  value: unknown,
  min: number,
  fallback: number,
): number | undefined {
  if (value === undefined) return fallback;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min) {
    problems.error(path, "This must be a whole number.", {
      value: describeValue(value),
      allowed: `a whole number ≥ ${min}`,
      fix: setCommand(path, String(fallback)),
    });
    return undefined;
  }
  return n;
}

/**
 * Validates `hardened-rke2:scan` against the cluster it scans. `cron` is the configuration's one cron grammar
 * (config/validate.ts), so the scan's schedule accepts exactly what the other schedules accept.
 */
export function readScanConfig(
  problems: ProblemCollector,
  value: unknown,
  cluster: ClusterModel | undefined,
  cron: (path: string, value: unknown) => string | undefined,
): ScanModel | undefined {
  const obj = (value ?? {}) as Json;
  if (typeof obj !== "object" || Array.isArray(obj)) {
    problems.error("scan", "This must be an object (a YAML map).", { value: describeValue(value) });
    return undefined;
  }
  let ok = true;
  for (const key of Object.keys(obj)) {
    if (!(SCAN_KEYS as readonly string[]).includes(key)) {
      problems.error(`scan.${key}`, "Unknown key.", {
        allowed: SCAN_KEYS.join(", "),
        fix: `pulumi config rm --path 'hardened-rke2:scan.${key}'`,
      });
      ok = false;
    }
  }
  const enabled = obj.enabled === undefined ? true : obj.enabled === true || obj.enabled === "true";
  if (
    obj.enabled !== undefined &&
    !["true", "false", true, false].includes(obj.enabled as string | boolean)
  ) {
    problems.error("scan.enabled", "This must be true or false.", {
      value: describeValue(obj.enabled),
      fix: setCommand("scan.enabled", "true"),
    });
    ok = false;
  }

  const rancherText = obj.rancherVersion === undefined ? SCAN_DEFAULTS.rancherVersion : obj.rancherVersion;
  const rancherVersion =
    typeof rancherText === "string" && /^v?\d+\.\d+(\.\d+)?$/.test(rancherText)
      ? semver.coerce(rancherText)
      : null;
  if (!rancherVersion || semver.lt(rancherVersion, FIRST_SCAN_APP_RANCHER)) {
    problems.error(
      "scan.rancherVersion",
      "This is not a Rancher version with the CIS scan app (2.5 or later).",
      {
        value: describeValue(rancherText),
        allowed:
          "MAJOR.MINOR of the Rancher server, e.g. 2.11 (rancher-cis-benchmark) or 2.12 (rancher-compliance)",
        fix: setCommand("scan.rancherVersion", "2.11"),
      },
    );
    ok = false;
  }

  const chartVersion = obj.chartVersion;
  if (
    chartVersion !== undefined &&
    (typeof chartVersion !== "string" || semver.valid(chartVersion) === null)
  ) {
    problems.error("scan.chartVersion", "This is not a chart version.", {
      value: describeValue(chartVersion),
      allowed: "a version of the chart in Rancher's rancher-charts repository, e.g. 106.0.0+up8.0.0",
    });
    ok = false;
  }
  const configuredProfile = obj.profile;
  if (
    configuredProfile !== undefined &&
    (typeof configuredProfile !== "string" || !/^[a-z0-9][a-z0-9.-]*$/.test(configuredProfile))
  ) {
    problems.error("scan.profile", "This is not a ClusterScanProfile name.", {
      value: describeValue(configuredProfile),
      allowed: "the name of a ClusterScanProfile, e.g. rke2-cis-1.6-profile-hardened",
    });
    ok = false;
  }
  const schedule = obj.schedule === undefined ? SCAN_DEFAULTS.schedule : cron("scan.schedule", obj.schedule);
  const retentionCount = wholeNumber(
    problems,
    "scan.retentionCount",
    obj.retentionCount,
    1,
    SCAN_DEFAULTS.retentionCount,
  );
  const toleratedFailures = wholeNumber(
    problems,
    "scan.toleratedFailures",
    obj.toleratedFailures,
    0,
    SCAN_DEFAULTS.toleratedFailures,
  );
  const timeoutSeconds = wholeNumber(
    problems,
    "scan.timeoutSeconds",
    obj.timeoutSeconds,
    60,
    SCAN_DEFAULTS.timeoutSeconds,
  );

  if (!ok || !rancherVersion || !cluster || schedule === undefined) return undefined;
  if (retentionCount === undefined || toleratedFailures === undefined || timeoutSeconds === undefined)
    return undefined;
  const apiGroup = scanApiGroupFor(rancherVersion);
  const kubernetes = parseRke2Version(cluster.kubernetesVersion);
  if (!kubernetes) return undefined;
  const chosen = scanProfileFor(apiGroup, kubernetes, cluster.profile);
  const profile = (configuredProfile as string | undefined) ?? chosen;
  if (enabled && profile === undefined) {
    const app = SCAN_APPS[apiGroup].chartName;
    problems.error(
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
    problems.warn(
      "scan.profile",
      `The cluster runs without RKE2's CIS profile: the scan uses ${profile}, and a hardened profile would fail.`,
    );
  }
  return {
    enabled,
    rancherVersion: `${rancherVersion.major}.${rancherVersion.minor}`,
    apiGroup,
    ...SCAN_APPS[apiGroup],
    ...(chartVersion !== undefined ? { chartVersion: chartVersion as string } : {}),
    profile: profile ?? "",
    schedule,
    retentionCount,
    toleratedFailures,
    timeoutSeconds,
  };
}

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as semver from "semver";
import * as YAML from "yaml";
import type { CisProfile, ScanApiGroup } from "../config/model";
import { readStackFile, stackFilePath } from "../scripts/offline/stackFile";
import { planStack } from "../scripts/offline/plan";
import { UNKNOWN_TEXT, reveal } from "../scripts/offline/engine";
import { validateStackConfig } from "../config/validate";
import { SCAN_DEFAULTS, scanApiGroupFor, scanProfileFor } from "../config/scan";
import { readSummary, renderClusterScan, scanVerdict } from "../components/scan/manifests";
import { cisCoverage } from "../scripts/offline/cis";
import { PROJECT_DIR, TYPES, input, rawConfig, runProgram, seedStackValues } from "./harness";

type Json = Record<string, unknown>;

function validate(scan: unknown, cluster: Json = {}) {
  const values = seedStackValues() as Json & { cluster: Json };
  values.cluster = { ...values.cluster, ...cluster };
  if (scan !== undefined) values.scan = scan;
  return validateStackConfig(rawConfig(values));
}

function errorsOf(result: ReturnType<typeof validate>): string[] {
  return result.problems.filter((p) => p.severity === "error").map((p) => `${p.key}: ${p.message}`);
}

describe("scan: the profile follows the Kubernetes version and the RKE2 profile (at every boundary)", () => {
  const rows: [ScanApiGroup, string, CisProfile | undefined, string | undefined][] = [
    ["cis.cattle.io", "v1.17.17+rke2r1", "cis-1.5", undefined],
    ["cis.cattle.io", "v1.18.0+rke2r1", "cis-1.5", "rke2-cis-1.6-profile-hardened"],
    ["cis.cattle.io", "v1.23.16+rke2r1", "cis-1.6", "rke2-cis-1.6-profile-hardened"],
    ["cis.cattle.io", "v1.24.17+rke2r1", "cis-1.6", "rke2-cis-1.6-profile-hardened"],
    ["cis.cattle.io", "v1.24.17+rke2r1", undefined, "rke2-cis-1.6-profile-permissive"],
    ["cis.cattle.io", "v1.25.0-rc1+rke2r1", "cis-1.23", "rke2-cis-1.7-profile-hardened"],
    ["cis.cattle.io", "v1.25.0+rke2r1", "cis-1.23", "rke2-cis-1.7-profile-hardened"],
    ["cis.cattle.io", "v1.25.16+rke2r1", "cis", "rke2-cis-1.7-profile-hardened"],
    ["cis.cattle.io", "v1.25.16+rke2r1", undefined, "rke2-cis-1.7-profile-permissive"],
    ["cis.cattle.io", "v1.26.0+rke2r1", "cis-1.23", "rke2-cis-1.8-profile-hardened"],
    ["cis.cattle.io", "v1.26.15+rke2r1", undefined, "rke2-cis-1.8-profile-permissive"],
    ["cis.cattle.io", "v1.27.0+rke2r1", "cis", "rke2-cis-1.9-profile"],
    ["cis.cattle.io", "v1.27.0+rke2r1", undefined, "rke2-cis-1.9-profile"],
    ["cis.cattle.io", "v1.32.5+rke2r1", "cis", "rke2-cis-1.9-profile"],
    ["compliance.cattle.io", "v1.26.15+rke2r1", "cis", undefined],
    ["compliance.cattle.io", "v1.27.0+rke2r1", "cis", "rke2-cis-1.9-profile"],
    ["compliance.cattle.io", "v1.27.16+rke2r1", "cis", "rke2-cis-1.9-profile"],
    ["compliance.cattle.io", "v1.28.0+rke2r1", "cis", "rke2-cis-1.10-profile"],
    ["compliance.cattle.io", "v1.29.0+rke2r1", "cis", "rke2-cis-1.11-profile"],
    ["compliance.cattle.io", "v1.31.9+rke2r1", "cis", "rke2-cis-1.11-profile"],
    ["compliance.cattle.io", "v1.32.0+rke2r1", "cis", "rke2-cis-1.12-profile"],
    ["compliance.cattle.io", "v1.34.1+rke2r1", undefined, "rke2-cis-1.12-profile"],
  ];
  for (const [group, version, profile, expected] of rows) {
    it(`${group} ${version} with RKE2 profile ${profile ?? "none"}: ${expected ?? "no profile"}`, () => {
      assert.equal(scanProfileFor(group, semver.parse(version)!, profile), expected);
    });
  }

  it("talks to rancher-cis-benchmark up to Rancher 2.11 and to rancher-compliance from 2.12", () => {
    assert.equal(scanApiGroupFor(semver.coerce("2.5")!), "cis.cattle.io");
    assert.equal(scanApiGroupFor(semver.coerce("2.11.9")!), "cis.cattle.io");
    assert.equal(scanApiGroupFor(semver.coerce("2.12")!), "compliance.cattle.io");
    assert.equal(scanApiGroupFor(semver.coerce("2.13.1")!), "compliance.cattle.io");
  });
});

describe("scan: configuration (the one gate)", () => {
  it("defaults: enabled, Rancher 2.11's app, the operator's daily schedule, no failure tolerated", () => {
    const { model } = validate(undefined);
    assert.deepEqual(model?.scan, {
      enabled: true,
      rancherVersion: "2.11",
      apiGroup: "cis.cattle.io",
      chartName: "rancher-cis-benchmark",
      crdChartName: "rancher-cis-benchmark-crd",
      namespace: "cis-operator-system",
      profile: "rke2-cis-1.6-profile-hardened",
      schedule: SCAN_DEFAULTS.schedule,
      retentionCount: 3,
      toleratedFailures: 0,
      timeoutSeconds: 1800,
    });
  });

  it("takes Rancher 2.12's compliance app, schedule, tolerance and chart version from the stack", () => {
    const { model, problems } = validate(
      {
        rancherVersion: "2.12",
        schedule: "@weekly",
        toleratedFailures: "2",
        chartVersion: "107.0.0+up1.0.0",
      },
      { kubernetesVersion: "v1.32.5+rke2r1" },
    );
    assert.ok(model, JSON.stringify(problems));
    assert.equal(model.scan.apiGroup, "compliance.cattle.io");
    assert.equal(model.scan.chartName, "rancher-compliance");
    assert.equal(model.scan.namespace, "compliance-operator-system");
    assert.equal(model.scan.profile, "rke2-cis-1.12-profile");
    assert.equal(model.scan.schedule, "@weekly");
    assert.equal(model.scan.toleratedFailures, 2);
    assert.equal(model.scan.chartVersion, "107.0.0+up1.0.0");
  });

  it("refuses a Rancher whose app has no profile for the cluster's version, and says what to do", () => {
    const result = validate({ rancherVersion: "2.12" });
    assert.equal(result.model, undefined);
    const problem = result.problems.find((p) => p.key === "hardened-rke2:scan.rancherVersion");
    assert.match(
      problem!.message,
      /Rancher 2\.12's rancher-compliance has no RKE2 scan profile for Kubernetes 1\.23/,
    );
    assert.match(problem!.fix!, /scan\.profile.*scan\.enabled/);
  });

  it("accepts a named profile, or a disabled scan, where the table has none", () => {
    assert.equal(
      validate({ rancherVersion: "2.12", profile: "my-profile" }).model?.scan.profile,
      "my-profile",
    );
    assert.equal(validate({ rancherVersion: "2.12", enabled: false }).model?.scan.enabled, false);
  });

  it("warns that a cluster without RKE2's profile is scanned permissively", () => {
    const result = validate(undefined, { profile: "none" });
    assert.equal(result.model?.scan.profile, "rke2-cis-1.6-profile-permissive");
    assert.ok(
      result.problems.some((p) => p.severity === "warning" && p.key === "hardened-rke2:scan.profile"),
    );
  });

  const bad: [string, unknown, RegExp][] = [
    ["an unknown key", { schedual: "0 0 * * *" }, /scan\.schedual: Unknown key/],
    [
      "a schedule that is not cron",
      { schedule: "every night" },
      /scan\.schedule: This is not a cron expression/,
    ],
    ["a six-field schedule", { schedule: "0 0 0 * * *" }, /scan\.schedule: This is not a cron expression/],
    [
      "a negative tolerance",
      { toleratedFailures: -1 },
      /scan\.toleratedFailures: This number is out of range/,
    ],
    ["a fractional tolerance", { toleratedFailures: 1.5 }, /scan\.toleratedFailures/],
    ["no reports kept", { retentionCount: 0 }, /scan\.retentionCount/],
    [
      "a Rancher without the app",
      { rancherVersion: "2.4" },
      /scan\.rancherVersion: This is not a Rancher version/,
    ],
    ["a Rancher version that is not one", { rancherVersion: "latest" }, /scan\.rancherVersion/],
    ["enabled as a word", { enabled: "yes" }, /scan\.enabled: This must be true or false/],
    [
      "a profile name with spaces",
      { profile: "my profile" },
      /scan\.profile: This is not a ClusterScanProfile name/,
    ],
    ["a chart version that is not semver", { chartVersion: "latest" }, /scan\.chartVersion/],
    ["a timeout too short to scan", { timeoutSeconds: 5 }, /scan\.timeoutSeconds/],
    ["not a map", ["daily"], /scan: This must be an object/],
  ];
  for (const [name, scan, message] of bad) {
    it(`refuses ${name} before any resource registers`, () => {
      const result = validate(scan);
      assert.equal(result.model, undefined);
      assert.ok(
        errorsOf(result).some((e) => message.test(e)),
        `${errorsOf(result).join("\n")}\n does not match ${String(message)}`,
      );
    });
  }
});

/**
 * The CRD's structural schema as the API server applies it: `type`, `enum`, `nullable`, `properties`,
 * `items`. Fields the schema does not name would be pruned silently, so here they are errors.
 */
function schemaErrors(value: unknown, schema: Json, at: string): string[] {
  if (value === null) return schema.nullable === true ? [] : [`${at}: null is not allowed`];
  const type = schema.type as string | undefined;
  const actual = Array.isArray(value) ? "array" : Number.isInteger(value) ? "integer" : typeof value;
  if (type !== undefined && type !== actual && !(type === "number" && actual === "integer"))
    return [`${at}: ${actual}, the schema says ${type}`];
  if (Array.isArray(schema.enum) && !schema.enum.includes(value))
    return [`${at}: ${JSON.stringify(value)} not in the enum`];
  if (type === "object" && schema.properties) {
    const properties = schema.properties as Record<string, Json>;
    return Object.entries(value as Json).flatMap(([key, child]) =>
      properties[key]
        ? schemaErrors(child, properties[key], `${at}.${key}`)
        : [`${at}.${key}: not in the schema (the API server would prune it)`],
    );
  }
  if (type === "array" && schema.items) {
    return (value as unknown[]).flatMap((item, i) => schemaErrors(item, schema.items as Json, `${at}[${i}]`));
  }
  return [];
}

function clusterScanSchema(group: ScanApiGroup): Json {
  const file = path.join(PROJECT_DIR, "test", "fixtures", "scan", `clusterscan-${group}.yaml`);
  const crd = YAML.parse(fs.readFileSync(file, "utf8")) as {
    spec: { group: string; versions: { name: string; schema: { openAPIV3Schema: Json } }[] };
  };
  assert.equal(crd.spec.group, group);
  return crd.spec.versions.find((v) => v.name === "v1")!.schema.openAPIV3Schema;
}

/** Validates a ClusterScan's body (what the CRD's schema covers: everything but apiVersion, kind, metadata). */
function validateClusterScan(object: Json, group: ScanApiGroup): string[] {
  assert.equal(object.apiVersion, `${group}/v1`);
  assert.equal(object.kind, "ClusterScan");
  const body = Object.fromEntries(
    Object.entries(object).filter(([key]) => !["apiVersion", "kind", "metadata"].includes(key)),
  );
  return schemaErrors(body, clusterScanSchema(group), "ClusterScan");
}

describe("scan: the ClusterScan in the plans of both stacks", () => {
  for (const stack of ["staging", "prod"]) {
    it(`${stack}: the app through Rancher, then a schema-valid ClusterScan after the hardening`, async () => {
      const result = await planStack(readStackFile(stackFilePath(PROJECT_DIR, stack), stack));
      assert.ok(result.ok);
      const resources = result.evaluation.resources;
      const scans = resources.filter((r) => r.type === "kubernetes:cis.cattle.io/v1:ClusterScan");
      assert.equal(scans.length, 1);
      const scan = scans[0];
      assert.deepEqual(validateClusterScan(scan.inputs as Json, "cis.cattle.io"), []);
      assert.equal(input(scan, "spec.scanProfileName"), "rke2-cis-1.6-profile-hardened");
      assert.equal(input(scan, "metadata.annotations")!["pulumi.com/waitFor" as never], "condition=Complete");

      const apps = resources.filter((r) => r.type === "rancher2:index/appV2:AppV2");
      assert.deepEqual(apps.map((a) => input(a, "chartName")).sort(), [
        "rancher-cis-benchmark",
        "rancher-cis-benchmark-crd",
      ]);
      const operator = apps.find((a) => input(a, "chartName") === "rancher-cis-benchmark")!;
      const crds = apps.find((a) => input(a, "chartName") === "rancher-cis-benchmark-crd")!;
      assert.ok(operator.dependsOn.includes(crds.urn), "the operator's chart after its CRDs");
      assert.ok(scan.dependsOn.includes(operator.urn), "the ClusterScan after the operator");
      const rancherProvider = resources.find((r) => r.type === TYPES.rancherProvider)!;
      const k8sProvider = resources.find((r) => r.type === TYPES.k8sProvider)!;
      for (const app of apps) assert.equal(app.provider, rancherProvider.urn);
      assert.equal(scan.provider, k8sProvider.urn);
      // Installed into the cluster by Rancher's v1 id, the one ClusterSync waits on.
      const sync = resources.find((r) => r.type === TYPES.clusterSync)!;
      for (const app of apps) assert.equal(input(app, "clusterId"), input(sync, "clusterId"));

      // After every post-install hardening step and every audit policy roll-out step.
      const hardening = resources.filter(
        (r) =>
          r.custom &&
          (r.name.startsWith(`${stack}-rke2-hardening-`) ||
            r.name.startsWith(`${stack}-rke2-audit-policy-`)) &&
          r.type !== "kubernetes:cis.cattle.io/v1:ClusterScan",
      );
      assert.ok(hardening.length > 5);
      for (const step of hardening)
        assert.ok(scan.dependsOn.includes(step.urn), `the scan waits for ${step.name}`);
      // What the scan reports exists only after pulumi up: the plan, like pulumi preview, shows it unknown.
      assert.equal(result.plan.outputs.cisScan, UNKNOWN_TEXT);
      const up = await runProgram(readStackFile(stackFilePath(PROJECT_DIR, stack), stack).raw, stack);
      assert.deepEqual(reveal(up.evaluation.outputs.cisScan), {
        enabled: true,
        profile: "rke2-cis-1.6-profile-hardened",
        schedule: "0 0 * * *",
        toleratedFailures: 0,
      });
    });
  }

  it("renders a schema-valid ClusterScan for both apps; a misspelt field would not be", () => {
    for (const [group, version, profile] of [
      ["cis.cattle.io", "v1.26.3+rke2r1", "cis-1.23"],
      ["compliance.cattle.io", "v1.32.5+rke2r1", "cis"],
    ] as const) {
      const { model, problems } = validate(
        { rancherVersion: group === "cis.cattle.io" ? "2.9" : "2.12" },
        { kubernetesVersion: version, profile },
      );
      assert.ok(model, JSON.stringify(problems));
      const rendered = renderClusterScan(model.scan) as unknown as Json;
      assert.deepEqual(validateClusterScan(rendered, group), []);
      const misspelt = { ...rendered, spec: { ...(rendered.spec as Json), scanProfilename: "x" } };
      assert.deepEqual(validateClusterScan(misspelt, group), [
        "ClusterScan.spec.scanProfilename: not in the schema (the API server would prune it)",
      ]);
      const badEnum = { ...rendered, spec: { ...(rendered.spec as Json), scoreWarning: "maybe" } };
      assert.equal(validateClusterScan(badEnum, group).length, 1);
    }
  });

  it("creates neither the app nor the ClusterScan when the stack disables the scan, and the CIS table says so", async () => {
    const values = seedStackValues();
    values.scan = { enabled: false };
    const plan = await runProgram(rawConfig(values));
    assert.equal(plan.resources.filter((r) => /AppV2|ClusterScan|CisScan/.test(r.type)).length, 0);
    assert.deepEqual(plan.evaluation.outputs.cisScan, { enabled: false });
    const { model } = validateStackConfig(rawConfig(values));
    const coverage = cisCoverage(plan.resources, model!);
    assert.deepEqual(
      coverage.map((c) => c.scannedBy),
      coverage.map(() => "-"),
    );
  });

  it("puts the scan's profile and verify's host checks beside what the stack enforces", async () => {
    const values = seedStackValues() as Json & { cluster: Json };
    values.cluster = { ...values.cluster, kubernetesVersion: "v1.26.15+rke2r1", profile: "cis-1.23" };
    const plan = await runProgram(rawConfig(values));
    const { model } = validateStackConfig(rawConfig(values));
    const coverage = cisCoverage(plan.resources, model!);
    assert.deepEqual(
      coverage.map((c) => [c.id, c.scannedBy, c.verifiedOnHosts]),
      [
        ["4.2.6", "rke2-cis-1.8-profile-hardened", true],
        ["1.1.12", "rke2-cis-1.8-profile-hardened", true],
        ["1.2.22-1.2.25", "rke2-cis-1.8-profile-hardened", true],
        ["5.1.5", "rke2-cis-1.8-profile-hardened", false],
        ["5.2.x", "rke2-cis-1.8-profile-hardened", false],
        ["5.3.2", "rke2-cis-1.8-profile-hardened", false],
      ],
    );
  });
});

describe("scan: pulumi up fails on more failures than the stack tolerates", () => {
  const summary = { pass: 80, fail: 0, warn: 29, skip: 0, notApplicable: 7, total: 116 };
  it("passes at the tolerance and fails one above it", () => {
    assert.equal(scanVerdict(summary, 0, "p"), undefined);
    assert.equal(scanVerdict({ ...summary, fail: 3 }, 3, "p"), undefined);
    assert.match(
      scanVerdict({ ...summary, fail: 4 }, 3, "rke2-cis-1.6-profile-hardened")!,
      /The CIS scan \(rke2-cis-1\.6-profile-hardened\) failed 4 checks .*tolerates 3.*scan\.toleratedFailures/,
    );
    assert.match(scanVerdict({ ...summary, fail: 1 }, 0, "p")!, /failed 1 check /);
  });

  it("reads the operator's summary (cis-operator ClusterScanSummary), missing counts as 0, no summary as none", () => {
    assert.deepEqual(readSummary({ summary: { pass: 1, fail: 2, skip: 3, notApplicable: 4, total: 10 } }), {
      pass: 1,
      fail: 2,
      warn: 0,
      skip: 3,
      notApplicable: 4,
      total: 10,
    });
    assert.equal(readSummary(undefined), undefined);
    assert.equal(readSummary({ lastRunTimestamp: "" }), undefined);
  });
});

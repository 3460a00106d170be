import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as rancher2 from "@pulumi/rancher2";
import type { ScanModel } from "../../config/model";
import { inheritedDependsOn } from "../options";
import { type ScanSummary, readSummary, renderClusterScan, scanVerdict } from "./manifests";

/** Rancher's built-in chart repository (a ClusterRepo every Rancher server has). */
export const RANCHER_CHARTS_REPO = "rancher-charts";

/** The scan as a stack output; the counts are absent until the operator reported a run. */
export interface CisScanOutput extends Partial<ScanSummary> {
  readonly enabled: boolean;
  readonly profile?: string;
  readonly schedule?: string;
  readonly toleratedFailures?: number;
}

export interface CisScanArgs {
  readonly scan: ScanModel;
  /** Rancher's v1 id of the cluster the app is installed into (`c-m-…`). */
  readonly clusterV1Id: pulumi.Input<string>;
  readonly rancherProvider: rancher2.Provider;
  /** The cluster's own Kubernetes provider; the ClusterScan is created through it. */
  readonly kubernetesProvider: k8s.Provider;
}

/**
 * Rancher's CIS scan as part of the stack: the scan app's CRD chart, then the app (through Rancher, so it
 * shows on Rancher's CIS page), then a scheduled ClusterScan with the profile chosen in config/scan.ts.
 * `pulumi up` waits for the first run and fails when it failed more checks than the stack tolerates; the
 * counts are the component's `summary` (undefined until the operator reported a run).
 */
export class CisScan extends pulumi.ComponentResource {
  public readonly clusterScan: k8s.apiextensions.CustomResource;
  public readonly summary: pulumi.Output<ScanSummary | undefined>;
  /** What `pulumi stack output cisScan` shows: the profile and schedule, and the counts once a run reported. */
  public readonly output: pulumi.Output<CisScanOutput>;

  constructor(name: string, args: CisScanArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hardened-rke2:scan:CisScan", name, {}, opts);
    const { scan } = args;
    const app = (chartName: string, dependsOn: pulumi.Resource[]) =>
      new rancher2.AppV2(
        `${name}-${chartName}`,
        {
          clusterId: args.clusterV1Id,
          name: chartName,
          namespace: scan.namespace,
          repoName: RANCHER_CHARTS_REPO,
          chartName,
          chartVersion: scan.chartVersion,
          // Rancher's own default; stated so that a provider default change shows in the diff.
          wait: true,
          cleanupOnFail: true,
        },
        { parent: this, provider: args.rancherProvider, dependsOn: inheritedDependsOn(opts, ...dependsOn) },
      );
    const crds = app(scan.crdChartName, []);
    const operator = app(scan.chartName, [crds]);

    const manifest = renderClusterScan(scan);
    this.clusterScan = new k8s.apiextensions.CustomResource(
      `${name}-clusterscan`,
      {
        apiVersion: manifest.apiVersion,
        kind: manifest.kind,
        metadata: { ...manifest.metadata, annotations: { ...manifest.metadata.annotations } },
        spec: {
          ...manifest.spec,
          scheduledScanConfig: { ...manifest.spec.scheduledScanConfig },
        },
        // Declared (not set) so that the resource has a `status` output: the operator's summary.
        status: undefined,
      },
      {
        parent: this,
        provider: args.kubernetesProvider,
        dependsOn: inheritedDependsOn(opts, operator),
        // The operator owns status; a re-run after a refresh must not fight over it.
        ignoreChanges: ["status"],
      },
    );
    const status = (this.clusterScan as unknown as { status: pulumi.Output<unknown> }).status;
    this.summary = status.apply((value) => {
      const summary = readSummary(value);
      if (summary) {
        const problem = scanVerdict(summary, scan.toleratedFailures, scan.profile);
        // Failing the program fails `pulumi up` after the scan ran: its report stays in the cluster.
        if (problem) throw new pulumi.RunError(problem);
      }
      return summary;
    });
    this.output = this.summary.apply((summary) => ({
      enabled: true,
      profile: scan.profile,
      schedule: scan.schedule,
      toleratedFailures: scan.toleratedFailures,
      ...summary,
    }));
    this.registerOutputs({ summary: this.summary });
  }
}

import * as pulumi from "@pulumi/pulumi";
import { type StackModel, isServer } from "../config/model";
import { ClusterReadiness, HardenedCluster } from "./cluster/hardenedCluster";
import { NodeRegistration } from "./cluster/registration";
import { AuditPolicyRollout } from "./hardening/auditPolicyRollout";
import { PostInstallHardening } from "./hardening/postInstall";
import { renderAuditPolicy } from "./host/auditPolicy";
import { HostPreparation } from "./host/hostPreparation";
import { CisScan, type CisScanOutput } from "./scan/cisScan";

/**
 * The whole program as one component, so other programs can import it: prepare every host, create the hardened
 * cluster, register each node only after its host is prepared, wait until Rancher reports the cluster Active, then
 * harden what RKE2's profile leaves to the operator.
 */
export class HardenedRke2 extends pulumi.ComponentResource {
  public readonly clusterV1Id: pulumi.Output<string>;
  public readonly clusterName: pulumi.Output<string>;
  /** The RKE2 profile in effect, or "none" when the stack disabled it. */
  public readonly profile: string;
  /** Admin kubeconfig of the cluster (secret). */
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly hostPreparations: readonly HostPreparation[];
  public readonly registrations: readonly NodeRegistration[];
  /** The CIS scan: profile, schedule and, once it ran, its counts (pass, fail, warn, skip, …). */
  public readonly cisScan: pulumi.Output<CisScanOutput>;

  constructor(name: string, model: StackModel, opts?: pulumi.ComponentResourceOptions) {
    super("hardened-rke2:index:HardenedRke2", name, {}, opts);
    const { cluster, nodes, hardening } = model;
    const auditPolicyYaml = renderAuditPolicy(hardening.auditPolicyLevel, hardening.auditRules);

    const hostPreparations = nodes.map(
      (node) =>
        new HostPreparation(
          `${node.name}-host-prep`,
          {
            node,
            auditPolicyYaml: isServer(node) ? auditPolicyYaml : undefined,
            createEtcdUser: isServer(node) || hardening.etcdUserOnAllNodes,
            allowExistingInstall: hardening.allowExistingInstall,
          },
          { parent: this },
        ),
    );

    const hardened = new HardenedCluster(cluster.name, { cluster, rancher: model.rancher }, { parent: this });

    const registrations = nodes.map(
      (node, i) =>
        new NodeRegistration(
          `${node.name}-register`,
          {
            node,
            clusterV1Id: hardened.clusterV1Id,
            registrationCommand: hardened.registrationCommand,
            caCerts: model.rancher.caCerts,
            uninstallOnDestroy: cluster.uninstallNodesOnDestroy,
          },
          { parent: this, dependsOn: [hostPreparations[i], hardened] },
        ),
    );

    const readiness = new ClusterReadiness(
      `${cluster.name}-ready`,
      { clusterV1Id: hardened.clusterV1Id, rancherProvider: hardened.provider },
      { parent: this, dependsOn: registrations },
    );

    const postInstall = new PostInstallHardening(
      `${cluster.name}-hardening`,
      { hardening, provider: readiness.kubernetesProvider },
      { parent: this, dependsOn: [readiness] },
    );
    const auditRollout = new AuditPolicyRollout(
      `${cluster.name}-audit-policy`,
      { nodes, auditPolicyYaml },
      { parent: this, dependsOn: [readiness] },
    );
    // The scan judges the finished hardening: after the post-install steps and the audit policy roll-out.
    const scan = model.scan.enabled
      ? new CisScan(
          `${cluster.name}-cis-scan`,
          {
            scan: model.scan,
            clusterV1Id: hardened.clusterV1Id,
            rancherProvider: hardened.provider,
            kubernetesProvider: readiness.kubernetesProvider,
          },
          { parent: this, dependsOn: [readiness, postInstall, auditRollout] },
        )
      : undefined;

    this.clusterV1Id = hardened.clusterV1Id;
    this.clusterName = hardened.cluster.name;
    this.profile = cluster.profile ?? "none";
    this.kubeconfig = readiness.kubeconfig;
    this.hostPreparations = hostPreparations;
    this.registrations = registrations;
    this.cisScan = scan ? scan.output : pulumi.output({ enabled: false });
    this.registerOutputs({
      cisScan: this.cisScan,
      clusterV1Id: this.clusterV1Id,
      clusterName: this.clusterName,
      profile: this.profile,
      kubeconfig: this.kubeconfig,
    });
  }
}

import * as pulumi from "@pulumi/pulumi";
import { type NodeModel, type StackModel, isServer } from "../config/model";
import { ClusterReadiness, HardenedCluster } from "./cluster/hardenedCluster";
import { NodeRegistration, renderUninstallScript } from "./cluster/registration";
import { clusterSpecFor } from "./cluster/spec";
import { AuditPolicyRollout } from "./hardening/auditPolicyRollout";
import { PostInstallHardening } from "./hardening/postInstall";
import { renderAuditPolicy } from "./host/auditPolicy";
import { HostPreparation } from "./host/hostPreparation";
import { nodeCommand } from "./host/nodeCommand";
import { renderRemoteCommand } from "./host/render";
import { CisScan, type CisScanOutput } from "./scan/cisScan";

/**
 * The whole program as one component, so other programs can import it: prepare every host, create the hardened
 * cluster, register each node only after its host is prepared, wait until Rancher reports the cluster Active, then
 * harden what RKE2's profile leaves to the operator.
 *
 * Day two: nodes listed in `lifecycle.decommissionNodes` leave every step and get one step that uninstalls RKE2;
 * nothing else ever uninstalls it (a node removed from the stack is only forgotten). A node renamed through
 * `lifecycle.renamedNodes` keeps its resources (aliases of its former names).
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
    const { cluster, hardening, lifecycle } = model;
    const auditPolicyYaml = renderAuditPolicy(hardening.auditPolicyLevel, hardening.auditRules);
    const decommissioned = new Set(lifecycle.decommissionNodes);
    const nodes = model.nodes.filter((node) => !decommissioned.has(node.name));
    /** Former names of a node's resource named `NODE<suffix>` (one rename back), for `aliases`. */
    const formerly = (node: NodeModel, resourceName: (nodeName: string) => string) => {
      const former = lifecycle.renamedNodes[node.name];
      return former === undefined ? {} : { aliases: [{ name: resourceName(former) }] };
    };

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
          { parent: this, ...formerly(node, (n) => `${n}-host-prep`) },
        ),
    );

    const hardened = new HardenedCluster(
      cluster.name,
      { cluster, rancher: model.rancher, protect: lifecycle.deletionProtection },
      { parent: this },
    );

    const registrations = nodes.map(
      (node, i) =>
        new NodeRegistration(
          `${node.name}-register`,
          {
            node,
            clusterV1Id: hardened.clusterV1Id,
            registrationCommand: hardened.registrationCommand,
            caCerts: model.rancher.caCerts,
            // Never on removal: uninstalling is lifecycle.decommissionNodes' (config/lifecycle.ts).
            uninstallOnDestroy: false,
          },
          {
            parent: this,
            dependsOn: [hostPreparations[i], hardened],
            ...formerly(node, (n) => `${n}-register`),
          },
        ),
    );

    const readiness = new ClusterReadiness(
      `${cluster.name}-ready`,
      {
        clusterV1Id: hardened.clusterV1Id,
        rancherProvider: hardened.provider,
        shape: {
          spec: clusterSpecFor(cluster),
          nodes: nodes.map((node) => ({ name: node.name, roles: node.roles })),
          decommissioned: [...decommissioned].sort(),
        },
      },
      { parent: this, dependsOn: registrations },
    );

    for (const node of model.nodes.filter((n) => decommissioned.has(n.name))) {
      nodeCommand(
        `${node.name}-decommission`,
        { node, create: renderRemoteCommand(renderUninstallScript(node.name)) },
        { parent: this, dependsOn: [hardened] },
      );
    }

    const postInstall = new PostInstallHardening(
      `${cluster.name}-hardening`,
      { hardening, provider: readiness.kubernetesProvider, deletionProtection: lifecycle.deletionProtection },
      { parent: this, dependsOn: [readiness] },
    );
    const auditRollout = new AuditPolicyRollout(
      `${cluster.name}-audit-policy`,
      { nodes, auditPolicyYaml, formerNames: lifecycle.renamedNodes },
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

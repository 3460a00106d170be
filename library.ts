/**
 * hardened-rke2 as a library, for programs that build the hardened cluster into their own stack. Importing this
 * module reads no stack configuration and registers nothing (the program's entry, `index.ts`, does both).
 *
 * ```ts
 * import { HardenedRke2, validateStackConfig, formatProblem } from "hardened-rke2";
 * const { model, problems } = validateStackConfig({ values, secretKeys: new Set(["rancherToken", "sshPrivateKey"]) });
 * if (!model) throw new Error(problems.map(formatProblem).join("\n"));
 * const rke2 = new HardenedRke2("prod", model);
 * ```
 */

// The whole program as one component, and the gate every configuration passes first.
export { HardenedRke2 } from "./components/hardenedRke2";
export { MINIMUM_PULUMI_CLI, type StackOutputs, defineStack, requirePulumiCli } from "./components/program";
export { type RawStackConfig, type ValidationResult, validateStackConfig } from "./config/validate";
export { loadStackModel } from "./config/load";
export { type ConfigProblem, ConfigValidationError, formatProblem } from "./config/problems";
export type * from "./config/model";

// Its parts, each a ComponentResource, for a program that wires them differently.
export { HostPreparation, type HostPreparationArgs } from "./components/host/hostPreparation";
export {
  ClusterReadiness,
  type ClusterReadinessArgs,
  HardenedCluster,
  type HardenedClusterArgs,
} from "./components/cluster/hardenedCluster";
export { NodeRegistration, type NodeRegistrationArgs } from "./components/cluster/registration";
export { PostInstallHardening, type PostInstallHardeningArgs } from "./components/hardening/postInstall";
export { AuditPolicyRollout, type AuditPolicyRolloutArgs } from "./components/hardening/auditPolicyRollout";
export { CisScan, type CisScanArgs, type CisScanOutput } from "./components/scan/cisScan";

// The pure renderers, to review or reuse what runs on the nodes and in the cluster.
export { renderAuditPolicy } from "./components/host/auditPolicy";
export { renderHostPrepScript, renderSysctlConf } from "./components/host/render";
export { clusterSpecFor } from "./components/cluster/spec";

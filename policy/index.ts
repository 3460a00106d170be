/**
 * Entry point of the hardened-rke2 policy pack: `pulumi preview --policy-pack policy`.
 *
 * Keep this file thin: constructing the PolicyPack starts the policy server, so the policies live in
 * `./policies`, which the tests import without starting it.
 *
 * Enforcement levels: each policy declares its own. Unpinned SSH host keys and an unverified Rancher
 * certificate (`rancher.insecure`) are each a pair (see ./stackScope): mandatory on the stacks named in
 * `productionStacks` (default: prod), advisory on the others, not reported in `allowedStacks`. Every other
 * policy is mandatory. A policy config file overrides levels and properties per policy, e.g.
 *   pulumi preview --policy-pack policy --policy-pack-config policy-config.json
 * with policy-config.json `{ "all": "advisory", "ssh-host-key-pinned": "mandatory" }` (levels: advisory,
 * mandatory, disabled). In Pulumi Cloud, a policy group's configuration does the same.
 */
import { PolicyPack } from "@pulumi/policy";
import { DEFAULT_ENFORCEMENT_LEVEL, PACK_NAME, policies } from "./policies";

new PolicyPack(PACK_NAME, {
  policies,
  enforcementLevel: DEFAULT_ENFORCEMENT_LEVEL,
  displayName: "Hardened RKE2",
  description:
    "Keeps the CIS hardening of the RKE2 cluster from being weakened silently: CIS profile, " +
    "protect-kernel-defaults, etcd snapshots, SSH key and host-key handling, Rancher certificate verification, " +
    "namespace ServiceAccount and NetworkPolicy.",
});

import type { CisProfile, MachineSelectorConfigModel } from "../model";
import { describeValue, setCommand } from "../problems";
import { childPath, type Json, type Reader } from "../reader";
import { isRke2Cni } from "../grammar";
import { SEED_DEFAULTS } from "../defaults";

/** Whether an RKE2 config value means `false` (RKE2 reads its YAML config as flags: "false" is false too). */
function isFalse(value: unknown): boolean {
  return value === false || (typeof value === "string" && value.trim().toLowerCase() === "false");
}

export function readMachineGlobalConfig(v: Reader, value: unknown, profile: CisProfile | undefined): Json {
  const config = v.plainObject("cluster.machineGlobalConfig", value) ?? {};
  const path = (key: string) => childPath("cluster.machineGlobalConfig", key);
  const rm = (key: string) => `pulumi config rm --path 'hardened-rke2:${path(key)}'`;
  if ("profile" in config && config.profile !== profile) {
    v.error(
      path("profile"),
      "This disagrees with cluster.profile, which sets RKE2's profile on every machine.",
      {
        value: describeValue(config.profile),
        allowed: `${profile ?? "nothing"} (or remove the key and set cluster.profile)`,
        fix: rm("profile"),
      },
    );
  }
  if ("protect-kernel-defaults" in config && profile && isFalse(config["protect-kernel-defaults"])) {
    v.error(
      path("protect-kernel-defaults"),
      `RKE2 exits at start-up when profile ${profile} is set with false.`,
      {
        value: describeValue(config["protect-kernel-defaults"]),
        allowed: "true (or remove the key) with a CIS profile",
        fix: rm("protect-kernel-defaults"),
      },
    );
  }
  if ("cni" in config) {
    v.error(path("cni"), "The CNI is set by cluster.cni; this key would be overwritten.", {
      value: describeValue(config.cni),
      fix: `${rm("cni")}; then ${setCommand("cluster.cni", typeof config.cni === "string" && isRke2Cni(config.cni) ? config.cni : SEED_DEFAULTS.cni)}`,
    });
  }
  const apiserverArgs = config["kube-apiserver-arg"];
  if (
    apiserverArgs !== undefined &&
    typeof apiserverArgs !== "string" &&
    !(Array.isArray(apiserverArgs) && apiserverArgs.every((a) => typeof a === "string"))
  ) {
    v.error(path("kube-apiserver-arg"), "RKE2 takes this as a string or a list of strings.", {
      value: describeValue(apiserverArgs),
      fix: `pulumi config rm --path 'hardened-rke2:${path("kube-apiserver-arg")}'; then ${setCommand(`${path("kube-apiserver-arg")}[0]`, "audit-log-maxage=30")}`,
    });
  }
  return config;
}

export function readMachineSelectorConfigs(v: Reader, value: unknown): MachineSelectorConfigModel[] {
  const items = v.array("cluster.machineSelectorConfigs", value) ?? [];
  return items.flatMap((item, i) => {
    const path = `cluster.machineSelectorConfigs[${i}]`;
    const obj = v.object(path, item, ["config", "matchLabels"], true);
    if (!obj) return [];
    const config = v.plainObject(`${path}.config`, obj.config) ?? {};
    const matchLabels = v.labels(`${path}.matchLabels`, obj.matchLabels) ?? {};
    const given = obj.matchLabels;
    if (
      given === undefined ||
      (typeof given === "object" && given !== null && Object.keys(given).length === 0)
    ) {
      v.error(
        `${path}.matchLabels`,
        "An extra selector config needs labels; cluster-wide settings go in machineGlobalConfig.",
        { fix: setCommand(`${path}.matchLabels["rke.cattle.io/control-plane-role"]`, "true") },
      );
    }
    for (const reserved of ["profile", "protect-kernel-defaults"]) {
      if (reserved in config) {
        v.error(
          `${path}.config.${reserved}`,
          "The hardening flags are set cluster-wide from cluster.profile and cluster.protectKernelDefaults.",
          { fix: `pulumi config rm --path 'hardened-rke2:${path}.config.${reserved}'` },
        );
      }
    }
    return [{ config, matchLabels }];
  });
}

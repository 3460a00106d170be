import type { DrainOptionsModel, RegistriesModel, UpgradeStrategyModel } from "../model";
import { describeValue, setCommand } from "../problems";
import type { Reader } from "../reader";
import { DNS_SUBDOMAIN_RULE, isDnsSubdomain, isHostPort } from "../grammar";

const CONCURRENCY = /^([1-9]\d{0,5}|([1-9]\d?|100)%)$/;
const DEFAULT_CONCURRENCY = "10%";

const DRAIN_KEYS = [
  "enabled",
  "deleteEmptyDirData",
  "disableEviction",
  "force",
  "gracePeriod",
  "ignoreDaemonSets",
  "ignoreErrors",
  "skipWaitForDeleteTimeoutSeconds",
  "timeout",
] as const;

function readDrainOptions(v: Reader, path: string, value: unknown): DrainOptionsModel | undefined {
  if (value === undefined) return undefined;
  const obj = v.object(path, value, DRAIN_KEYS);
  if (!obj) return undefined;
  const result: Record<string, boolean | number> = {};
  for (const key of DRAIN_KEYS) {
    const isNumber = key === "gracePeriod" || key === "skipWaitForDeleteTimeoutSeconds" || key === "timeout";
    const read = isNumber
      ? v.integer(`${path}.${key}`, obj[key], {
          min: key === "gracePeriod" ? -1 : 0,
          // kubectl drain's defaults: the pod's own grace period (-1), no timeout (0).
          default: key === "gracePeriod" ? -1 : key === "timeout" ? 600 : 0,
        })
      : v.boolean(`${path}.${key}`, obj[key]);
    if (read !== undefined) result[key] = read;
  }
  return result;
}

export function readUpgradeStrategy(v: Reader, value: unknown): UpgradeStrategyModel | undefined {
  const obj = v.object("cluster.upgradeStrategy", value ?? {}, [
    "controlPlaneConcurrency",
    "workerConcurrency",
    "controlPlaneDrainOptions",
    "workerDrainOptions",
  ]);
  if (!obj) return undefined;
  const concurrency = (key: "controlPlaneConcurrency" | "workerConcurrency"): string => {
    const path = `cluster.upgradeStrategy.${key}`;
    const raw = obj[key];
    if (raw === undefined) return DEFAULT_CONCURRENCY;
    const text = typeof raw === "number" ? String(raw) : raw;
    if (typeof text !== "string" || !CONCURRENCY.test(text)) {
      v.error(path, "Concurrency must be a count of nodes or a percentage.", {
        value: describeValue(raw),
        allowed: 'a whole number ≥ 1 ("1") or a percentage from 1% to 100% ("10%")',
        fix: setCommand(path, DEFAULT_CONCURRENCY),
      });
      return DEFAULT_CONCURRENCY;
    }
    return text;
  };
  return {
    controlPlaneConcurrency: concurrency("controlPlaneConcurrency"),
    workerConcurrency: concurrency("workerConcurrency"),
    controlPlaneDrainOptions: readDrainOptions(
      v,
      "cluster.upgradeStrategy.controlPlaneDrainOptions",
      obj.controlPlaneDrainOptions,
    ),
    workerDrainOptions: readDrainOptions(
      v,
      "cluster.upgradeStrategy.workerDrainOptions",
      obj.workerDrainOptions,
    ),
  };
}

/** A registry host as containerd's registries.yaml keys it: `host[:port]`, no scheme. */
function readRegistryHost(
  v: Reader,
  path: string,
  value: unknown,
  example: string,
  wildcard: boolean,
): string | undefined {
  const hostname = v.string(path, value, { required: true, example });
  if (hostname === undefined) return undefined;
  if (!(isHostPort(hostname) || (wildcard && hostname === "*"))) {
    v.error(path, "A registry is named by HOST[:PORT], without a scheme or path.", {
      value: describeValue(hostname),
      allowed: `HOST[:PORT], e.g. ${example}${wildcard ? ', or "*" for every registry' : ""}`,
      fix: setCommand(path, hostname.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "") || example),
    });
    return undefined;
  }
  return hostname;
}

function readSecretName(v: Reader, path: string, value: unknown): string | undefined {
  const name = v.string(path, value, { example: "registry-auth" });
  if (name !== undefined && !isDnsSubdomain(name)) {
    v.error(path, "This is not a Kubernetes Secret name.", {
      value: describeValue(name),
      allowed: DNS_SUBDOMAIN_RULE,
      fix: setCommand(path, "registry-auth"),
    });
    return undefined;
  }
  return name;
}

const ENDPOINT = /^https?:\/\/[^\s/]+(\/[^\s]*)?$/;

export function readRegistries(v: Reader, value: unknown): RegistriesModel | undefined {
  const obj = v.object("cluster.registries", value ?? {}, ["configs", "mirrors"]);
  if (!obj) return undefined;
  const configs = (v.array("cluster.registries.configs", obj.configs) ?? []).flatMap((item, i) => {
    const path = `cluster.registries.configs[${i}]`;
    const c = v.object(path, item, [
      "hostname",
      "authConfigSecretName",
      "caBundle",
      "insecure",
      "tlsSecretName",
    ]);
    if (!c) return [];
    const hostname = readRegistryHost(v, `${path}.hostname`, c.hostname, "registry.example.com", false);
    const insecure = v.boolean(`${path}.insecure`, c.insecure);
    if (insecure)
      v.warn(`${path}.insecure`, "Images from this registry are pulled without TLS verification.");
    const config = {
      authConfigSecretName: readSecretName(v, `${path}.authConfigSecretName`, c.authConfigSecretName),
      caBundle: v.caBundle(`${path}.caBundle`, c.caBundle),
      insecure,
      tlsSecretName: readSecretName(v, `${path}.tlsSecretName`, c.tlsSecretName),
    };
    return hostname === undefined ? [] : [{ hostname, ...config }];
  });
  const mirrors = (v.array("cluster.registries.mirrors", obj.mirrors) ?? []).flatMap((item, i) => {
    const path = `cluster.registries.mirrors[${i}]`;
    const m = v.object(path, item, ["hostname", "endpoints", "rewrites"]);
    if (!m) return [];
    const hostname = readRegistryHost(v, `${path}.hostname`, m.hostname, "docker.io", true);
    const endpoints = v.stringArray(`${path}.endpoints`, m.endpoints) ?? [];
    if (endpoints.length === 0 && !v.reported(`${path}.endpoints`)) {
      v.error(`${path}.endpoints`, "A mirror needs at least one endpoint.", {
        fix: setCommand(`${path}.endpoints[0]`, "https://mirror.example.com"),
      });
    }
    endpoints.forEach((endpoint, j) => {
      if (!ENDPOINT.test(endpoint)) {
        v.error(`${path}.endpoints[${j}]`, "A mirror endpoint is an http or https URL.", {
          value: describeValue(endpoint),
          allowed: "https://HOST[:PORT][/PATH]",
          fix: setCommand(`${path}.endpoints[${j}]`, "https://mirror.example.com"),
        });
      }
    });
    if (hostname === undefined) return [];
    return [{ hostname, endpoints, rewrites: v.stringMap(`${path}.rewrites`, m.rewrites) ?? {} }];
  });
  return { configs, mirrors };
}

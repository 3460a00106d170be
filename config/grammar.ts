/**
 * The grammar of every name and value the stack can configure, defined once. config/ reports a value that breaks
 * these rules as a ConfigProblem; components/, scripts/ and the tests import the same predicates, so a value the
 * gate accepts is exactly a value the renderers accept. Each predicate is pure and never throws.
 */
import * as ipaddr from "ipaddr.js";
import { CronExpressionParser } from "cron-parser";

// ----------------------------------------------------------------------------------------------------
// Kubernetes names (k8s.io/apimachinery/pkg/util/validation)
// ----------------------------------------------------------------------------------------------------

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Label names and values: alphanumerics with '-', '_', '.' inside (`qualifiedNameFmt`). */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** A DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit. */
export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && DNS1123_LABEL.test(name);
}

export const DNS_LABEL_RULE =
  "a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit";

/** A DNS-1123 subdomain: dot-separated labels, at most 253 characters. */
export function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && DNS1123_SUBDOMAIN.test(name);
}

export const DNS_SUBDOMAIN_RULE =
  "a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', at most 253, starting and ending with a letter or digit";

/** A namespace name is a DNS-1123 label. */
export const isNamespaceName = isDnsLabel;

/** The namespaces that exist in every cluster; RKE2's CIS profile hardens these itself. */
export const BUILTIN_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"] as const;

export function isBuiltinNamespace(namespace: string): boolean {
  return (BUILTIN_NAMESPACES as readonly string[]).includes(namespace);
}

/** A label (or annotation) key: `[prefix/]name`, prefix a DNS subdomain, name at most 63 label characters. */
export function isLabelKey(key: string): boolean {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}

export const LABEL_KEY_RULE =
  "[PREFIX/]NAME: NAME at most 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit; " +
  "PREFIX a DNS subdomain such as example.com";

/** A label value: empty, or at most 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit. */
export function isLabelValue(value: string): boolean {
  return value === "" || (value.length <= 63 && LABEL_NAME.test(value));
}

export const LABEL_VALUE_RULE =
  "empty, or at most 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit";

/**
 * Node labels the kubelet may set on its own Node (NodeRestriction admission; `kubelet --node-labels`
 * refuses every other key under kubernetes.io or k8s.io and the kubelet exits).
 */
const KUBELET_ALLOWED_LABELS = [
  "kubernetes.io/hostname",
  "kubernetes.io/instance-type",
  "kubernetes.io/os",
  "kubernetes.io/arch",
  "beta.kubernetes.io/instance-type",
  "beta.kubernetes.io/os",
  "beta.kubernetes.io/arch",
  "failure-domain.beta.kubernetes.io/zone",
  "failure-domain.beta.kubernetes.io/region",
  "failure-domain.kubernetes.io/zone",
  "failure-domain.kubernetes.io/region",
  "topology.kubernetes.io/zone",
  "topology.kubernetes.io/region",
  "node.kubernetes.io/instance-type",
];
const KUBELET_ALLOWED_PREFIXES = ["kubelet.kubernetes.io", "node.kubernetes.io"];

/** Whether a kubelet accepts this key in `--node-labels` (reserved kubernetes.io/k8s.io keys are refused). */
export function isKubeletSettableLabel(key: string): boolean {
  const slash = key.indexOf("/");
  if (slash < 0) return true;
  const prefix = key.slice(0, slash);
  const reserved =
    [".kubernetes.io", ".k8s.io"].some((d) => prefix.endsWith(d)) ||
    ["kubernetes.io", "k8s.io"].includes(prefix);
  if (!reserved) return true;
  if (KUBELET_ALLOWED_LABELS.includes(key)) return true;
  return KUBELET_ALLOWED_PREFIXES.some((p) => prefix === p || prefix.endsWith(`.${p}`));
}

/** Splits a label selector into requirements and checks each; returns the normalised selector or why not. */
export function parseLabelSelector(selector: string): { selector: string } | { error: string } {
  const requirements: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (depth < 0) return { error: "unbalanced parentheses" };
    if (ch === "," && depth === 0) {
      requirements.push(current.trim());
      current = "";
    } else {
      current += ch;
    }
  }
  requirements.push(current.trim());
  if (depth !== 0) return { error: "unbalanced parentheses" };
  for (const requirement of requirements) {
    const error = requirementError(requirement);
    if (error !== undefined) return { error };
  }
  return { selector: requirements.join(",") };
}

function requirementError(requirement: string): string | undefined {
  const key = (k: string) => (isLabelKey(k) ? undefined : `${JSON.stringify(k)} is not a label key`);
  const value = (v: string) => (isLabelValue(v) ? undefined : `${JSON.stringify(v)} is not a label value`);
  let match: RegExpExecArray | null;
  if ((match = /^!\s*(\S+)$/.exec(requirement))) return key(match[1]);
  if ((match = /^([^\s=!(),]+)\s*(=|==|!=)\s*([^\s=!(),]*)$/.exec(requirement))) {
    return key(match[1]) ?? value(match[3]);
  }
  if ((match = /^([^\s=!(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(requirement))) {
    return (
      key(match[1]) ??
      match[3]
        .split(",")
        .map((v) => value(v.trim()))
        .find((e) => e !== undefined)
    );
  }
  if ((match = /^([^\s=!(),]+)$/.exec(requirement))) return key(match[1]);
  return `cannot parse the requirement ${JSON.stringify(requirement)}`;
}

export const LABEL_SELECTOR_RULE =
  "key=value, key!=value, key, !key, key in (a,b), key notin (a,b), comma-separated";

// ----------------------------------------------------------------------------------------------------
// Container images (github.com/distribution/reference)
// ----------------------------------------------------------------------------------------------------

const IMAGE_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const IMAGE_DOMAIN =
  "(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?";
const IMAGE_REFERENCE = new RegExp(
  `^(?:(${IMAGE_DOMAIN})/)?(${IMAGE_COMPONENT}(?:/${IMAGE_COMPONENT})*)(?::([\\w][\\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$`,
);

export interface ImageReference {
  readonly name: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** Parses `[registry/]repository[:tag][@sha256:digest]`; undefined when it is not an image reference. */
export function parseImageReference(image: string): ImageReference | undefined {
  const match = IMAGE_REFERENCE.exec(image);
  if (!match || image.length > 255 + 128 + 72) return undefined;
  const name = match[1] ? `${match[1]}/${match[2]}` : match[2];
  return { name, ...(match[3] ? { tag: match[3] } : {}), ...(match[4] ? { digest: match[4] } : {}) };
}

/** Pinned: a digest, or a tag other than `latest` (a moving tag would change the reconciler under the stack). */
export function isPinnedImage(image: string): boolean {
  const ref = parseImageReference(image);
  return ref !== undefined && (ref.digest !== undefined || (ref.tag !== undefined && ref.tag !== "latest"));
}

// ----------------------------------------------------------------------------------------------------
// Cron schedules (Kubernetes CronJob and Rancher's etcd snapshots both use robfig/cron's standard parser)
// ----------------------------------------------------------------------------------------------------

export const CRON_DESCRIPTORS = [
  "@yearly",
  "@annually",
  "@monthly",
  "@weekly",
  "@daily",
  "@midnight",
  "@hourly",
];

/** Five cron fields or a descriptor; no seconds field, no `TZ=` prefix. */
export function isCronSchedule(schedule: string): boolean {
  const trimmed = schedule.trim();
  if (CRON_DESCRIPTORS.includes(trimmed)) return true;
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 5 || !fields.every((f) => /^[0-9A-Za-z*?,/-]+$/.test(f))) return false;
  try {
    CronExpressionParser.parse(trimmed);
    return true;
  } catch {
    return false;
  }
}

export const CRON_RULE = `MINUTE HOUR DAY MONTH WEEKDAY (e.g. "0 */5 * * *") or ${CRON_DESCRIPTORS.join(", ")}`;

// ----------------------------------------------------------------------------------------------------
// Addresses, host names, CIDRs
// ----------------------------------------------------------------------------------------------------

/** An IPv4 address in dotted decimal (four octets 0-255, no leading zeros) or an IPv6 address without a zone. */
export function isIpAddress(text: string): boolean {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return true;
  return !text.includes("%") && text.includes(":") && ipaddr.IPv6.isValid(text);
}

/** Looks like an IPv4 address (digits and dots only), so it must be one; `10.0.0.256` is not a host name. */
export function looksLikeIpv4(text: string): boolean {
  return /^[0-9.]+$/.test(text);
}

const HOST_LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;

/** A DNS host name (RFC 1123, any case, at most 253) whose last label is not all digits. */
export function isHostName(text: string): boolean {
  if (text.length > 253) return false;
  const labels = text.replace(/\.$/, "").split(".");
  if (labels.some((l) => l.length > 63 || !HOST_LABEL.test(l))) return false;
  return !/^[0-9]+$/.test(labels[labels.length - 1]);
}

/** An address a TCP connection can dial: an IP address or a host name. */
export function isHostAddress(text: string): boolean {
  return isIpAddress(text) || (!looksLikeIpv4(text) && isHostName(text));
}

/** `host[:port]` without a scheme or path, as Rancher wants S3 endpoints and registry host names. */
export function isHostPort(text: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return isIpAddress(bracketed[1]) && isPort(bracketed[2]);
  const match = /^([^:]+)(?::(\d{1,5}))?$/.exec(text);
  return match !== null && isHostAddress(match[1]) && isPort(match[2]);
}

function isPort(text: string | undefined): boolean {
  return text === undefined || (Number(text) >= 1 && Number(text) <= 65535);
}

export type CidrCheck =
  | { readonly ok: true; readonly family: "ipv4" | "ipv6"; readonly prefix: number }
  | { readonly ok: false; readonly reason: "syntax" }
  | { readonly ok: false; readonly reason: "host-bits"; readonly network: string };

/**
 * A CIDR in network form (`10.0.0.0/8`, `fd00::/8`), as Kubernetes' `ipBlock.cidr` takes it. An address with host
 * bits set (`10.10.0.1/24`) is refused with its network form, which is what the user meant.
 */
export function checkCidr(text: string): CidrCheck {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!match || !isIpAddress(match[1])) return { ok: false, reason: "syntax" };
  const family = match[1].includes(":") ? "ipv6" : "ipv4";
  const prefix = Number(match[2]);
  if (prefix > (family === "ipv4" ? 32 : 128)) return { ok: false, reason: "syntax" };
  const network =
    family === "ipv4" ? ipaddr.IPv4.networkAddressFromCIDR(text) : ipaddr.IPv6.networkAddressFromCIDR(text);
  const address = ipaddr.parse(match[1]);
  if (network.toNormalizedString() !== address.toNormalizedString()) {
    return { ok: false, reason: "host-bits", network: `${network.toString()}/${prefix}` };
  }
  return { ok: true, family, prefix };
}

/** Whether a CIDR (already checked) is the whole address space of its family. */
export function isEverywhere(cidr: string): boolean {
  return /\/0$/.test(cidr);
}

// ----------------------------------------------------------------------------------------------------
// Text that reaches scripts, YAML documents, resource names and the plan
// ----------------------------------------------------------------------------------------------------

/**
 * Characters no configured value may hold: C0 and C1 control characters (NUL, escape, carriage return, ...), DEL,
 * the Unicode line and paragraph separators, and the bidirectional overrides that make text read differently
 * from what it is. Line feeds and tabs are allowed only where `multiLine` says (PEM bundles, free-form YAML).
 */
export function forbiddenCharacter(text: string, multiLine: boolean): number | undefined {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (multiLine && (code === 0x0a || code === 0x09)) continue;
    if (
      code < 0x20 ||
      (code >= 0x7f && code <= 0x9f) ||
      code === 0x2028 ||
      code === 0x2029 ||
      (code >= 0x202a && code <= 0x202e) ||
      (code >= 0x2066 && code <= 0x2069)
    ) {
      return i;
    }
  }
  return undefined;
}

/** Names a character for a message without printing it: `U+0000`. */
export function describeCharacter(text: string, at: number): string {
  return `U+${text.charCodeAt(at).toString(16).toUpperCase().padStart(4, "0")}`;
}

// ----------------------------------------------------------------------------------------------------
// RKE2
// ----------------------------------------------------------------------------------------------------

/** RKE2's bundled primary CNIs, and `none` (docs.rke2.io, Network Options). */
export const PRIMARY_CNIS = ["canal", "calico", "cilium", "flannel"] as const;

/**
 * RKE2's `cni` value: one primary CNI or `none`, optionally after `multus` (a secondary CNI that needs a primary
 * one, listed first: `multus,canal`).
 */
export function isRke2Cni(cni: string): boolean {
  const parts = cni.split(",").map((p) => p.trim());
  if (parts.length === 1)
    return parts[0] === "none" || (PRIMARY_CNIS as readonly string[]).includes(parts[0]);
  return (
    parts.length === 2 && parts[0] === "multus" && (PRIMARY_CNIS as readonly string[]).includes(parts[1])
  );
}

/** CNIs that do not enforce NetworkPolicies: the same-namespace policies (CIS 5.3.2) would be decoration. */
export function enforcesNetworkPolicies(cni: string): boolean {
  const primary = cni.split(",").pop()?.trim();
  return primary !== "none" && primary !== "flannel";
}

export const RKE2_CNI_RULE = `${[...PRIMARY_CNIS, "none"].join(", ")}, or multus before one of them (multus,canal)`;

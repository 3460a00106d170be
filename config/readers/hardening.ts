import type {
  AllowedSourceModel,
  AuditLevel,
  AuditRuleModel,
  HardeningModel,
  OperatorNamespaceModel,
} from "../model";
import { describeValue, setCommand } from "../problems";
import { namespaceError, type Reader } from "../reader";
import { DEFAULT_AUDIT_LEVEL } from "../defaults";
import { checkReconcilerAgainstNamespaces, readReconciler } from "./reconciler";

export { DEFAULT_RECONCILER } from "./reconciler";
import { BUILTIN_NAMESPACES, checkCidr, isBuiltinNamespace, isEverywhere, isNamespaceName } from "../grammar";

export const AUDIT_LEVELS: readonly AuditLevel[] = ["None", "Metadata", "Request", "RequestResponse"];
const AUDIT_STAGES = ["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"];

/** Set by the API server on every namespace (Kubernetes 1.21+); a different value is refused. */
const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

export function readHardening(v: Reader, value: unknown): HardeningModel | undefined {
  const obj = v.object("hardening", value ?? {}, [
    "auditPolicyLevel",
    "auditRules",
    "namespaces",
    "etcdUserOnAllNodes",
    "allowExistingInstall",
    "reconciler",
  ]);
  if (!obj) return undefined;
  const auditPolicyLevel = (v.oneOf("hardening.auditPolicyLevel", obj.auditPolicyLevel, AUDIT_LEVELS) ??
    DEFAULT_AUDIT_LEVEL) as AuditLevel;
  if (auditPolicyLevel === "None") {
    v.warn(
      "hardening.auditPolicyLevel",
      "Level None records no requests: the audit log stays empty (CIS 1.2.22-1.2.25 pass only on paper).",
      { fix: setCommand("hardening.auditPolicyLevel", DEFAULT_AUDIT_LEVEL) },
    );
  }
  const auditRules = (v.array("hardening.auditRules", obj.auditRules) ?? []).flatMap((rule, i) => {
    const parsed = readAuditRule(v, `hardening.auditRules[${i}]`, rule);
    return parsed ? [parsed] : [];
  });
  const namespaces = readNamespaces(v, obj.namespaces);
  const reconciler = readReconciler(v, obj.reconciler);
  if (!reconciler) return undefined;
  checkReconcilerAgainstNamespaces(v, reconciler, namespaces);
  return {
    auditPolicyLevel,
    auditRules,
    namespaces,
    etcdUserOnAllNodes: v.boolean("hardening.etcdUserOnAllNodes", obj.etcdUserOnAllNodes) ?? false,
    allowExistingInstall: v.boolean("hardening.allowExistingInstall", obj.allowExistingInstall) ?? false,
    reconciler,
  };
}

function readAuditRule(v: Reader, path: string, value: unknown): AuditRuleModel | undefined {
  const obj = v.object(path, value, [
    "level",
    "users",
    "userGroups",
    "verbs",
    "resources",
    "namespaces",
    "nonResourceURLs",
    "omitStages",
  ]);
  if (!obj) return undefined;
  const level = v.oneOf(`${path}.level`, obj.level, AUDIT_LEVELS, true) as AuditLevel | undefined;
  const resources = (v.array(`${path}.resources`, obj.resources) ?? []).flatMap((r, i) => {
    const rp = `${path}.resources[${i}]`;
    const ro = v.object(rp, r, ["group", "resources", "resourceNames"]);
    if (!ro) return [];
    return [
      {
        group: v.string(`${rp}.group`, ro.group, { allowEmpty: true }),
        resources: v.stringArray(`${rp}.resources`, ro.resources),
        resourceNames: v.stringArray(`${rp}.resourceNames`, ro.resourceNames),
      },
    ];
  });
  const omitStages = v.stringArray(`${path}.omitStages`, obj.omitStages);
  omitStages?.forEach((stage, i) => {
    if (!AUDIT_STAGES.includes(stage)) {
      v.error(`${path}.omitStages[${i}]`, `${describeValue(stage)} is not an audit stage.`, {
        value: describeValue(stage),
        allowed: AUDIT_STAGES.join(", "),
        fix: setCommand(`${path}.omitStages[${i}]`, "RequestReceived"),
      });
    }
  });
  const namespaces = v.stringArray(`${path}.namespaces`, obj.namespaces);
  namespaces?.forEach((ns, i) => {
    // "" selects non-namespaced resources in an audit rule (audit.k8s.io/v1).
    if (ns !== "" && !isNamespaceName(ns)) namespaceError(v, `${path}.namespaces[${i}]`, ns);
  });
  const nonResourceURLs = v.stringArray(`${path}.nonResourceURLs`, obj.nonResourceURLs);
  // The API server validates its audit policy at start-up and refuses to start with a bad one.
  nonResourceURLs?.forEach((url, i) => {
    if (!url.startsWith("/") || url.slice(0, -1).includes("*")) {
      v.error(
        `${path}.nonResourceURLs[${i}]`,
        "The API server would refuse this audit policy and not start.",
        {
          value: describeValue(url),
          allowed: "a path starting with '/', with '*' only at the end (/healthz, /api*)",
          fix: setCommand(`${path}.nonResourceURLs[${i}]`, "/healthz*"),
        },
      );
    }
  });
  if (nonResourceURLs !== undefined && (obj.resources !== undefined || obj.namespaces !== undefined)) {
    v.error(
      `${path}.nonResourceURLs`,
      "A rule with nonResourceURLs cannot also name resources or namespaces; the API server would not start.",
      {
        fix: `pulumi config rm --path 'hardened-rke2:${path}.nonResourceURLs' and put it in a rule of its own`,
      },
    );
  }
  if (level === undefined) return undefined;
  const rule: AuditRuleModel = {
    level,
    users: v.stringArray(`${path}.users`, obj.users),
    userGroups: v.stringArray(`${path}.userGroups`, obj.userGroups),
    verbs: v.stringArray(`${path}.verbs`, obj.verbs),
    resources: obj.resources === undefined ? undefined : resources,
    namespaces,
    nonResourceURLs,
    omitStages,
  };
  return Object.fromEntries(
    Object.entries(rule).filter(([, x]) => x !== undefined),
  ) as unknown as AuditRuleModel;
}

function readNamespaces(v: Reader, value: unknown): OperatorNamespaceModel[] {
  const seen = new Map<string, number>();
  return (v.array("hardening.namespaces", value) ?? []).flatMap((item, i) => {
    const path = `hardening.namespaces[${i}]`;
    const obj = v.object(path, item, ["name", "create", "labels", "allowFrom"]);
    if (!obj) return [];
    let name = v.string(`${path}.name`, obj.name, { required: true, example: "payments" });
    if (name !== undefined) {
      if (!isNamespaceName(name)) {
        namespaceError(v, `${path}.name`, name);
        name = undefined;
      } else if (isBuiltinNamespace(name)) {
        v.error(
          `${path}.name`,
          "Built-in namespaces are hardened by RKE2's profile and this program already.",
          {
            value: describeValue(name),
            allowed: `any namespace but ${BUILTIN_NAMESPACES.join(", ")}`,
            fix: `pulumi config rm --path 'hardened-rke2:${path}'`,
          },
        );
      } else if (seen.has(name)) {
        v.error(
          `${path}.name`,
          `This namespace is already declared at hardening.namespaces[${seen.get(name)}].`,
          {
            value: describeValue(name),
            fix: `pulumi config rm --path 'hardened-rke2:${path}'`,
          },
        );
      } else {
        seen.set(name, i);
      }
    }
    const allowFrom = (v.array(`${path}.allowFrom`, obj.allowFrom) ?? []).flatMap((src, j) => {
      const parsed = readAllowedSource(v, `${path}.allowFrom[${j}]`, src);
      return parsed ? [parsed] : [];
    });
    const create = v.boolean(`${path}.create`, obj.create) ?? false;
    const labels = v.labels(`${path}.labels`, obj.labels) ?? {};
    if (NAMESPACE_NAME_LABEL in labels && labels[NAMESPACE_NAME_LABEL] !== name) {
      v.error(
        `${path}.labels["${NAMESPACE_NAME_LABEL}"]`,
        "The API server sets this label to the namespace's name.",
        {
          value: describeValue(labels[NAMESPACE_NAME_LABEL]),
          fix: `pulumi config rm --path 'hardened-rke2:${path}.labels["${NAMESPACE_NAME_LABEL}"]'`,
        },
      );
    }
    if (!create && Object.keys(labels).length > 0) {
      v.error(
        `${path}.labels`,
        "Labels are set only on a namespace the program creates; these would be ignored.",
        {
          fix: setCommand(`${path}.create`, "true"),
        },
      );
    }
    if (name === undefined) return [];
    return [{ name, create, labels, allowFrom }];
  });
}

function readAllowedSource(v: Reader, path: string, value: unknown): AllowedSourceModel | undefined {
  const obj = v.object(path, value, ["namespace", "cidr"]);
  if (!obj) return undefined;
  const namespace = v.string(`${path}.namespace`, obj.namespace, { example: "ingress-nginx" });
  const cidr = v.string(`${path}.cidr`, obj.cidr, { example: "10.0.0.0/8" });
  if ((obj.namespace === undefined) === (obj.cidr === undefined)) {
    v.error(path, "An allowed source names exactly one of namespace or cidr.", {
      value: describeValue(value),
      fix: setCommand(`${path}.namespace`, "ingress-nginx"),
    });
    return undefined;
  }
  if (namespace !== undefined) {
    if (!isNamespaceName(namespace)) {
      namespaceError(v, `${path}.namespace`, namespace, "ingress-nginx");
      return undefined;
    }
    return { namespace };
  }
  if (cidr === undefined) return undefined;
  const checked = checkCidr(cidr);
  if (!checked.ok) {
    const hostBits = checked.reason === "host-bits";
    v.error(
      `${path}.cidr`,
      hostBits
        ? `This CIDR has host bits set; the network is ${checked.network}.`
        : "This is not a CIDR block.",
      {
        value: describeValue(cidr),
        allowed: "the network form ADDRESS/PREFIX, e.g. 10.0.0.0/8 or fd00::/8",
        fix: setCommand(`${path}.cidr`, hostBits ? checked.network : "10.0.0.0/8"),
      },
    );
    return undefined;
  }
  if (isEverywhere(cidr)) {
    v.warn(
      `${path}.cidr`,
      "This allows ingress from every address: the namespace is not isolated (CIS 5.3.2).",
      { value: describeValue(cidr), fix: setCommand(`${path}.cidr`, "10.0.0.0/8") },
    );
  }
  return { cidr };
}

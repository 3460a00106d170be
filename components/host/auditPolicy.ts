import { stringify } from "yaml";
import type { AuditLevel, AuditRuleModel } from "../../config/model";
import { DEFAULT_AUDIT_LEVEL } from "../../config/defaults";

// The catch-all level's default is part of the stack's grammar, defined once in config/.
export { DEFAULT_AUDIT_LEVEL };

/** The fields of one rule, in the order the Kubernetes documentation lists them. */
type PolicyRule = Record<string, unknown>;

function renderRule(rule: AuditRuleModel): PolicyRule {
  const out: PolicyRule = { level: rule.level };
  if (rule.users !== undefined) out.users = [...rule.users];
  if (rule.userGroups !== undefined) out.userGroups = [...rule.userGroups];
  if (rule.verbs !== undefined) out.verbs = [...rule.verbs];
  if (rule.resources !== undefined) {
    out.resources = rule.resources.map((r) => {
      const group: Record<string, unknown> = {};
      if (r.group !== undefined) group.group = r.group;
      if (r.resources !== undefined) group.resources = [...r.resources];
      if (r.resourceNames !== undefined) group.resourceNames = [...r.resourceNames];
      return group;
    });
  }
  if (rule.namespaces !== undefined) out.namespaces = [...rule.namespaces];
  if (rule.nonResourceURLs !== undefined) out.nonResourceURLs = [...rule.nonResourceURLs];
  if (rule.omitStages !== undefined) out.omitStages = [...rule.omitStages];
  return out;
}

/**
 * Resources whose request and response bodies carry credentials: Secret data, ConfigMaps (which
 * often hold credentials in practice), TokenReviews (the bearer token under review) and
 * TokenRequests (`serviceaccounts/token`, the issued token). At `Request` or `RequestResponse`
 * the API server would write those bodies into the audit log in plain text.
 */
export const SENSITIVE_RESOURCES: readonly {
  readonly group: string;
  readonly resources: readonly string[];
}[] = [
  { group: "", resources: ["secrets", "configmaps", "serviceaccounts/token"] },
  { group: "authentication.k8s.io", resources: ["tokenreviews"] },
];

/**
 * The level of the rule for the sensitive resources: `Metadata` (who touched which object, never
 * its body), or `None` when the stack's catch-all is `None`. The rule only ever lowers a level:
 * a stack that records nothing does not start recording because of it.
 */
export function sensitiveResourceLevel(level: AuditLevel): AuditLevel {
  return level === "None" ? "None" : "Metadata";
}

/**
 * The API server's audit policy (`audit.k8s.io/v1` Policy) for `/etc/rancher/rke2/audit-policy.yaml`.
 * The API server uses the first rule that matches a request, so the order is:
 * 1. the sensitive resources at `Metadata` at most (`sensitiveResourceLevel`), so that no stack
 *    rule and no catch-all level writes a Secret or token body into the log;
 * 2. the stack's rules in their order;
 * 3. a catch-all rule at `level`, so every request not matched earlier is logged at that level.
 *
 * Rendered as YAML 1.1 because the API server reads it with a YAML 1.1 parser: strings such as
 * `on`, `yes` or `no` (valid namespace names) are quoted instead of turning into booleans.
 */
export function renderAuditPolicy(
  level: AuditLevel = DEFAULT_AUDIT_LEVEL,
  rules: readonly AuditRuleModel[] = [],
): string {
  const sensitive: PolicyRule = {
    level: sensitiveResourceLevel(level),
    resources: SENSITIVE_RESOURCES.map((r) => ({ group: r.group, resources: [...r.resources] })),
  };
  const policy = {
    apiVersion: "audit.k8s.io/v1",
    kind: "Policy",
    rules: [sensitive, ...rules.map(renderRule), { level }],
  };
  return stringify(policy, { version: "1.1", lineWidth: 0 });
}

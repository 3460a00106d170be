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
 * The API server's audit policy (`audit.k8s.io/v1` Policy) for `/etc/rancher/rke2/audit-policy.yaml`:
 * the stack's rules in their order (the API server uses the first rule that matches a request),
 * then a catch-all rule at `level`, so every request not matched earlier is logged at that level.
 *
 * Rendered as YAML 1.1 because the API server reads it with a YAML 1.1 parser: strings such as
 * `on`, `yes` or `no` (valid namespace names) are quoted instead of turning into booleans.
 */
export function renderAuditPolicy(
  level: AuditLevel = DEFAULT_AUDIT_LEVEL,
  rules: readonly AuditRuleModel[] = [],
): string {
  const policy = {
    apiVersion: "audit.k8s.io/v1",
    kind: "Policy",
    rules: [...rules.map(renderRule), { level }],
  };
  return stringify(policy, { version: "1.1", lineWidth: 0 });
}

/**
 * The rendered audit policy as the API server reads it: parsed with a YAML 1.1 parser, checked
 * against the audit.k8s.io/v1 Policy schema, and evaluated with the API server's first-match rule to
 * see which level a request would be logged at. The point under test: whatever level and rules a
 * stack picks, a request for a Secret, a ConfigMap, a TokenReview or a TokenRequest is logged at
 * `Metadata` at most, so no credential body lands in the audit log.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as YAML from "yaml";
import type { AuditLevel, AuditRuleModel } from "../config/model";
import {
  DEFAULT_AUDIT_LEVEL,
  SENSITIVE_RESOURCES,
  renderAuditPolicy,
  sensitiveResourceLevel,
} from "../components/host/auditPolicy";

// ---------------------------------------------------------------------------------------------
// The audit.k8s.io/v1 Policy schema. kubernetes-models ships no audit.k8s.io types (the Policy is
// a file the API server reads, not an API object), so the schema is written here from the
// Kubernetes reference "kube-apiserver Audit Configuration (v1)": Policy, PolicyRule,
// GroupResources, Level and Stage, plus the API server's own checks on a policy (resourceNames
// need resources; a rule is either for resources/namespaces or for nonResourceURLs).
// ---------------------------------------------------------------------------------------------

const LEVELS: readonly AuditLevel[] = ["None", "Metadata", "Request", "RequestResponse"];
const STAGES = ["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"];
const POLICY_FIELDS = ["apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields"];
const RULE_FIELDS = [
  "level",
  "users",
  "userGroups",
  "verbs",
  "resources",
  "namespaces",
  "nonResourceURLs",
  "omitStages",
  "omitManagedFields",
];
const GROUP_RESOURCE_FIELDS = ["group", "resources", "resourceNames"];

interface GroupResources {
  readonly group?: string;
  readonly resources?: readonly string[];
  readonly resourceNames?: readonly string[];
}

interface Rule {
  readonly level: AuditLevel;
  readonly users?: readonly string[];
  readonly userGroups?: readonly string[];
  readonly verbs?: readonly string[];
  readonly resources?: readonly GroupResources[];
  readonly namespaces?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

interface Policy {
  readonly apiVersion: string;
  readonly kind: string;
  readonly rules: readonly Rule[];
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function schemaErrors(doc: unknown): string[] {
  const errors: string[] = [];
  const fields = (where: string, obj: Record<string, unknown>, allowed: readonly string[]) => {
    for (const key of Object.keys(obj))
      if (!allowed.includes(key)) errors.push(`${where}: unknown field ${key}`);
  };
  const strings = (where: string, v: unknown) => {
    if (v !== undefined && !(Array.isArray(v) && v.every((s) => typeof s === "string")))
      errors.push(`${where}: not a list of strings`);
  };
  const stages = (where: string, v: unknown) => {
    strings(where, v);
    if (Array.isArray(v))
      for (const s of v) if (!STAGES.includes(String(s))) errors.push(`${where}: stage ${s}`);
  };
  if (!isRecord(doc)) return ["the policy is not a mapping"];
  fields("policy", doc, POLICY_FIELDS);
  if (doc["apiVersion"] !== "audit.k8s.io/v1") errors.push(`apiVersion ${String(doc["apiVersion"])}`);
  if (doc["kind"] !== "Policy") errors.push(`kind ${String(doc["kind"])}`);
  stages("omitStages", doc["omitStages"]);
  const rules = doc["rules"];
  if (!Array.isArray(rules)) return [...errors, "rules is required and must be a list"];
  rules.forEach((rule: unknown, i) => {
    const where = `rules[${i}]`;
    if (!isRecord(rule)) {
      errors.push(`${where}: not a mapping`);
      return;
    }
    fields(where, rule, RULE_FIELDS);
    if (!LEVELS.includes(rule["level"] as AuditLevel))
      errors.push(`${where}.level: ${String(rule["level"])}`);
    for (const key of ["users", "userGroups", "verbs", "namespaces", "nonResourceURLs"]) {
      strings(`${where}.${key}`, rule[key]);
    }
    stages(`${where}.omitStages`, rule["omitStages"]);
    if (rule["omitManagedFields"] !== undefined && typeof rule["omitManagedFields"] !== "boolean")
      errors.push(`${where}.omitManagedFields: not a boolean`);
    if (rule["nonResourceURLs"] !== undefined && (rule["resources"] ?? rule["namespaces"]) !== undefined)
      errors.push(`${where}: rules can apply to API resources or non-resource URL paths, not both`);
    const resources = rule["resources"];
    if (resources === undefined) return;
    if (!Array.isArray(resources)) {
      errors.push(`${where}.resources: not a list`);
      return;
    }
    resources.forEach((gr: unknown, j) => {
      const at = `${where}.resources[${j}]`;
      if (!isRecord(gr)) {
        errors.push(`${at}: not a mapping`);
        return;
      }
      fields(at, gr, GROUP_RESOURCE_FIELDS);
      if (gr["group"] !== undefined && typeof gr["group"] !== "string")
        errors.push(`${at}.group: not a string`);
      strings(`${at}.resources`, gr["resources"]);
      strings(`${at}.resourceNames`, gr["resourceNames"]);
      if (gr["resourceNames"] !== undefined && gr["resources"] === undefined)
        errors.push(`${at}: resourceNames requires resources`);
    });
  });
  return errors;
}

/** Parses the rendered text as the API server does (YAML 1.1) and checks it against the schema. */
function parsePolicy(text: string): Policy {
  const doc = YAML.parse(text, { version: "1.1" }) as unknown;
  assert.deepEqual(schemaErrors(doc), [], text);
  return doc as Policy;
}

// ---------------------------------------------------------------------------------------------
// The API server's rule matching (k8s.io/apiserver audit policy checker, as documented for
// PolicyRule and GroupResources): every set field must match; a rule with resources or namespaces
// matches resource requests only, one with nonResourceURLs non-resource requests only; the first
// matching rule decides; no match means None.
// ---------------------------------------------------------------------------------------------

interface ResourceRequest {
  readonly user: string;
  readonly groups: readonly string[];
  readonly verb: string;
  readonly apiGroup: string;
  readonly resource: string;
  readonly subresource?: string;
  /** "" for a cluster-scoped resource. */
  readonly namespace: string;
  readonly name?: string;
}

interface NonResourceRequest {
  readonly user: string;
  readonly groups: readonly string[];
  readonly verb: string;
  readonly path: string;
}

type Request = ResourceRequest | NonResourceRequest;
const isResourceRequest = (r: Request): r is ResourceRequest => "resource" in r;

function matchesGroupResources(gr: GroupResources, r: ResourceRequest): boolean {
  if ((gr.group ?? "") !== r.apiGroup) return false;
  if (gr.resources === undefined || gr.resources.length === 0) return true;
  if (
    gr.resourceNames !== undefined &&
    gr.resourceNames.length > 0 &&
    !gr.resourceNames.includes(r.name ?? "")
  )
    return false;
  const combined = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
  return gr.resources.some(
    (res) =>
      res === "*" ||
      res === combined ||
      (r.subresource !== undefined && res.startsWith("*/") && res.slice(2) === r.subresource) ||
      (res.endsWith("/*") && res.slice(0, -2) === r.resource),
  );
}

function matchesPath(pattern: string, path: string): boolean {
  return pattern.endsWith("*") ? path.startsWith(pattern.slice(0, -1)) : pattern === path;
}

function ruleMatches(rule: Rule, r: Request): boolean {
  if (rule.users?.length && !rule.users.includes(r.user)) return false;
  if (rule.userGroups?.length && !rule.userGroups.some((g) => r.groups.includes(g))) return false;
  if (rule.verbs?.length && !rule.verbs.includes(r.verb)) return false;
  if (rule.namespaces?.length || rule.resources?.length) {
    if (!isResourceRequest(r)) return false;
    if (rule.namespaces?.length && !rule.namespaces.includes(r.namespace)) return false;
    return !rule.resources?.length || rule.resources.some((gr) => matchesGroupResources(gr, r));
  }
  if (rule.nonResourceURLs?.length) {
    return !isResourceRequest(r) && rule.nonResourceURLs.some((p) => matchesPath(p, r.path));
  }
  return true;
}

function levelFor(policy: Policy, r: Request): AuditLevel {
  return policy.rules.find((rule) => ruleMatches(rule, r))?.level ?? "None";
}

const rank = (level: AuditLevel): number => LEVELS.indexOf(level);

// ---------------------------------------------------------------------------------------------
// Requests and stack rules
// ---------------------------------------------------------------------------------------------

const ADMIN = { user: "admin", groups: ["system:masters", "system:authenticated"] };
const CONTROLLER = { user: "system:kube-controller-manager", groups: ["system:authenticated"] };

/** Requests whose bodies carry credentials. */
const SENSITIVE_REQUESTS: readonly ResourceRequest[] = [
  { ...ADMIN, verb: "get", apiGroup: "", resource: "secrets", namespace: "payments", name: "db" },
  { ...ADMIN, verb: "create", apiGroup: "", resource: "secrets", namespace: "kube-system", name: "x" },
  { ...CONTROLLER, verb: "list", apiGroup: "", resource: "secrets", namespace: "" },
  { ...ADMIN, verb: "update", apiGroup: "", resource: "configmaps", namespace: "on", name: "app" },
  {
    ...CONTROLLER,
    verb: "create",
    apiGroup: "",
    resource: "serviceaccounts",
    subresource: "token",
    namespace: "default",
    name: "default",
  },
  {
    ...CONTROLLER,
    verb: "create",
    apiGroup: "authentication.k8s.io",
    resource: "tokenreviews",
    namespace: "",
  },
];

/** Requests the sensitive rule must leave to the stack's rules and catch-all. */
const ORDINARY_REQUESTS: readonly Request[] = [
  { ...ADMIN, verb: "get", apiGroup: "", resource: "pods", namespace: "payments", name: "api-0" },
  { ...ADMIN, verb: "get", apiGroup: "", resource: "serviceaccounts", namespace: "default", name: "default" },
  { ...ADMIN, verb: "patch", apiGroup: "apps", resource: "deployments", namespace: "payments", name: "api" },
  { ...ADMIN, verb: "get", apiGroup: "", resource: "pods", subresource: "log", namespace: "payments" },
  // A custom resource that happens to be called "secrets" in another group.
  { ...ADMIN, verb: "get", apiGroup: "example.com", resource: "secrets", namespace: "payments" },
  { ...ADMIN, verb: "get", path: "/version" },
];

/** Stack rules that try to record credential bodies, each in its own way. */
const GREEDY_RULES: readonly AuditRuleModel[] = [
  { level: "RequestResponse", resources: [{ group: "", resources: ["secrets", "configmaps"] }] },
  { level: "RequestResponse", resources: [{ group: "" }] },
  { level: "RequestResponse", resources: [{ group: "", resources: ["*"] }] },
  { level: "RequestResponse", resources: [{ group: "", resources: ["serviceaccounts/*"] }] },
  { level: "RequestResponse", resources: [{ group: "", resources: ["*/token"] }] },
  { level: "Request", resources: [{ group: "authentication.k8s.io", resources: ["tokenreviews"] }] },
  { level: "RequestResponse", users: ["admin"] },
  { level: "RequestResponse", namespaces: ["payments", "kube-system", "on", ""] },
  { level: "RequestResponse", verbs: ["get", "list", "create", "update"] },
];

const describeRequest = (r: Request): string =>
  isResourceRequest(r)
    ? `${r.verb} ${r.apiGroup || "core"}/${r.resource}${r.subresource ? `/${r.subresource}` : ""} in "${r.namespace}"`
    : `${r.verb} ${r.path}`;

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe("audit policy: credential bodies never reach the log", () => {
  it("the evaluator finds the leak in a policy without the sensitive rule (the check can fail)", () => {
    const unguarded: Policy = {
      apiVersion: "audit.k8s.io/v1",
      kind: "Policy",
      rules: [{ level: "RequestResponse" }],
    };
    for (const r of SENSITIVE_REQUESTS) assert.equal(levelFor(unguarded, r), "RequestResponse");
    const rendered = parsePolicy(renderAuditPolicy("RequestResponse"));
    assert.ok(rendered.rules.length > 1);
    const withoutFirst: Policy = { ...rendered, rules: rendered.rules.slice(1) };
    assert.ok(SENSITIVE_REQUESTS.every((r) => levelFor(withoutFirst, r) === "RequestResponse"));
  });

  for (const level of LEVELS) {
    it(`catch-all ${level}: every credential request is logged at ${sensitiveResourceLevel(level)}, whatever the stack's rules`, () => {
      const expected = level === "None" ? "None" : "Metadata";
      assert.equal(sensitiveResourceLevel(level), expected);
      const ruleSets: readonly (readonly AuditRuleModel[])[] = [
        [],
        ...GREEDY_RULES.map((rule) => [rule]),
        GREEDY_RULES,
      ];
      for (const rules of ruleSets) {
        const policy = parsePolicy(renderAuditPolicy(level, rules));
        for (const r of SENSITIVE_REQUESTS) {
          const got = levelFor(policy, r);
          assert.equal(got, expected, `${describeRequest(r)} with rules ${JSON.stringify(rules)}`);
          assert.ok(rank(got) <= rank("Metadata"));
        }
      }
    });
  }

  it("leaves every other request to the stack's rules and catch-all", () => {
    for (const level of LEVELS) {
      const policy = parsePolicy(renderAuditPolicy(level));
      for (const r of ORDINARY_REQUESTS) assert.equal(levelFor(policy, r), level, describeRequest(r));
    }
    const rules: AuditRuleModel[] = [
      { level: "None", nonResourceURLs: ["/version"] },
      { level: "RequestResponse", resources: [{ group: "apps", resources: ["deployments"] }] },
      { level: "Request", resources: [{ group: "" }] },
    ];
    const policy = parsePolicy(renderAuditPolicy("Metadata", rules));
    assert.deepEqual(
      ORDINARY_REQUESTS.map((r) => levelFor(policy, r)),
      ["Request", "Request", "RequestResponse", "Request", "Metadata", "None"],
    );
  });

  it("puts the sensitive rule first, the stack's rules next in their order, the catch-all last", () => {
    const rules: AuditRuleModel[] = [
      { level: "None", users: ["system:kube-proxy"], verbs: ["watch"] },
      { level: "RequestResponse", namespaces: ["payments"] },
    ];
    const policy = parsePolicy(renderAuditPolicy("Request", rules));
    assert.deepEqual(policy.rules[0], {
      level: "Metadata",
      resources: SENSITIVE_RESOURCES.map((r) => ({ group: r.group, resources: [...r.resources] })),
    });
    assert.deepEqual(policy.rules.slice(1, -1), rules);
    assert.deepEqual(policy.rules.at(-1), { level: "Request" });
  });

  it("covers Secrets, ConfigMaps, TokenRequests and TokenReviews, and the default level is Metadata", () => {
    const covered = SENSITIVE_RESOURCES.flatMap((g) => g.resources.map((r) => `${g.group || "core"}/${r}`));
    assert.deepEqual(covered.sort(), [
      "authentication.k8s.io/tokenreviews",
      "core/configmaps",
      "core/secrets",
      "core/serviceaccounts/token",
    ]);
    assert.equal(DEFAULT_AUDIT_LEVEL, "Metadata");
    const policy = parsePolicy(renderAuditPolicy());
    assert.deepEqual(
      policy.rules.map((r) => r.level),
      ["Metadata", "Metadata"],
    );
  });

  it("the schema check rejects what the API server would reject", () => {
    assert.notDeepEqual(schemaErrors({ apiVersion: "audit.k8s.io/v1", kind: "Policy" }), []);
    assert.notDeepEqual(
      schemaErrors({ apiVersion: "audit.k8s.io/v1", kind: "Policy", rules: [{ level: "All" }] }),
      [],
    );
    assert.notDeepEqual(
      schemaErrors({
        apiVersion: "audit.k8s.io/v1",
        kind: "Policy",
        rules: [{ level: "None", resources: [{ group: "", resourceNames: ["x"] }] }],
      }),
      [],
    );
    assert.notDeepEqual(
      schemaErrors({
        apiVersion: "audit.k8s.io/v1",
        kind: "Policy",
        rules: [{ level: "None", namespaces: ["a"], nonResourceURLs: ["/x"] }],
      }),
      [],
    );
    assert.notDeepEqual(
      schemaErrors({
        apiVersion: "audit.k8s.io/v1",
        kind: "Policy",
        rules: [{ level: "None", resource: [] }],
      }),
      [],
    );
  });
});

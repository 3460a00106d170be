/**
 * Policies whose weight depends on the stack: a finding that blocks `pulumi up` on a production stack
 * and only warns on the others. The policy SDK fixes one enforcement level per policy, so each such
 * check is a pair of policies with one check: `<name>-in-production` (mandatory, production stacks
 * only) and `<name>` (advisory, every other stack). Both read the same two properties:
 *
 * - `productionStacks` (default `["prod"]`): the stacks where the finding blocks;
 * - `allowedStacks` (default `[]`): stacks that accept the finding on purpose (a lab); neither policy
 *   reports there.
 *
 * Set them to the same values on both policies of a pair, e.g. in `--policy-pack-config`:
 * `{ "ssh-host-key-pinned": { "productionStacks": ["prod", "dr"] },
 *    "ssh-host-key-pinned-in-production": { "productionStacks": ["prod", "dr"] } }`.
 */
import type {
  EnforcementLevel,
  PolicyConfigSchema,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  Severity,
} from "@pulumi/policy";

export const DEFAULT_PRODUCTION_STACKS: readonly string[] = ["prod"];
export const PRODUCTION_SUFFIX = "-in-production";

export interface StackScopeConfig {
  productionStacks?: string[];
  allowedStacks?: string[];
}

const STACK_SCOPE_SCHEMA: PolicyConfigSchema = {
  properties: {
    productionStacks: {
      type: "array",
      items: { type: "string" },
      default: [...DEFAULT_PRODUCTION_STACKS],
      description: "Stacks where the finding blocks the update (mandatory); advisory on every other stack.",
    },
    allowedStacks: {
      type: "array",
      items: { type: "string" },
      default: [],
      description: "Stacks that accept the finding on purpose: it is not reported there at all.",
    },
  },
};

/** The stack of a resource URN, `urn:pulumi:<stack>::<project>::<type>::<name>`. */
export function stackOfUrn(urn: string): string | undefined {
  return /^urn:pulumi:([^:]+)::/.exec(urn)?.[1];
}

/** What the two policies of a pair share. */
export interface StackScopedCheck {
  readonly name: string;
  readonly displayName: string;
  readonly description: string;
  readonly severity: Severity;
  readonly tags: string[];
  readonly remediationSteps: string;
  /** The resource types the check reads; other types are not applicable. */
  readonly types: readonly string[];
  /** Reports the findings for one resource of `types`. */
  readonly check: (args: ResourceValidationArgs, report: ReportViolation) => void;
}

function scoped(base: StackScopedCheck, production: boolean): ResourceValidationPolicy {
  const enforcementLevel: EnforcementLevel = production ? "mandatory" : "advisory";
  return {
    name: production ? `${base.name}${PRODUCTION_SUFFIX}` : base.name,
    displayName: production ? `${base.displayName} (production stacks)` : base.displayName,
    description: production
      ? `${base.description} Mandatory on the stacks named in productionStacks (default: prod).`
      : `${base.description} Advisory on stacks not named in productionStacks; ${base.name}${PRODUCTION_SUFFIX} blocks it on those.`,
    enforcementLevel,
    severity: base.severity,
    tags: base.tags,
    remediationSteps:
      `${base.remediationSteps} To accept it on purpose in a stack, name the stack in allowedStacks ` +
      `(on ${base.name} and ${base.name}${PRODUCTION_SUFFIX}).`,
    configSchema: STACK_SCOPE_SCHEMA,
    validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
      if (!base.types.includes(args.type)) {
        return args.notApplicable(`applies only to ${base.types.join(", ")}`);
      }
      const config = args.getConfig<StackScopeConfig>();
      const stack = stackOfUrn(args.urn) ?? "";
      if ((config.allowedStacks ?? []).includes(stack)) {
        return args.notApplicable(`stack "${stack}" accepts this explicitly (allowedStacks)`);
      }
      const isProduction = (config.productionStacks ?? DEFAULT_PRODUCTION_STACKS).includes(stack);
      if (isProduction !== production) {
        return args.notApplicable(
          production
            ? `stack "${stack}" is not a production stack (productionStacks)`
            : `stack "${stack}" is a production stack: ${base.name}${PRODUCTION_SUFFIX} checks it`,
        );
      }
      const prefix = production ? `Production stack "${stack}": ` : "";
      base.check(args, (message, urn) => reportViolation(`${prefix}${message}`, urn));
    },
  };
}

/** The advisory policy (every stack but the production ones) and the mandatory one (production stacks). */
export function stackScopedPolicies(
  base: StackScopedCheck,
): [advisory: ResourceValidationPolicy, mandatory: ResourceValidationPolicy] {
  return [scoped(base, false), scoped(base, true)];
}

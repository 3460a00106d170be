/**
 * The policy pack run against the program's own plans (not hand-made fixtures): the example stacks pass every
 * mandatory policy, a stack with the CIS profile off makes the profile policy fire, and the constants the pack
 * matches on are the program's own, so the two cannot drift apart.
 */
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { describe, it } from "node:test";
import type {
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationArgs,
  StackValidationArgs,
} from "@pulumi/policy";
import {
  CIS_PROFILES,
  PROJECT_NAME,
  SSH_RESOURCE_TYPES,
  TYPES,
  policies,
  POLICY_NAMES,
  PROFILE_HARDENED_NAMESPACES,
} from "../policy/policies";
import { CONFIG_NAMESPACE } from "../config/problems";
import { BUILTIN_NAMESPACES } from "../config/grammar";
import { PROFILES } from "../config/profiles";
import type { RecordedResource } from "../scripts/offline/engine";
import { planStack } from "../scripts/offline/plan";
import { parseStackFile, readStackFile, stackFilePath } from "../scripts/offline/stackFile";
import type { StackFile } from "../scripts/offline/stackFile";
import { PROJECT_DIR, isSecret, reveal } from "./harness";
import * as fs from "node:fs";

interface Violation {
  readonly policy: string;
  readonly mandatory: boolean;
  readonly message: string;
}

class NotApplicable extends Error {}

/** Policies see inputs with secrets decrypted and unwrapped (@pulumi/policy deserialises them without markers). */
function unwrap(value: unknown): unknown {
  const plain = reveal(value);
  if (Array.isArray(plain)) return plain.map(unwrap);
  if (typeof plain === "object" && plain !== null) {
    return Object.fromEntries(Object.entries(plain).map(([k, v]) => [k, unwrap(v)]));
  }
  return plain;
}

/**
 * The options the engine would hand the pack. The offline engine does not record `additionalSecretOutputs`; the
 * one resource type here that sets it is `@pulumi/command`'s remote Command, whose constructor merges
 * `{ additionalSecretOutputs: ["connection"] }` into its options (@pulumi/command remote/command.js).
 */
function optionsOf(resource: RecordedResource): PolicyResourceOptions {
  const secretOutputs = resource.type === TYPES.remoteCommand ? ["connection"] : [];
  return {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: secretOutputs,
  };
}

/** Runs every policy of the pack over a plan as `pulumi preview --policy-pack policy` would. */
async function runPack(
  resources: readonly RecordedResource[],
  stackConfig: Record<string, unknown>,
  packConfig: Readonly<Record<string, object>> = {},
): Promise<Violation[]> {
  const violations: Violation[] = [];
  const saved = process.env["PULUMI_CONFIG"];
  // The engine passes the stack's configuration to a policy pack as PULUMI_CONFIG (structured values as JSON).
  process.env["PULUMI_CONFIG"] = JSON.stringify(
    Object.fromEntries(
      Object.entries(stackConfig).map(([k, v]) => [
        `${CONFIG_NAMESPACE}:${k}`,
        typeof v === "string" ? v : JSON.stringify(v),
      ]),
    ),
  );
  try {
    for (const policy of policies) {
      const mandatory = (policy.enforcementLevel ?? "mandatory") === "mandatory";
      const report = (message: string) => violations.push({ policy: policy.name, mandatory, message });
      const custom = resources.filter((r) => r.custom);
      if ("validateResource" in policy && policy.validateResource) {
        const validations = Array.isArray(policy.validateResource)
          ? policy.validateResource
          : [policy.validateResource];
        for (const r of custom) {
          const args: ResourceValidationArgs = {
            type: r.type,
            name: r.name,
            urn: r.urn,
            props: unwrap(r.inputs) as Record<string, unknown>,
            opts: optionsOf(r),
            stackTags: new Map(),
            isType: () => false,
            asType: () => undefined,
            getConfig: <T extends object>() => (packConfig[policy.name] ?? {}) as T,
            notApplicable: (): never => {
              throw new NotApplicable();
            },
          };
          for (const validate of validations) {
            try {
              await validate(args, report);
            } catch (error) {
              if (!(error instanceof NotApplicable)) throw error;
            }
          }
        }
      }
      if ("validateStack" in policy) {
        const stackPolicy = policy;
        const args: StackValidationArgs = {
          resources: custom.map((r): PolicyResource => ({
            type: r.type,
            name: r.name,
            urn: r.urn,
            props: unwrap(r.inputs) as Record<string, unknown>,
            opts: optionsOf(r),
            dependencies: [],
            propertyDependencies: {},
            isType: () => false,
            asType: () => undefined,
          })),
          stackTags: new Map(),
          getConfig: <T extends object>() => (packConfig[policy.name] ?? {}) as T,
          notApplicable: (): never => {
            throw new NotApplicable();
          },
        };
        try {
          await stackPolicy.validateStack(args, report);
        } catch (error) {
          if (!(error instanceof NotApplicable)) throw error;
        }
      }
    }
  } finally {
    if (saved === undefined) delete process.env["PULUMI_CONFIG"];
    else process.env["PULUMI_CONFIG"] = saved;
  }
  return violations;
}

async function planOf(file: StackFile): Promise<readonly RecordedResource[]> {
  const result = await planStack(file);
  assert.ok(result.ok, result.ok ? "" : JSON.stringify(result.problems));
  return result.evaluation.resources;
}

describe("the policy pack on the program's own plans", () => {
  for (const stack of ["staging", "prod"]) {
    it(`${stack}: no mandatory violation`, async () => {
      const file = readStackFile(stackFilePath(PROJECT_DIR, stack), stack);
      const resources = await planOf(file);
      const violations = await runPack(resources, file.raw.values);
      assert.deepEqual(
        violations.filter((v) => v.mandatory),
        [],
      );
      // The pack did look at the plan: every command carries its key in a secret connection.
      const commands = resources.filter((r) => r.type === TYPES.remoteCommand);
      assert.ok(commands.length >= 4);
      for (const c of commands) assert.ok(isSecret(c.inputs.connection), c.name);
    });
  }

  it("a stack with the CIS profile off makes the profile policy fire", async () => {
    const text = fs
      .readFileSync(stackFilePath(PROJECT_DIR, "staging"), "utf8")
      .replace("profile: cis-1.6", "profile: none");
    const file = parseStackFile(text, path.join(PROJECT_DIR, "stacks", "Pulumi.profile-off.yaml"));
    const violations = await runPack(await planOf(file), file.raw.values);
    const fired = violations.filter((v) => v.mandatory && v.policy === POLICY_NAMES.cisProfile);
    assert.equal(fired.length, 1, JSON.stringify(violations));
    assert.match(fired[0].message, /sets no CIS profile for all machines/);
  });

  it("with the pack's default configuration, the built-in namespaces RKE2's profile hardens are not reported", async () => {
    const file = readStackFile(stackFilePath(PROJECT_DIR, "staging"), "staging");
    const violations = await runPack(await planOf(file), file.raw.values);
    assert.deepEqual(
      violations.filter((v) => v.mandatory),
      [],
    );
  });

  it("a namespace declared in the stack but hardened by no resource makes the namespace policy fire", async () => {
    const file = readStackFile(stackFilePath(PROJECT_DIR, "staging"), "staging");
    const resources = (await planOf(file)).filter((r) => !r.name.endsWith("-netpol-payments"));
    const violations = await runPack(resources, file.raw.values);
    assert.deepEqual(
      violations.filter((v) => v.mandatory).map((v) => [v.policy, v.message]),
      [
        [
          POLICY_NAMES.namespaceHardening,
          'Namespace "payments" (created by the stack) has no NetworkPolicy selecting every pod (CIS 5.3.2).',
        ],
      ],
    );
  });
});

describe("the pack matches on the program's own constants", () => {
  it("CIS profiles", () => assert.deepEqual([...CIS_PROFILES], [...PROFILES]));

  it("built-in namespaces", () =>
    assert.deepEqual([...PROFILE_HARDENED_NAMESPACES].sort(), [...BUILTIN_NAMESPACES].sort()));

  it("project name", () => assert.equal(PROJECT_NAME, CONFIG_NAMESPACE));

  it("every resource type the pack inspects is one the program registers (or an SSH type of @pulumi/command)", async () => {
    const file = readStackFile(stackFilePath(PROJECT_DIR, "prod"), "prod");
    const registered = new Set((await planOf(file)).map((r) => r.type));
    for (const type of Object.values(TYPES)) {
      assert.ok(
        registered.has(type) || SSH_RESOURCE_TYPES.includes(type),
        `the program registers no ${type}`,
      );
    }
  });
});

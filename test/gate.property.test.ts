/**
 * A property of the gate: for any stack file, exactly one of two things happens. Either validation fails with
 * problems that name keys and the program registers nothing, or the whole program evaluates without throwing.
 * The cases are mutations of the example stacks: values of the wrong type, keys dropped or misspelled, strings
 * from a hostile alphabet (quotes, `$()`, backquotes, line breaks, NUL, escapes, Unicode, very long values) and
 * numbers at the edges. Every case is validated; every case that validates is evaluated whole, and a sample of
 * the refused ones is run too, to check that nothing registers before the refusal.
 */
import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type ConfigProblem, ConfigValidationError } from "../config/problems";
import type { StackModel } from "../config/model";
import { clusterSpecFor } from "../components/cluster/spec";
import {
  defaultServiceAccountPatch,
  namespaceManifest,
  reconcilerManifests,
  sameNamespaceNetworkPolicy,
} from "../components/hardening/manifests";
import { shellQuote } from "../components/shell/script";
import { validateStackConfig } from "../config/validate";
import type { RawStackConfig } from "../config/validate";
import { readStackFile, stackFilePath } from "../scripts/offline/stackFile";
import { PROJECT_DIR, runProgram, runProgramExpectingFailure } from "./harness";

type Json = Record<string, unknown>;
type Step = string | number;

/** Every path to a value in a JSON tree (objects and arrays included), root excluded. */
function pathsOf(value: unknown, prefix: Step[] = []): Step[][] {
  if (Array.isArray(value))
    return value.flatMap((item, i) => [[...prefix, i], ...pathsOf(item, [...prefix, i])]);
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...pathsOf(v, [...prefix, k])]);
  }
  return [];
}

function parentOf(root: Json, path: readonly Step[]): Record<string | number, unknown> | undefined {
  let current: unknown = root;
  for (const step of path.slice(0, -1)) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[step];
  }
  return typeof current === "object" && current !== null
    ? (current as Record<string | number, unknown>)
    : undefined;
}

const HOSTILE_PIECES = [
  "'",
  '"',
  "`id`",
  "$(reboot)",
  "${HOME}",
  "\n",
  "\r\n",
  "\0",
  "\u001b[31m",
  "\t",
  "\\",
  "```",
  "|",
  "-- ",
  "#",
  ": ",
  "é",
  "中文",
  "🙂",
  "\u202e",
  "\u2028",
  " ",
  "a",
  "1",
  "-",
  ".",
  "/",
  "=",
  ",",
  "*",
];

const hostileString = fc.oneof(
  fc.array(fc.constantFrom(...HOSTILE_PIECES), { minLength: 1, maxLength: 8 }).map((parts) => parts.join("")),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.integer({ min: 64, max: 20000 }).map((n) => "a".repeat(n)),
  fc.constantFrom(
    "",
    " ",
    "latest",
    "none",
    "true",
    "0",
    "-1",
    "65536",
    "22a",
    "10.0.0.256",
    "::/0",
    "0.0.0.0/0",
  ),
);

const edgeNumber = fc.constantFrom(0, -1, 1, 22, 65535, 65536, 2 ** 31, -(2 ** 31), 2 ** 53, 1.5, -0, 1e308);

const anyValue = fc.oneof(
  hostileString,
  edgeNumber,
  fc.boolean(),
  fc.constant(null),
  fc.constant([]),
  fc.constant({}),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 2 }),
);

/**
 * Keys of the model that the example stacks leave at their defaults, so that mutations reach them too (a
 * mutation of an existing value alone would never try, say, an unpinned reconciler image).
 */
const KNOWN_PATHS: readonly (readonly Step[])[] = [
  ["rancher", "caCerts"],
  ["rancher", "insecure"],
  ["cluster", "profile"],
  ["cluster", "protectKernelDefaults"],
  ["cluster", "cni"],
  ["cluster", "chartValues"],
  ["cluster", "machineGlobalConfig"],
  ["cluster", "machineSelectorConfigs"],
  ["cluster", "etcd"],
  ["cluster", "upgradeStrategy"],
  ["cluster", "registries"],
  ["cluster", "annotations"],
  ["cluster", "localAuthEndpoint"],
  ["cluster", "agentEnvVars"],
  ["cluster", "podSecurityAdmissionTemplate"],
  ["cluster", "fleetNamespace"],
  ["nodes", 0, "sshPort"],
  ["nodes", 0, "labels"],
  ["nodes", 0, "bastion"],
  ["nodes", 1, "user"],
  ["nodeSshPrivateKeys"],
  ["hardening", "reconciler"],
  ["hardening", "namespaces"],
  ["hardening", "auditRules"],
];

/** Values that are wrong in ways a plain type swap is not: each one a real mistake from the issue. */
const NEAR_MISSES: readonly (readonly [readonly Step[], unknown])[] = [
  [["hardening", "reconciler"], { image: "rancher/shell" }],
  [["hardening", "reconciler"], { image: "rancher/shell:latest" }],
  [["hardening", "reconciler"], { namespace: "payments" }],
  [["hardening", "reconciler"], { excludeNamespaces: ["cis-reconciler"] }],
  [["hardening", "reconciler"], { networkPolicySelector: "a in (b" }],
  [["hardening", "reconciler"], { schedule: "* * * * * *" }],
  [["hardening", "namespaces"], [{ name: "payments", allowFrom: [{ cidr: "10.10.0.1/24" }] }]],
  [["hardening", "namespaces"], [{ name: "payments", create: true, labels: { team: "payments team" } }]],
  [["hardening", "namespaces"], [{ name: "cis-reconciler" }]],
  [["hardening", "namespaces"], [{ name: "apps", allowFrom: [{ namespace: "Bad_NS" }] }]],
  [["cluster", "machineGlobalConfig"], { "protect-kernel-defaults": false }],
  [["cluster", "machineGlobalConfig"], { profile: "cis-1.5" }],
  [["cluster", "machineGlobalConfig"], { cni: "calico" }],
  [["cluster", "labels"], { "bad key": "x" }],
  [["nodes", 0, "labels"], { "node-role.kubernetes.io/worker": "true" }],
  [["nodes", 0, "labels"], { role: "a\0b" }],
  [["nodes", 1, "address"], "10.0.0.256"],
  [
    ["nodes", 0, "hostKey"],
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm9Xk2yP4kPq0bq0yJp8cGZr2m9Jk3cTtQeXh6c0m1a\nx",
  ],
  [["cluster", "cni"], "weave"],
  [["cluster", "cni"], "none"],
  [["cluster", "etcd"], { s3: { bucket: "b-1", endpoint: "https://s3.example.com" } }],
  [["nodes", 0, "sshPort"], "22a"],
  [["rancher", "caCerts"], "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
  [["cluster", "fleetNamespace"], "```"],
];

type Mutation =
  | { readonly kind: "setKnown"; readonly at: number; readonly value: unknown }
  | { readonly kind: "nearMiss"; readonly at: number }
  | { readonly kind: "set"; readonly at: number; readonly value: unknown }
  | { readonly kind: "drop"; readonly at: number }
  | { readonly kind: "rename"; readonly at: number; readonly typo: number }
  | { readonly kind: "addKey"; readonly at: number; readonly key: string; readonly value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("nearMiss" as const), at: fc.nat() }), weight: 3 },
  fc.record({ kind: fc.constant("setKnown" as const), at: fc.nat(), value: anyValue }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: anyValue }),
  fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("rename" as const), at: fc.nat(), typo: fc.nat() }),
  fc.record({ kind: fc.constant("addKey" as const), at: fc.nat(), key: hostileString, value: anyValue }),
);

function misspell(key: string, seed: number): string {
  if (key.length === 0) return "x";
  const i = seed % key.length;
  switch (seed % 3) {
    case 0:
      return key.slice(0, i) + key.slice(i + 1) || `${key}x`;
    case 1: {
      const upper = key.slice(0, i) + key[i].toUpperCase() + key.slice(i + 1);
      return upper === key ? `${key}s` : upper;
    }
    default:
      return `${key.slice(0, i)}_${key.slice(i)}`;
  }
}

function setAt(values: Json, path: readonly Step[], value: unknown): void {
  const parent = parentOf(values, path);
  if (parent) parent[path[path.length - 1]] = structuredClone(value);
}

function apply(values: Json, m: Mutation): void {
  if (m.kind === "setKnown") return setAt(values, KNOWN_PATHS[m.at % KNOWN_PATHS.length], m.value);
  if (m.kind === "nearMiss") return setAt(values, ...NEAR_MISSES[m.at % NEAR_MISSES.length]);
  const paths = pathsOf(values);
  if (paths.length === 0) return;
  const path = paths[m.at % paths.length];
  const parent = parentOf(values, path);
  if (!parent) return;
  const last = path[path.length - 1];
  switch (m.kind) {
    case "set":
      parent[last] = structuredClone(m.value);
      break;
    case "drop":
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[last];
      break;
    case "rename":
      if (!Array.isArray(parent) && typeof last === "string") {
        const value = parent[last];
        delete parent[last];
        parent[misspell(last, m.typo)] = value;
      }
      break;
    case "addKey": {
      const target = parent[last];
      if (typeof target === "object" && target !== null && !Array.isArray(target)) {
        (target as Json)[m.key] = structuredClone(m.value);
      }
      break;
    }
  }
}

const EXAMPLES = ["staging", "prod"].map(
  (stack) => readStackFile(stackFilePath(PROJECT_DIR, stack), stack).raw,
);

const stackCase = fc.tuple(
  fc.nat({ max: EXAMPLES.length - 1 }),
  fc.array(mutation, { minLength: 1, maxLength: 3 }),
);

function mutated([example, mutations]: [number, Mutation[]]): RawStackConfig {
  const base = EXAMPLES[example];
  const values = structuredClone(base.values) as Json;
  for (const m of mutations) apply(values, m);
  return { values, secretKeys: new Set(base.secretKeys) };
}

/** A refusal names the keys it is about. */
function assertNamedRefusal(problems: readonly ConfigProblem[]): void {
  const errors = problems.filter((p) => p.severity === "error");
  assert.ok(errors.length > 0, "no model, yet no error");
  for (const error of errors) {
    assert.match(error.key, /^hardened-rke2:\S/, `an error names no key: ${error.message}`);
    assert.ok(error.message.length > 0);
  }
}

/** The pure renderers that used to throw on values the gate let through, run on a validated model. */
function renderEverything(model: StackModel): void {
  clusterSpecFor(model.cluster);
  for (const node of model.nodes) {
    shellQuote(node.name);
    for (const [key, value] of Object.entries(node.labels)) shellQuote(`${key}=${value}`);
  }
  for (const ns of model.hardening.namespaces) {
    if (ns.create) namespaceManifest(ns);
    sameNamespaceNetworkPolicy(ns);
    defaultServiceAccountPatch(ns.name);
  }
  reconcilerManifests(model.hardening.reconciler);
}

describe("the gate, over mutated example stacks", () => {
  it("validation never throws, names the keys it refuses, and what it accepts renders", () => {
    const started = Date.now();
    let cases = 0;
    let accepted = 0;
    fc.assert(
      fc.property(stackCase, (c) => {
        cases++;
        const { model, problems } = validateStackConfig(mutated(c));
        if (!model) return assertNamedRefusal(problems);
        accepted++;
        renderEverything(model);
      }),
      { numRuns: 1000, seed: 20261127 },
    );
    console.log(
      `gate property (validation and renderers): ${cases} cases run, ${accepted} accepted and rendered, ` +
        `${cases - accepted} refused with named problems, in ${Date.now() - started} ms`,
    );
    assert.ok(accepted > 0 && accepted < cases, `the cases only ever saw one side: ${accepted} of ${cases}`);
  });

  it("either refuses with named problems and registers nothing, or the whole program evaluates", async () => {
    const started = Date.now();
    let cases = 0;
    let evaluated = 0;
    let refusedRun = 0;
    await fc.assert(
      fc.asyncProperty(stackCase, async (c) => {
        cases++;
        const raw = mutated(c);
        const { model, problems } = validateStackConfig(raw);
        if (model) {
          evaluated++;
          await runProgram(raw);
          return;
        }
        assertNamedRefusal(problems);
        // A sample of the refusals runs the program too: the refusal must come before any registration.
        if ((cases - evaluated) % 10 === 1) {
          refusedRun++;
          const { error, recorded } = await runProgramExpectingFailure(raw);
          assert.ok(error instanceof ConfigValidationError, String(error));
          assert.deepEqual(
            recorded.filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => r.name),
            [],
          );
        }
      }),
      { numRuns: 40, seed: 20261128 },
    );
    console.log(
      `gate property (whole program): ${cases} cases run, ${evaluated} validated and evaluated whole, ` +
        `${cases - evaluated} refused (${refusedRun} of them run to check that nothing registered), ` +
        `in ${Date.now() - started} ms`,
    );
    assert.ok(evaluated > 0, "no case validated, so nothing was evaluated");
  });
});

import * as assert from "node:assert/strict";
import * as path from "node:path";
import { loadStackModel } from "../config/load";
import type { RawStackConfig } from "../config/validate";
import { defineStack } from "../components/program";
import {
  type Evaluation,
  type RecordedResource,
  SecretValue,
  evaluate,
  nameOfUrn,
  reveal,
} from "../scripts/offline/engine";

export { reveal };
import { PRIVATE_KEY_PLACEHOLDER, generateParsableKeyPair } from "../scripts/offline/stackFile";

/**
 * The one harness every unit test uses: build a raw stack configuration, run the real program (config loading,
 * validation, every component) under the offline engine, and query what was registered.
 */

export const PROJECT_DIR = path.resolve(__dirname, "..", "..");

/** A real, throwaway ed25519 key (made when the offline reader loads): the gate parses keys. */
export const TEST_PRIVATE_KEY = PRIVATE_KEY_PLACEHOLDER;
/** A second throwaway key, for per-node keys that must differ from the shared one. */
export const OTHER_TEST_PRIVATE_KEY = generateParsableKeyPair("hardened-rke2 test").private;
export const TEST_TOKEN = "token-test0:s3cr3tvalue";

export const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm9Xk2yP4kPq0bq0yJp8cGZr2m9Jk3cTtQeXh6c0m1a";

type Json = Record<string, unknown>;

/** A valid stack shaped as the seed's reference (v1.23, cis-1.6): three servers and two workers. */
export function seedStackValues(): Json {
  return {
    rancher: { apiUrl: "https://rancher.example.com" },
    rancherToken: TEST_TOKEN,
    sshPrivateKey: TEST_PRIVATE_KEY,
    cluster: { name: "seed", kubernetesVersion: "v1.23.16+rke2r1" },
    nodes: [
      { name: "server-1", address: "10.0.0.11", roles: ["etcd", "controlplane"], hostKey: HOST_KEY },
      { name: "server-2", address: "10.0.0.12", roles: ["etcd", "controlplane"], hostKey: HOST_KEY },
      { name: "server-3", address: "10.0.0.13", roles: ["etcd", "controlplane"], hostKey: HOST_KEY },
      { name: "agent-1", address: "10.0.0.21", roles: ["worker"], hostKey: HOST_KEY, user: "ubuntu" },
      { name: "agent-2", address: "10.0.0.22", roles: ["worker"], hostKey: HOST_KEY, user: "ubuntu" },
    ],
  };
}

/** Raw configuration as Pulumi passes it: the secret keys listed as secret unless `plainKeys` says otherwise. */
export function rawConfig(values: Json, options: { plainKeys?: readonly string[] } = {}): RawStackConfig {
  const secretKeys = new Set(
    ["rancherToken", "sshPrivateKey", "nodeSshPrivateKeys"].filter(
      (k) => values[k] !== undefined && !(options.plainKeys ?? []).includes(k),
    ),
  );
  return { values: structuredClone(values), secretKeys };
}

/** The seed stack with `edit` applied to a deep copy of its values. */
export function seedWith(edit: (values: Json & { cluster: Json; nodes: Json[] }) => void): RawStackConfig {
  const values = seedStackValues() as Json & { cluster: Json; nodes: Json[] };
  edit(values);
  return rawConfig(values);
}

export class Plan {
  constructor(readonly evaluation: Evaluation) {}

  get resources(): readonly RecordedResource[] {
    return this.evaluation.resources;
  }

  ofType(type: string): RecordedResource[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** The custom resource (not a component) of this name. */
  named(name: string): RecordedResource {
    const found = this.resources.filter((r) => r.name === name && r.custom);
    assert.equal(found.length, 1, `expected exactly one resource named ${name}, found ${found.length}`);
    return found[0];
  }

  /** Names of the resources `name` waits for. */
  component(name: string): RecordedResource {
    const found = this.resources.filter((r) => r.name === name && !r.custom);
    assert.equal(found.length, 1, `expected exactly one component named ${name}, found ${found.length}`);
    return found[0];
  }

  dependenciesOf(name: string): string[] {
    return this.named(name).dependsOn.map(nameOfUrn);
  }
}

/** Runs the real program for a raw configuration under the offline engine. */
export async function runProgram(raw: RawStackConfig, stack = "test"): Promise<Plan> {
  const evaluation = await evaluate(() => ({ ...defineStack(stack, loadStackModel(raw)) }), {
    stack,
    mode: "up",
  });
  return new Plan(evaluation);
}

/** Runs the program expecting it to fail; returns the error and whatever was registered before it failed. */
export async function runProgramExpectingFailure(
  raw: RawStackConfig,
): Promise<{ error: Error; recorded: RecordedResource[] }> {
  const recorded: RecordedResource[] = [];
  try {
    await evaluate(() => ({ ...defineStack("test", loadStackModel(raw)) }), { recorded });
  } catch (error) {
    return { error: error as Error, recorded };
  }
  assert.fail("the program was expected to fail");
}

export function isSecret(value: unknown): value is SecretValue {
  return value instanceof SecretValue;
}

/** Reads a nested input by path (`a.b[0].c`), revealing secrets on the way. */
export function input(resource: RecordedResource, pathText: string): unknown {
  let current: unknown = resource.inputs;
  for (const step of pathText.split(".")) {
    const match = /^([^[\]]+)((?:\[\d+\])*)$/.exec(step);
    assert.ok(match, `bad path ${pathText}`);
    current = (reveal(current) as Json | undefined)?.[match[1]];
    for (const index of match[2].matchAll(/\[(\d+)\]/g))
      current = (reveal(current) as unknown[])[Number(index[1])];
  }
  return reveal(current);
}

export const TYPES = {
  command: "command:remote:Command",
  cluster: "rancher2:index/clusterV2:ClusterV2",
  clusterSync: "rancher2:index/clusterSync:ClusterSync",
  rancherProvider: "pulumi:providers:rancher2",
  k8sProvider: "pulumi:providers:kubernetes",
  hostPreparation: "hardened-rke2:host:HostPreparation",
  registration: "hardened-rke2:cluster:NodeRegistration",
  serviceAccountPatch: "kubernetes:core/v1:ServiceAccountPatch",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  namespace: "kubernetes:core/v1:Namespace",
} as const;

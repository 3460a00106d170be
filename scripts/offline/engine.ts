import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

/**
 * An offline Pulumi engine: runs the real program against Pulumi's mock monitor and records every resource
 * registration exactly as the engine would receive it (type, name, parent, dependencies, provider, inputs with
 * their secret markers). Only what has no local form is mocked: the outputs that Rancher and the providers would
 * compute. Used by the unit tests, `npm run plan`, `npm run bench` and the host-test exporter.
 */

/** A value Pulumi treats as secret, kept wrapped so that callers can check secrecy and choose how to print it. */
export class SecretValue {
  constructor(readonly value: unknown) {}
}

export interface RecordedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** Component resources have no provider and no id. */
  readonly custom: boolean;
  readonly parent?: string;
  /** URNs of every resource this one waits for (explicit `dependsOn` and resources its inputs come from). */
  readonly dependsOn: readonly string[];
  /** URN of the explicit provider, if any. */
  readonly provider?: string;
  /** Inputs as sent to the engine; secrets are {@link SecretValue}s, unknowns `"[unknown]"`. */
  readonly inputs: Readonly<Record<string, unknown>>;
}

export interface Evaluation {
  readonly resources: readonly RecordedResource[];
  /** Stack outputs, with secrets as {@link SecretValue}s. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** What the program logged with `pulumi.log.warn`, in order: the Pulumi CLI would print it beside the preview. */
  readonly warnings: readonly string[];
}

/** The outputs that Rancher, the providers and the nodes would compute, for the types this program creates. */
const MOCKED_OUTPUTS: Readonly<
  Record<string, (name: string, inputs: Record<string, unknown>) => Record<string, unknown>>
> = {
  "pulumi:providers:rancher2": () => ({}),
  "pulumi:providers:kubernetes": () => ({}),
  "rancher2:index/clusterV2:ClusterV2": (name, inputs) => {
    const clusterV1Id = `c-m-${shortHash(name)}`;
    const server = "https://rancher.invalid";
    const install = `curl -fL ${server}/system-agent-install.sh | sudo sh -s - --server ${server} --label 'cattle.io/os=linux' --token mocktoken${shortHash(`${name}token`)} --ca-checksum ${shortHash("ca")}`;
    return {
      ...inputs,
      clusterV1Id,
      resourceVersion: "1",
      clusterRegistrationToken: {
        clusterId: clusterV1Id,
        nodeCommand: install,
        insecureNodeCommand: install.replace("curl -fL", "curl --insecure -fL"),
        token: `mocktoken${shortHash(`${name}token`)}`,
      },
    };
  },
  "rancher2:index/clusterSync:ClusterSync": (name, inputs) => ({
    ...inputs,
    synced: true,
    kubeConfig: `apiVersion: v1\nkind: Config\nclusters:\n- name: ${name}\n  cluster:\n    server: https://rancher.invalid/k8s/clusters/${String(inputs.clusterId)}\nusers:\n- name: ${name}\n  user:\n    token: mock-kubeconfig-token\n`,
  }),
  "command:remote:Command": (_name, inputs) => ({ ...inputs, stdout: "", stderr: "" }),
  "kubernetes:core/v1:Namespace": echo,
  "kubernetes:core/v1:ServiceAccount": echo,
  "kubernetes:core/v1:ServiceAccountPatch": echo,
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": echo,
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": echo,
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": echo,
  "kubernetes:batch/v1:CronJob": echo,
  // Rancher's scan app (rancher2 AppV2 state: its inputs plus clusterName and deploymentValues, which the
  // program does not read) and its ClusterScan: the operator writes `status` only after a real run, so the
  // plan has none.
  "rancher2:index/appV2:AppV2": echo,
  "kubernetes:cis.cattle.io/v1:ClusterScan": echo,
  "kubernetes:compliance.cattle.io/v1:ClusterScan": echo,
};

function echo(_name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  return inputs;
}

function shortHash(text: string): string {
  return crypto.createHash("sha256").update(text).digest("hex").slice(0, 8);
}

const mocks: pulumi.runtime.Mocks = {
  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    if (args.custom === false) return { id: undefined, state: {} };
    const outputs = MOCKED_OUTPUTS[args.type];
    if (!outputs) {
      throw new Error(
        `The offline engine has no mock for resource type ${args.type}; add one to scripts/offline/engine.ts.`,
      );
    }
    return { id: `${args.name}-id`, state: outputs(args.name, args.inputs as Record<string, unknown>) };
  },
  call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    // The program makes no provider calls; one would mean a data source read that the plan cannot answer.
    throw new Error(`Unexpected provider call ${args.token}: the offline engine mocks no function calls.`);
  },
};

/** The subset of the gRPC request the recorder reads (from `@pulumi/pulumi/proto/resource_pb`). */
interface RegisterResourceRequestLike {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProvider(): string;
  getDependenciesList(): string[];
  getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
}

interface MonitorLike {
  registerResource(req: RegisterResourceRequestLike, callback: (err: unknown, resp?: unknown) => void): void;
  newUrn(parent: string, type: string, name: string): string;
}

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Turns the wire form of a property value into plain data with {@link SecretValue} markers. */
export function fromWire(value: unknown): unknown {
  if (value === UNKNOWN) return "[unknown]";
  if (Array.isArray(value)) return value.map(fromWire);
  if (typeof value === "object" && value !== null) {
    const obj = value as Record<string, unknown>;
    if (obj[SIG_KEY] === SECRET_SIG) return new SecretValue(fromWire(obj.value));
    if (obj[SIG_KEY] === RESOURCE_SIG) return { resource: obj.urn };
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
}

/** Turns stack outputs (already resolved by the SDK) into plain data with secret markers. */
async function resolveOutputs(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    const output = value;
    const [resolved, secret] = await Promise.all([promiseOf(output), pulumi.isSecret(output)]);
    const plain = await resolveOutputs(resolved);
    return secret ? new SecretValue(plain) : plain;
  }
  if (Array.isArray(value)) return Promise.all(value.map(resolveOutputs));
  if (typeof value === "object" && value !== null && !(value instanceof SecretValue)) {
    const entries = await Promise.all(
      Object.entries(value as Record<string, unknown>).map(
        async ([k, v]) => [k, await resolveOutputs(v)] as const,
      ),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

let running = false;

/**
 * Evaluates `program` (which creates resources and returns the stack outputs) under the mock engine and returns
 * every registration. Evaluations run one at a time: Pulumi's runtime state is global to the process.
 */
export async function evaluate(
  program: () => Record<string, unknown>,
  options: {
    project?: string;
    stack?: string;
    /** Receives every registration, also when the program fails (to check that a bad config creates nothing). */
    recorded?: RecordedResource[];
  } = {},
): Promise<Evaluation> {
  if (running) throw new Error("evaluate() is already running; await the previous evaluation first.");
  running = true;
  const recorded: RecordedResource[] = options.recorded ?? [];
  const failures: unknown[] = [];
  // Without an engine the SDK prints warnings to stderr as "warning: [runtime] ..."; the engine keeps them,
  // as the Pulumi CLI would, so that the plan shows them and test output stays clean.
  const warnings: string[] = [];
  const log = pulumi.log as { warn: typeof pulumi.log.warn };
  const printWarning = log.warn;
  log.warn = (message) => {
    warnings.push(message);
    return Promise.resolve();
  };
  try {
    await pulumi.runtime.setMocks(mocks, options.project ?? "hardened-rke2", options.stack ?? "test", false);
    const monitor = pulumi.runtime.getMonitor() as unknown as MonitorLike;
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, callback) => {
      recorded.push(recordOf(monitor, req));
      register(req, (err, resp) => {
        if (err) failures.push(err);
        callback(err, resp);
      });
    };
    // The program's own return value is resolved here rather than the stack's: the SDK's stack outputs are
    // plain values by then, and whether an output is secret is part of what the tests check.
    let returned: Record<string, unknown> = {};
    let programError: unknown;
    await pulumi.runtime.runInPulumiStack(() => {
      try {
        returned = program();
      } catch (error) {
        // Let the stack finish registering so nothing is left pending, then report the program's error.
        programError = error;
      }
      return Promise.resolve(returned);
    });
    await pulumi.runtime.disconnect();
    // Rethrown as caught: a ConfigValidationError must reach the caller as itself.
    if (programError !== undefined) throw programError as Error;
    if (failures.length > 0) throw failures[0];
    const resolved = (await resolveOutputs(returned)) as Record<string, unknown>;
    return {
      resources: recorded.filter((r) => r.type !== "pulumi:pulumi:Stack"),
      outputs: resolved,
      warnings,
    };
  } finally {
    log.warn = printWarning;
    running = false;
  }
}

function recordOf(monitor: MonitorLike, req: RegisterResourceRequestLike): RecordedResource {
  const parent = req.getParent() || undefined;
  const provider = req.getProvider() ? req.getProvider().split("::").slice(0, -1).join("::") : undefined;
  return {
    urn: monitor.newUrn(parent ?? "", req.getType(), req.getName()),
    type: req.getType(),
    name: req.getName(),
    custom: req.getCustom(),
    parent,
    dependsOn: [...new Set(req.getDependenciesList())].sort(),
    provider,
    inputs: fromWire(req.getObject()?.toJavaScript() ?? {}) as Record<string, unknown>,
  };
}

/** The resource name at the end of a URN. */
export function nameOfUrn(urn: string): string {
  return urn.split("::").pop() ?? urn;
}

/** The plain value behind a possibly secret value. */
export function reveal(value: unknown): unknown {
  return value instanceof SecretValue ? reveal(value.value) : value;
}

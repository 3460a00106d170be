import * as pulumi from "@pulumi/pulumi";
import { clusterKubeconfig, fakeClusterV1Id, fakeRandomToken, nodeCommands } from "./rancher";

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

/**
 * A copy of plain data with each secret replaced by `onSecret(secret)`; undefined object members are dropped.
 * `plan` redacts with it, `compare` reveals with it.
 */
export function mapSecrets(value: unknown, onSecret: (secret: SecretValue) => unknown): unknown {
  if (value instanceof SecretValue) return onSecret(value);
  if (Array.isArray(value)) return value.map((item) => mapSecrets(item, onSecret));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, mapSecrets(v, onSecret)]),
    );
  }
  return value;
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
  /** For each input, the URNs of the resources its value comes from (the request's `propertyDependencies`). */
  readonly inputSources: Readonly<Record<string, readonly string[]>>;
  /** Inputs as sent to the engine; secrets are {@link SecretValue}s, unknowns `"[unknown]"`. */
  readonly inputs: Readonly<Record<string, unknown>>;
  /** The resource options that decide what the engine does on a change or a removal. */
  readonly options: RecordedOptions;
  /** Outputs the resource asks the engine to keep secret (`additionalSecretOutputs`). */
  readonly additionalSecretOutputs: readonly string[];
}

/** The resource options the Pulumi engine applies when it diffs, replaces or deletes a resource. */
export interface RecordedOptions {
  readonly protect: boolean;
  readonly retainOnDelete: boolean;
  readonly deleteBeforeReplace: boolean;
  readonly ignoreChanges: readonly string[];
  readonly replaceOnChanges: readonly string[];
  /** The `replacementTrigger` option's value (a change replaces the resource), if any. */
  readonly replacementTrigger?: unknown;
  /** Former names of the resource (`aliases` with a `name`), so that a rename is no replacement. */
  readonly aliasNames: readonly string[];
}

export interface Evaluation {
  readonly resources: readonly RecordedResource[];
  /** Stack outputs, with secrets as {@link SecretValue}s. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** What the program logged with `pulumi.log.warn`, in order: the Pulumi CLI would print it beside the preview. */
  readonly warnings: readonly string[];
}

/**
 * How the engine answers for computed outputs. `preview` is what `pulumi preview` shows for resources about to
 * be created: the inputs, and every value that only exists after creation (cluster ids, registration commands,
 * kubeconfigs, command output) unknown. `up` answers as Rancher and the providers would after `pulumi up`, for
 * the tests that need concrete values.
 */
export type EngineMode = "preview" | "up";

type OutputMock = (
  args: pulumi.runtime.MockResourceArgs,
  inputs: Record<string, unknown>,
) => Record<string, unknown>;

/** Inputs of the rancher2 providers of the running evaluation, by provider id: the ClusterV2 mock reads them. */
const rancherProviders = new Map<string, Record<string, unknown>>();

/** The Rancher URL and CA bundle of the resource's rancher2 provider, as Rancher would know them. */
function rancherOf(args: pulumi.runtime.MockResourceArgs): { apiUrl: string; caCerts?: string } {
  const id = args.provider?.split("::").pop() ?? "";
  const inputs = rancherProviders.get(id) ?? {};
  return {
    apiUrl: typeof inputs.apiUrl === "string" ? inputs.apiUrl : "https://rancher.invalid",
    caCerts: typeof inputs.caCerts === "string" && inputs.caCerts !== "" ? inputs.caCerts : undefined,
  };
}

/** The outputs that Rancher, the providers and the nodes compute after `pulumi up`, for the types this program creates. */
const MOCKED_OUTPUTS: Readonly<Record<string, OutputMock>> = {
  "pulumi:providers:rancher2": () => ({}),
  "pulumi:providers:kubernetes": () => ({}),
  // Rancher's answers follow its own formats; scripts/offline/rancher.ts names the upstream source of each.
  "rancher2:index/clusterV2:ClusterV2": (args, inputs) => {
    const { apiUrl, caCerts } = rancherOf(args);
    const clusterV1Id = fakeClusterV1Id(args.name);
    const token = fakeRandomToken(`${args.name}token`);
    const agentEnvVars = Array.isArray(inputs.agentEnvVars)
      ? (inputs.agentEnvVars as { name: string; value: string }[])
      : [];
    return {
      ...inputs,
      clusterV1Id,
      resourceVersion: "1",
      clusterRegistrationToken: {
        clusterId: clusterV1Id,
        token,
        ...nodeCommands({ apiUrl, token, agentEnvVars, caCerts }),
      },
    };
  },
  "rancher2:index/clusterSync:ClusterSync": (args, inputs) => {
    const { apiUrl, caCerts } = rancherOf(args);
    return {
      ...inputs,
      synced: true,
      kubeConfig: clusterKubeconfig({
        apiUrl,
        clusterName: args.name,
        clusterV1Id: String(inputs.clusterId),
        caCerts,
      }),
    };
  },
  "command:remote:Command": (_args, inputs) => ({ ...inputs, stdout: "", stderr: "" }),
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

function echo(
  _args: pulumi.runtime.MockResourceArgs,
  inputs: Record<string, unknown>,
): Record<string, unknown> {
  return inputs;
}

let mode: EngineMode = "preview";

const mocks: pulumi.runtime.Mocks = {
  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    if (args.custom === false) return { id: undefined, state: {} };
    const outputs = MOCKED_OUTPUTS[args.type];
    if (!outputs) {
      throw new Error(
        `The offline engine has no mock for resource type ${args.type}; add one to scripts/offline/engine.ts.`,
      );
    }
    const id = `${args.name}-id`;
    const inputs = args.inputs as Record<string, unknown>;
    if (args.type === "pulumi:providers:rancher2") rancherProviders.set(id, inputs);
    // A preview knows the inputs only; the SDK turns every output the answer leaves out into an unknown.
    return { id, state: mode === "preview" ? { ...inputs } : outputs(args, inputs) };
  },
  call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    // The program makes no provider calls; one would mean a data source read that the plan cannot answer.
    throw new Error(`Unexpected provider call ${args.token}: the offline engine mocks no function calls.`);
  },
};

/** The subset of the gRPC request the recorder reads (from `@pulumi/pulumi/proto/resource_pb`). */
interface RegisterResourceRequestLike {
  getProtect(): boolean | undefined;
  getRetainondelete(): boolean | undefined;
  getDeletebeforereplace(): boolean;
  getIgnorechangesList(): string[];
  getReplaceonchangesList(): string[];
  getReplacementTrigger(): { toJavaScript(): unknown } | undefined;
  getAliasesList(): { getSpec(): { getName(): string } | undefined }[];
  getAliasurnsList(): string[];
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProvider(): string;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): {
    forEach(callback: (dependencies: { getUrnsList(): string[] }, input: string) => void): void;
  };
  getAdditionalsecretoutputsList(): string[];
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
/** How the plan shows a value that only exists after `pulumi up`, as `pulumi preview` prints `[unknown]`. */
export const UNKNOWN_TEXT = "[unknown]";

/** Turns the wire form of a property value into plain data with {@link SecretValue} markers. */
export function fromWire(value: unknown): unknown {
  if (value === UNKNOWN) return UNKNOWN_TEXT;
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
    const [known, secret] = await Promise.all([isKnown(output), pulumi.isSecret(output)]);
    const plain = known ? await resolveOutputs(await promiseOf(output)) : UNKNOWN_TEXT;
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

/**
 * Whether an output has a value: in a preview, outputs that only exist after creation do not, and their
 * `apply` callbacks never run. `isKnown` is the SDK's own flag on every output (not in its public typings).
 */
function isKnown(output: pulumi.Output<unknown>): Promise<boolean> {
  return (output as unknown as { isKnown: Promise<boolean> }).isKnown;
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
    /**
     * `preview` (the default, what `npm run plan` shows) or `up` (concrete values as after `pulumi up`).
     * @default "preview"
     */
    mode?: EngineMode;
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
  const lean = leanStackTraces();
  try {
    mode = options.mode ?? "preview";
    rancherProviders.clear();
    await pulumi.runtime.setMocks(
      mocks,
      options.project ?? "hardened-rke2",
      options.stack ?? "test",
      mode === "preview",
    );
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
    lean.restore();
    log.warn = printWarning;
    running = false;
  }
}

/**
 * The SDK takes an unbounded stack trace for every resource (its source position, for the engine's display) and
 * a trace for every internal promise (for leak reports); the mock monitor reads neither. At 300 nodes those
 * strings were most of the time per resource and about 70 MB of peak memory, so an evaluation skips them.
 * Errors thrown while the program runs keep their messages but lose their frames; set
 * PULUMI_DEBUG_PROMISE_LEAKS (the SDK's own debugging switch) to keep both.
 */
function leanStackTraces(): { restore(): void } {
  if (process.env.PULUMI_DEBUG_PROMISE_LEAKS) return { restore: () => undefined };
  const resource = pulumi.Resource as unknown as { callsites: () => unknown[] };
  const callsites = resource.callsites;
  const limit = Error.stackTraceLimit;
  resource.callsites = () => [];
  Error.stackTraceLimit = 0;
  return {
    restore: () => {
      resource.callsites = callsites;
      Error.stackTraceLimit = limit;
    },
  };
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
    inputSources: inputSourcesOf(req),
    inputs: fromWire(req.getObject()?.toJavaScript() ?? {}) as Record<string, unknown>,
    options: optionsOf(req),
    additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
  };
}

function inputSourcesOf(req: RegisterResourceRequestLike): Record<string, readonly string[]> {
  const sources: Record<string, readonly string[]> = {};
  req.getPropertydependenciesMap().forEach((dependencies, input) => {
    const urns = [...new Set(dependencies.getUrnsList())].sort();
    if (urns.length > 0) sources[input] = urns;
  });
  return sources;
}

function optionsOf(req: RegisterResourceRequestLike): RecordedOptions {
  const trigger = req.getReplacementTrigger();
  return {
    protect: req.getProtect() ?? false,
    retainOnDelete: req.getRetainondelete() ?? false,
    deleteBeforeReplace: req.getDeletebeforereplace(),
    ignoreChanges: [...req.getIgnorechangesList()].sort(),
    replaceOnChanges: [...req.getReplaceonchangesList()].sort(),
    ...(trigger !== undefined ? { replacementTrigger: fromWire(trigger.toJavaScript()) } : {}),
    aliasNames: [
      ...req
        .getAliasesList()
        .flatMap((alias) => (alias.getSpec()?.getName() ? [alias.getSpec()!.getName()] : [])),
      ...req.getAliasurnsList().map(nameOfUrn),
    ].sort(),
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

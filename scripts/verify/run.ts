import type { NodeModel, StackModel } from "../../config/model";
import { type ControlResult, evaluateNode } from "./evaluate";
import { expectationFor, parseFacts, renderNodeCheckCommand } from "./nodeCheck";
import { type SessionResult, type SshTarget, runSession } from "./ssh";

export type NodeStatus = "compliant" | "drift" | "error";

/** The verdict on one node. */
export interface NodeReport {
  readonly node: string;
  readonly address: string;
  readonly status: NodeStatus;
  /** Wall time of the node's session, from dial to the last byte. */
  readonly seconds: number;
  /** Why the node could not be checked (connection, authentication, sudo, a cut-short session). */
  readonly error?: string;
  readonly results: readonly ControlResult[];
  /** Things the check could not vouch for, e.g. an unpinned host key. */
  readonly warnings: readonly string[];
}

/** Runs one command on a node and returns what it printed; the real one is an SSH session. */
export type SessionRunner = (node: NodeModel, command: string) => Promise<SessionResult>;

/** The environment variable holding one node's key: `SSH_PRIVATE_KEY_` and the name in upper case, `-` as `_`. */
export function nodeKeyVariable(nodeName: string): string {
  return `SSH_PRIVATE_KEY_${nodeName.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

/**
 * The private key for a node. A stack file keeps keys encrypted (`secure:`), which only the Pulumi CLI
 * can decrypt, so verify takes them from the environment: the node's own variable first, then
 * `SSH_PRIVATE_KEY` (the same fallback the program has).
 */
export function privateKeyFor(
  nodeName: string,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const own = env[nodeKeyVariable(nodeName)];
  if (own) return own;
  return env.SSH_PRIVATE_KEY || undefined;
}

/** The real session runner: the stack's SSH settings, the key from the environment. */
export function sshSessionRunner(
  env: Readonly<Record<string, string | undefined>>,
  timeoutMs: number,
): SessionRunner {
  return async (node, command) => {
    const privateKey = privateKeyFor(node.name, env);
    if (!privateKey) {
      throw new Error(
        `no SSH private key: set ${nodeKeyVariable(node.name)} or SSH_PRIVATE_KEY (stack files hold keys encrypted)`,
      );
    }
    const target: SshTarget = { endpoint: node.ssh, bastion: node.bastion, privateKey };
    return runSession(target, command, timeoutMs);
  };
}

/** Checks one node in one session and judges it. Never throws: a failure is that node's error. */
export async function verifyNode(
  model: StackModel,
  node: NodeModel,
  run: SessionRunner,
): Promise<NodeReport> {
  const started = performance.now();
  const warnings: string[] = [];
  if (node.ssh.hostKey === undefined)
    warnings.push("host key not pinned: the node's identity was not verified");
  if (node.bastion && node.bastion.hostKey === undefined) warnings.push("bastion host key not pinned");
  const base = { node: node.name, address: node.address, warnings };
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const session = await run(node, renderNodeCheckCommand(node.name));
    if (session.code !== 0) {
      const why = session.stderr.trim().split("\n").pop() || `exit status ${session.code}`;
      return { ...base, status: "error", seconds: seconds(), error: why, results: [] };
    }
    const results = evaluateNode(expectationFor(model, node), parseFacts(session.stdout));
    const status = results.some((r) => r.status === "drift") ? "drift" : "compliant";
    return { ...base, status, seconds: seconds(), results };
  } catch (error) {
    return { ...base, status: "error", seconds: seconds(), error: (error as Error).message, results: [] };
  }
}

/**
 * Checks the nodes concurrently, at most `concurrency` sessions at once, and returns the reports in the
 * stack's node order. `onDone` hears about each node as it finishes (progress).
 */
export async function verifyNodes(
  model: StackModel,
  nodes: readonly NodeModel[],
  run: SessionRunner,
  options: { concurrency: number; onDone?: (report: NodeReport, done: number, total: number) => void },
): Promise<NodeReport[]> {
  const reports: NodeReport[] = new Array<NodeReport>(nodes.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < nodes.length) {
      const i = next++;
      reports[i] = await verifyNode(model, nodes[i], run);
      done++;
      options.onDone?.(reports[i], done, nodes.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, nodes.length)) }, worker));
  return reports;
}

/** 0: every node compliant; 1: drift on some node; 2: some node could not be checked. */
export function exitCodeOf(reports: readonly NodeReport[]): 0 | 1 | 2 {
  if (reports.some((r) => r.status === "error")) return 2;
  if (reports.some((r) => r.status === "drift")) return 1;
  return 0;
}

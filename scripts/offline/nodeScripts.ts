import type { StackModel } from "../../config/model";
import { type Evaluation, reveal } from "./engine";

/** One script `pulumi up` runs on a node over SSH, summarised in a line a person can read. */
export interface NodeScript {
  /** The node's name in the stack, or the address when no node has it. */
  readonly node: string;
  /** `user@host:port`, and the bastion it goes through. */
  readonly target: string;
  /** What the script is for, from the component that owns it, with the host preparation's steps. */
  readonly what: string;
  /** The `command:remote:Command` resource that runs it. */
  readonly resource: string;
}

const COMMAND = "command:remote:Command";
/** Fixed marker of the host preparation script naming its steps (also read by the real-host test). */
const STEPS = /^# hardened-rke2:steps (.+)$/m;

interface Connection {
  host?: unknown;
  port?: unknown;
  user?: unknown;
  proxy?: unknown;
}

function endpoint(connection: Connection | undefined): string {
  if (!connection) return "?";
  const user = typeof connection.user === "string" ? connection.user : "root";
  const port = connection.port === undefined ? 22 : Number(reveal(connection.port));
  return `${user}@${String(reveal(connection.host))}:${port}`;
}

/** `hardened-rke2:host:HostPreparation` → "host preparation". */
function purposeOf(parentUrn: string | undefined): string {
  const type = parentUrn?.split("::")[2]?.split("$").pop() ?? "";
  const name = type.split(":").pop() ?? "";
  return name.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase() || "command";
}

/**
 * Every SSH script of the plan in registration order, with the node it runs on. Reads only the connection's
 * address, port and user (the connection is a secret because it carries the private key, which stays unread).
 */
export function nodeScripts(
  evaluation: Evaluation,
  model: StackModel,
  order: readonly string[],
): NodeScript[] {
  const position = new Map(order.map((urn, i) => [urn, i]));
  return evaluation.resources
    .filter((r) => r.type === COMMAND)
    .sort((a, b) => (position.get(a.urn) ?? 0) - (position.get(b.urn) ?? 0))
    .map((r) => {
      const connection = reveal(r.inputs.connection) as Connection | undefined;
      const host = String(reveal(connection?.host));
      const port = connection?.port === undefined ? 22 : Number(reveal(connection.port));
      const node = model.nodes.find((n) => n.ssh.host === host && n.ssh.port === port)?.name ?? host;
      const proxy = reveal(connection?.proxy) as Connection | undefined;
      const create = reveal(r.inputs.create);
      const steps = typeof create === "string" ? STEPS.exec(create)?.[1] : undefined;
      const stdin = r.inputs.stdin;
      const input =
        typeof stdin === "string"
          ? `; stdin: ${Buffer.byteLength(stdin)} bytes`
          : stdin === undefined
            ? ""
            : "; stdin: secret";
      return {
        node,
        target: proxy ? `${endpoint(connection)} via ${endpoint(proxy)}` : endpoint(connection),
        what: `${purposeOf(r.parent)}${steps ? ` (${steps})` : ""}${input}`,
        resource: r.name,
      };
    });
}

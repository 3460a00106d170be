import { Client, type ConnectConfig } from "ssh2";
import type { Readable } from "node:stream";
import type { SshEndpoint } from "../../config/model";

/**
 * One SSH session to a node with the stack's own connection settings, through `ssh2` (pure JavaScript:
 * no ssh binary, no known_hosts file, no agent or ~/.ssh/config of the machine running it can change
 * what is checked). A pinned host key is enforced: the handshake is refused unless the node presents
 * exactly that key. A bastion is reached first and the node's connection tunnels through it, as
 * `ssh -J` does, with the same private key (as host preparation's `remote.Command` does).
 */

export interface SshTarget {
  readonly endpoint: SshEndpoint;
  readonly bastion?: SshEndpoint;
  readonly privateKey: string;
}

export interface SessionResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Host key algorithms that can present a key of this known_hosts type. */
function hostKeyAlgorithms(type: string): string[] {
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
}

/** The ssh2 settings that pin `hostKey` (`TYPE BASE64`): only its algorithm is offered, and only its bytes pass. */
export function pinnedHostKey(hostKey: string | undefined, onMismatch: () => void): Partial<ConnectConfig> {
  if (hostKey === undefined) return {};
  const [type, base64] = hostKey.split(" ");
  const pinned = Buffer.from(base64 ?? "", "base64");
  return {
    // ssh2 types the algorithm list as its own string union; these names come from known_hosts.
    algorithms: { serverHostKey: hostKeyAlgorithms(type ?? "") as never },
    hostVerifier: (key: Buffer) => {
      if (key.equals(pinned)) return true;
      onMismatch();
      return false;
    },
  };
}

function connect(
  config: ConnectConfig,
  hostKey: string | undefined,
  where: string,
  timeoutMs: number,
): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let mismatch = false;
    client.once("ready", () => resolve(client));
    client.once("error", (error: Error) => {
      client.end();
      reject(
        mismatch
          ? new Error(
              `${where} presented a host key other than the pinned one: refused (a different machine, or the host was rebuilt: check it, then update hostKey)`,
            )
          : new Error(`${where}: ${error.message}`),
      );
    });
    client.connect({
      ...config,
      ...pinnedHostKey(hostKey, () => (mismatch = true)),
      readyTimeout: timeoutMs,
      keepaliveInterval: 5000,
    });
  });
}

function endpointName(endpoint: SshEndpoint): string {
  return `${endpoint.user}@${endpoint.host}:${endpoint.port}`;
}

/** Runs `command` in one session on the target; standard input is closed at once. */
export async function runSession(
  target: SshTarget,
  command: string,
  timeoutMs: number,
): Promise<SessionResult> {
  const { endpoint, bastion, privateKey } = target;
  const clients: Client[] = [];
  try {
    let sock: Readable | undefined;
    if (bastion) {
      const where = `bastion ${endpointName(bastion)}`;
      const jump = await connect(
        { host: bastion.host, port: bastion.port, username: bastion.user, privateKey },
        bastion.hostKey,
        where,
        timeoutMs,
      );
      clients.push(jump);
      sock = await new Promise<Readable>((resolve, reject) =>
        jump.forwardOut("127.0.0.1", 0, endpoint.host, endpoint.port, (error, stream) =>
          error
            ? reject(new Error(`${where} cannot reach ${endpoint.host}:${endpoint.port}: ${error.message}`))
            : resolve(stream),
        ),
      );
    }
    const where = endpointName(endpoint);
    const client = await connect(
      {
        ...(sock ? { sock } : { host: endpoint.host, port: endpoint.port }),
        username: endpoint.user,
        privateKey,
      },
      endpoint.hostKey,
      where,
      timeoutMs,
    );
    clients.push(client);
    return await new Promise<SessionResult>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${where}: no answer within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      client.exec(command, (error, channel) => {
        if (error) {
          clearTimeout(timer);
          reject(new Error(`${where}: ${error.message}`));
          return;
        }
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        channel.on("data", (chunk: Buffer) => out.push(chunk));
        channel.stderr.on("data", (chunk: Buffer) => err.push(chunk));
        channel.on("close", (code: number | null) => {
          clearTimeout(timer);
          resolve({
            code,
            stdout: Buffer.concat(out).toString("utf8"),
            stderr: Buffer.concat(err).toString("utf8"),
          });
        });
        channel.end();
      });
    });
  } finally {
    for (const client of clients.reverse()) client.end();
  }
}

import * as assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { Server } from "ssh2";
import { generateParsableKeyPair } from "../scripts/offline/stackFile";
import type { SshEndpoint } from "../config/model";
import { runSession } from "../scripts/verify/ssh";

// Real SSH servers in this process (ssh2's server side, on 127.0.0.1): the handshake, the host key
// check and the bastion tunnel run exactly as against a node; only the command's answer is canned.

/** `TYPE BASE64` of an OpenSSH public key line, as a stack pins it. */
function pin(publicKey: string): string {
  return publicKey.split(" ").slice(0, 2).join(" ");
}

interface TestServer {
  readonly port: number;
  readonly hostKey: string;
  readonly commands: string[];
  close(): Promise<void>;
}

function startServer(options: { bastion?: boolean } = {}): Promise<TestServer> {
  const keys = generateParsableKeyPair("hardened-rke2 test");
  const commands: string[] = [];
  const server = new Server({ hostKeys: [keys.private] }, (client) => {
    client.on("authentication", (ctx) =>
      ctx.method === "publickey" ? ctx.accept() : ctx.reject(["publickey"]),
    );
    client.on("error", () => {});
    client.on("session", (accept) => {
      accept().on("exec", (acceptExec, _reject, info) => {
        commands.push(info.command);
        const stream = acceptExec();
        stream.stderr.write("a line on stderr\n");
        stream.write(`ran: ${info.command}\n`);
        stream.exit(0);
        stream.end();
      });
    });
    if (options.bastion) {
      client.on("tcpip", (accept, _reject, info) => {
        const stream = accept();
        const socket = net.connect(info.destPort, info.destIP);
        stream.pipe(socket).pipe(stream);
        socket.on("error", () => stream.destroy());
      });
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        hostKey: pin(keys.public),
        commands,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

describe("verify: SSH sessions with pinned host keys", () => {
  const clientKey = generateParsableKeyPair("hardened-rke2 test").private;
  const otherKey = pin(generateParsableKeyPair("hardened-rke2 test").public);
  let node: TestServer;
  let bastion: TestServer;
  before(async () => {
    node = await startServer();
    bastion = await startServer({ bastion: true });
  });
  after(async () => {
    await node.close();
    await bastion.close();
  });
  const endpoint = (server: TestServer, hostKey?: string): SshEndpoint => ({
    host: "127.0.0.1",
    port: server.port,
    user: "root",
    hostKey,
  });

  it("runs the command in one session when the node presents the pinned key", async () => {
    const result = await runSession(
      { endpoint: endpoint(node, node.hostKey), privateKey: clientKey },
      "check",
      10_000,
    );
    assert.deepEqual(result, { code: 0, stdout: "ran: check\n", stderr: "a line on stderr\n" });
  });

  it("refuses a node that presents another key, and runs nothing there", async () => {
    const before = node.commands.length;
    await assert.rejects(
      runSession({ endpoint: endpoint(node, otherKey), privateKey: clientKey }, "check", 10_000),
      /root@127\.0\.0\.1:\d+ presented a host key other than the pinned one: refused/,
    );
    assert.equal(node.commands.length, before);
  });

  it("goes through a bastion, checking both pinned keys", async () => {
    const result = await runSession(
      {
        endpoint: endpoint(node, node.hostKey),
        bastion: endpoint(bastion, bastion.hostKey),
        privateKey: clientKey,
      },
      "through",
      10_000,
    );
    assert.equal(result.stdout, "ran: through\n");
    assert.deepEqual(bastion.commands, [], "the bastion only forwards");
  });

  it("refuses a bastion that presents another key, naming the bastion", async () => {
    await assert.rejects(
      runSession(
        {
          endpoint: endpoint(node, node.hostKey),
          bastion: endpoint(bastion, otherKey),
          privateKey: clientKey,
        },
        "through",
        10_000,
      ),
      /bastion root@127\.0\.0\.1:\d+ presented a host key other than the pinned one/,
    );
  });

  it("refuses the node behind a bastion when its key does not match", async () => {
    await assert.rejects(
      runSession(
        {
          endpoint: endpoint(node, otherKey),
          bastion: endpoint(bastion, bastion.hostKey),
          privateKey: clientKey,
        },
        "through",
        10_000,
      ),
      /^Error: root@127\.0\.0\.1:\d+ presented a host key other than the pinned one/,
    );
  });

  it("names the endpoint when nothing listens", async () => {
    const closed = await startServer();
    await closed.close();
    await assert.rejects(
      runSession({ endpoint: endpoint(closed, closed.hostKey), privateKey: clientKey }, "check", 10_000),
      /root@127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
  });
});

import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT_DIR } from "./harness";

/**
 * A stand-in Rancher for the registration tests: HTTPS with its own CA (made with openssl), serving
 * Rancher's installer path (test/host/rancher-installer-standin.sh, which behaves like Rancher's installer
 * where the registration depends on it) and `/cacerts`.
 */

export interface Pki {
  readonly dir: string;
  readonly caPem: string;
  readonly keyPem: string;
  readonly certPem: string;
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (result.error)
    assert.fail(`openssl could not run (${result.error.message}); apt-get install -y openssl`);
  assert.equal(result.status, 0, result.stderr);
}

/** A CA and a certificate for 127.0.0.1 signed by it. */
export function makePki(): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hrke2-pki-"));
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=stand-in Rancher CA",
    ].concat(["-keyout", "ca.key", "-out", "ca.pem"]),
    dir,
  );
  openssl(
    [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=127.0.0.1",
      "-keyout",
      "key.pem",
      "-out",
      "req.csr",
    ],
    dir,
  );
  fs.writeFileSync(path.join(dir, "ext"), "subjectAltName=IP:127.0.0.1\n");
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "req.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
    ].concat(["-extfile", "ext", "-out", "cert.pem"]),
    dir,
  );
  const read = (name: string) => fs.readFileSync(path.join(dir, name), "utf8");
  return { dir, caPem: read("ca.pem"), keyPem: read("key.pem"), certPem: read("cert.pem") };
}

/** The stand-in installer with the token it accepts. */
export function standInInstaller(token: string): string {
  const text = fs.readFileSync(
    path.join(PROJECT_DIR, "test", "host", "rancher-installer-standin.sh"),
    "utf8",
  );
  const sha = crypto.createHash("sha256").update(token).digest("hex");
  return text.replace("# @expected\n", `# @expected\nexpected_token_sha256='${sha}'\n`);
}

/** What Rancher answers on `/v3/connect/agent`: the agent's kubeconfig, naming Rancher's URL. */
export function connectionInfo(url: string): string {
  const kubeConfig = `apiVersion: v1\nclusters:\n- cluster:\n    server: ${url}\n  name: cluster\n`;
  return JSON.stringify({
    kubeConfig,
    namespace: "fleet-default",
    secretName: "custom-standin-machine-plan",
  });
}

/** Every process's command line that contains `text`, as `ps` would show it. */
export function commandLinesHolding(text: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      if (cmdline.includes(text)) found.push(`${pid}: ${cmdline.replace(text, "[token]")}`);
    } catch {
      // The process ended while the list was read.
    }
  }
  return found;
}

export interface StandInRancher {
  readonly url: string;
  readonly requests: string[];
  /** The Authorization headers of the requests for connection information. */
  readonly authorizations: string[];
  /**
   * Command lines (`/proc/<pid>/cmdline`) of this machine holding the token, read while the request for the
   * connection information waits for its answer: the requesting curl is alive then, with its arguments.
   */
  readonly tokenCommandLines: string[];
  close(): Promise<void>;
}

export async function startStandInRancher(pki: Pki, token: string): Promise<StandInRancher> {
  const requests: string[] = [];
  const authorizations: string[] = [];
  const tokenCommandLines: string[] = [];
  const installer = standInInstaller(token);
  let url = "";
  const server = https.createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
    requests.push(req.url ?? "");
    if (req.url === "/system-agent-install.sh") res.end(installer);
    else if (req.url === "/cacerts") res.end(pki.caPem);
    else if (req.url === "/v3/connect/agent") {
      authorizations.push(req.headers.authorization ?? "");
      tokenCommandLines.push(...commandLinesHolding(token));
      res.end(connectionInfo(url));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  url = `https://127.0.0.1:${port}`;
  return {
    url,
    requests,
    authorizations,
    tokenCommandLines,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface ScriptRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a bash script with `stdin`, asynchronously (the stand-in Rancher answers from this process). */
export function runBash(script: string, stdin: string): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", script], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  registrationInput,
  renderRegistrationScript,
  renderUninstallScript,
} from "../components/cluster/registration";
import { parseRegistrationCommand } from "../components/cluster/registrationCommand";
import { caChecksum, fakeClusterV1Id, nodeCommands } from "../scripts/offline/rancher";
import { PROJECT_DIR } from "./harness";
import { type Pki, type StandInRancher, makePki, runBash, startStandInRancher } from "./rancherStandIn";
import { shellcheck } from "./shellcheck";

const TOKEN = "xq7mwz2lbk4ndrvp9tc6hsgj5fqx8wzt2mlkdbrn4vqz7cpsh6jx";
const CLUSTER = "c-m-7q2xbk4d";

/** Writes one of the scripts' markers (`registered-cluster`, `registering-cluster`) under a temporary root. */
function writeMarker(root: string, marker: string, cluster = CLUSTER): void {
  fs.mkdirSync(path.join(root, "etc/rancher/hardened-rke2"), { recursive: true });
  fs.writeFileSync(path.join(root, "etc/rancher/hardened-rke2", marker), `${cluster}\n`);
}

describe("Rancher's registration command: every format Rancher writes", () => {
  const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const sum = caChecksum(ca);
  const variants = [
    {
      what: "no agent variables, public CA",
      parts: { apiUrl: "https://rancher.example.com/v3", token: TOKEN },
      nodeCommand: ` curl -fL https://rancher.example.com/system-agent-install.sh | sudo  sh -s - --server https://rancher.example.com --label 'cattle.io/os=linux' --token ${TOKEN}`,
    },
    {
      what: "no agent variables, private CA",
      parts: { apiUrl: "https://rancher.example.com", token: TOKEN, caCerts: ca },
      nodeCommand: ` curl -fL https://rancher.example.com/system-agent-install.sh | sudo  sh -s - --server https://rancher.example.com --label 'cattle.io/os=linux' --token ${TOKEN} --ca-checksum ${sum}`,
    },
    {
      what: "agent variables, private CA",
      parts: {
        apiUrl: "https://rancher.example.com",
        token: TOKEN,
        caCerts: ca,
        agentEnvVars: [
          { name: "HTTP_PROXY", value: "http://proxy:3128" },
          { name: "EMPTY", value: "" },
          { name: "NO_PROXY", value: "10.0.0.0/8,.svc" },
        ],
      },
      nodeCommand: `HTTP_PROXY="http://proxy:3128" NO_PROXY="10.0.0.0/8,.svc" curl -fL https://rancher.example.com/system-agent-install.sh | sudo HTTP_PROXY="http://proxy:3128" NO_PROXY="10.0.0.0/8,.svc" sh -s - --server https://rancher.example.com --label 'cattle.io/os=linux' --token ${TOKEN} --ca-checksum ${sum}`,
    },
  ];

  for (const variant of variants) {
    it(`builds Rancher's text (${variant.what}), secure and insecure`, () => {
      const { nodeCommand, insecureNodeCommand } = nodeCommands(variant.parts);
      assert.equal(nodeCommand, variant.nodeCommand);
      assert.equal(insecureNodeCommand, variant.nodeCommand.replace("curl -fL", "curl --insecure -fL"));
    });

    for (const insecure of [false, true]) {
      it(`is read into its parts (${variant.what}${insecure ? ", insecure" : ""})`, () => {
        const commands = nodeCommands(variant.parts);
        const parsed = parseRegistrationCommand(
          insecure ? commands.insecureNodeCommand : commands.nodeCommand,
        );
        assert.ok(!("error" in parsed));
        assert.equal(parsed.server, "https://rancher.example.com");
        assert.equal(parsed.installerUrl, "https://rancher.example.com/system-agent-install.sh");
        assert.equal(parsed.token, TOKEN);
        assert.equal(parsed.insecure, insecure);
        assert.equal(parsed.caChecksum, variant.parts.caCerts ? sum : "");
        assert.deepEqual(parsed.labels, ["cattle.io/os=linux"]);
        const expectedEnv = Object.fromEntries(
          (variant.parts.agentEnvVars ?? []).filter((e) => e.value !== "").map((e) => [e.name, e.value]),
        );
        assert.deepEqual(parsed.env, expectedEnv);
      });
    }
  }

  it("the old mock's text (`| sudo sh`, one space) still reads the same", () => {
    const parsed = parseRegistrationCommand(
      `curl -fL https://r.example/system-agent-install.sh | sudo sh -s - --server https://r.example --label 'cattle.io/os=linux' --token ${TOKEN}`,
    );
    assert.ok(!("error" in parsed));
    assert.equal(parsed.token, TOKEN);
  });

  for (const [what, text] of [
    ["a kubectl import command", `kubectl apply -f https://r.example/v3/import/${TOKEN}_c-m-x.yaml`],
    [
      "an unknown installer flag",
      `curl -fL https://r/i.sh | sudo  sh -s - --server https://r --token ${TOKEN} --evil x`,
    ],
    ["no token", "curl -fL https://r/i.sh | sudo  sh -s - --server https://r"],
    ["a broken variable", `X=1 curl -fL https://r/i.sh | sudo  sh -s - --server https://r --token ${TOKEN}`],
    [
      "a bad checksum",
      `curl -fL https://r/i.sh | sudo  sh -s - --server https://r --token ${TOKEN} --ca-checksum zz`,
    ],
  ] as const) {
    it(`refuses ${what}, and the error never holds the token`, () => {
      const parsed = parseRegistrationCommand(text);
      assert.ok("error" in parsed, `parsed: ${JSON.stringify(parsed)}`);
      assert.throws(
        () => registrationInput(CLUSTER, text),
        (error: Error) =>
          error.message.includes("format this program does not know") && !error.message.includes(TOKEN),
      );
    });
  }

  it("cluster ids are c-m- and eight characters of Rancher's random-token alphabet", () => {
    for (const seed of ["a", "seed", "prod-rke2"])
      assert.match(fakeClusterV1Id(seed), /^c-m-[bcdfghjklmnpqrstvwxz2456789]{8}$/);
  });
});

describe("registration script on a temporary root, against a stand-in Rancher over HTTPS", () => {
  let pki: Pki;
  let rancher: StandInRancher;
  const roots: string[] = [];

  before(async () => {
    pki = makePki();
    rancher = await startStandInRancher(pki, TOKEN);
  });
  after(async () => {
    await rancher.close();
    for (const dir of [pki.dir, ...roots]) fs.rmSync(dir, { recursive: true, force: true });
  });

  function newRoot(): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "hrke2-node-"));
    roots.push(root);
    return root;
  }

  function script(root: string, options: { caCerts?: string; timeout?: number } = {}): string {
    return renderRegistrationScript({
      nodeName: "server-1",
      roles: ["etcd", "controlplane"],
      labels: { zone: "a", "topology.kubernetes.io/region": "eu" },
      caCerts: options.caCerts ?? pki.caPem,
      installerTimeoutSeconds: options.timeout ?? 60,
      root,
    });
  }

  function input(
    options: { token?: string; caCerts?: string; insecure?: boolean; cluster?: string } = {},
  ): string {
    const commands = nodeCommands({
      apiUrl: rancher.url,
      token: options.token ?? TOKEN,
      caCerts: options.caCerts,
      agentEnvVars: [{ name: "HTTP_PROXY", value: "http://proxy.example:3128" }],
    });
    return registrationInput(
      options.cluster ?? CLUSTER,
      options.insecure ? commands.insecureNodeCommand : commands.nodeCommand,
    );
  }

  const read = (root: string, file: string) => fs.readFileSync(path.join(root, file), "utf8");
  const exists = (root: string, file: string) => fs.existsSync(path.join(root, file));
  const record = (root: string) =>
    Object.fromEntries(
      read(root, "var/lib/rancher-standin/record")
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
  const runs = (root: string) =>
    exists(root, "var/lib/rancher-standin/runs")
      ? read(root, "var/lib/rancher-standin/runs").trim().split("\n").length
      : 0;

  it("is shellcheck-clean as rendered, and its fixed files are too", () => {
    shellcheck(script("/tmp/x"));
    shellcheck(renderUninstallScript("server-1"));
    for (const file of ["register.sh", "uninstall.sh"]) {
      shellcheck(
        fs
          .readFileSync(path.join(PROJECT_DIR, "components", "cluster", file), "utf8")
          .replace("\n", "\n# shellcheck disable=SC2154 # the values block assigns these\n"),
      );
    }
  });

  it("registers: the installer gets roles, labels, node name, server, checksum and token from its environment", async () => {
    const root = newRoot();
    const run = await runBash(script(root), input({ caCerts: pki.caPem }));
    assert.equal(run.status, 0, run.stderr);
    const got = record(root);
    assert.equal(got.args, "0", "nothing on the installer's command line");
    assert.equal(got.server, rancher.url);
    assert.equal(got.token_matches, "yes");
    assert.equal(got.ca_checksum, caChecksum(pki.caPem));
    assert.equal(got.roles, "etcd:true controlplane:true worker:false");
    assert.equal(got.labels, "cattle.io/os=linux,topology.kubernetes.io/region=eu,zone=a");
    assert.equal(got.node_name, "server-1");
    assert.equal(got.http_proxy, "http://proxy.example:3128");
    assert.equal(
      rancher.authorizations.at(-1),
      `Bearer ${TOKEN}`,
      "the installer's token header reaches Rancher",
    );
    assert.deepEqual(rancher.tokenCommandLines, [], "no command line held the token while curl sent it");
    assert.equal(read(root, "etc/rancher/hardened-rke2/registered-cluster"), `${CLUSTER}\n`);
    assert.ok(!exists(root, "etc/rancher/hardened-rke2/registering-cluster"));
    assert.match(
      run.stdout,
      /registration: server-1 registered to cluster c-m-7q2xbk4d as etcd controlplane/,
    );
    for (const text of [run.stdout, run.stderr, read(root, "var/log/hardened-rke2-registration.log")]) {
      assert.ok(!text.includes(TOKEN), "the token is never printed or logged");
    }
    assert.equal(fs.statSync(path.join(root, "var/log/hardened-rke2-registration.log")).mode & 0o077, 0);

    const again = await runBash(script(root), input({ caCerts: pki.caPem }));
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /is registered to cluster c-m-7q2xbk4d; nothing to do/);
    assert.equal(runs(root), 1, "the second run does not run the installer");
    assert.equal(again.stderr, "");

    const moved = renderRegistrationScript({
      nodeName: "server-1",
      roles: ["etcd", "controlplane", "worker"],
      labels: { zone: "b" },
      caCerts: pki.caPem,
      root,
    });
    const third = await runBash(moved, input({ caCerts: pki.caPem }));
    assert.equal(third.status, 0, third.stderr);
    assert.equal(runs(root), 1, "a registered node is not registered again");
    assert.match(
      third.stderr,
      /warning: server-1 was registered as roles etcd,controlplane, labels topology.kubernetes.io\/region=eu,zone=a, the stack now says roles etcd,controlplane,worker, labels zone=b; Rancher keeps/,
    );
  });

  it("completes a registration interrupted after the agent was installed", async () => {
    const root = newRoot();
    writeMarker(root, "registering-cluster");
    fs.mkdirSync(path.join(root, "etc/rancher/agent"), { recursive: true });
    fs.writeFileSync(path.join(root, "etc/rancher/agent/config.yaml"), "remoteEnabled: true\n");
    const run = await runBash(script(root), input());
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /completing the interrupted registration of server-1 to cluster c-m-7q2xbk4d/);
    assert.equal(runs(root), 1);
    assert.equal(read(root, "etc/rancher/hardened-rke2/registered-cluster"), `${CLUSTER}\n`);
  });

  it("registers again when the marker says registered but the agent is gone", async () => {
    const root = newRoot();
    writeMarker(root, "registered-cluster");
    const run = await runBash(script(root), input());
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /its agent is gone; registering again/);
    assert.equal(runs(root), 1);
  });

  it("refuses a node registered to another cluster, naming it, and changes nothing", async () => {
    const root = newRoot();
    writeMarker(root, "registered-cluster", "c-m-other123");
    const run = await runBash(script(root), input());
    assert.equal(run.status, 1);
    assert.match(
      run.stderr,
      /^hardened-rke2: error: node server-1 is registered to cluster c-m-other123, not c-m-7q2xbk4d/,
    );
    assert.equal(runs(root), 0);
  });

  it("refuses an agent this stack did not install, and one of another Rancher, naming it", async () => {
    const foreign = newRoot();
    fs.mkdirSync(path.join(foreign, "etc/rancher/agent"), { recursive: true });
    fs.writeFileSync(path.join(foreign, "etc/rancher/agent/config.yaml"), "remoteEnabled: true\n");
    const run = await runBash(script(foreign), input());
    assert.equal(run.status, 1);
    assert.match(run.stderr, /already runs rancher-system-agent from a registration this stack did not make/);

    const other = newRoot();
    writeMarker(other, "registered-cluster");
    fs.mkdirSync(path.join(other, "var/lib/rancher/agent"), { recursive: true });
    fs.writeFileSync(
      path.join(other, "var/lib/rancher/agent/rancher2_connection_info.json"),
      '{"kubeConfig":"apiVersion: v1\\nclusters:\\n- cluster:\\n    server: https://old-rancher.example\\n"}',
    );
    const second = await runBash(script(other), input());
    assert.equal(second.status, 1);
    assert.match(
      second.stderr,
      /registered with the Rancher at https:\/\/old-rancher\.example, not https:\/\/127\.0\.0\.1/,
    );
  });

  it("verifies the download with rancher.caCerts: another CA fails, and nothing is marked registered", async () => {
    const root = newRoot();
    const otherCa = makePki();
    try {
      const run = await runBash(script(root, { caCerts: otherCa.caPem }), input());
      assert.equal(run.status, 1);
      assert.match(run.stderr, /cannot download Rancher's installer/);
      assert.equal(runs(root), 0);
      assert.ok(!exists(root, "etc/rancher/hardened-rke2/registered-cluster"));
    } finally {
      fs.rmSync(otherCa.dir, { recursive: true, force: true });
    }
  });

  it("without rancher.caCerts, trusts Rancher's /cacerts only when it matches the command's checksum", async () => {
    const good = newRoot();
    const run = await runBash(script(good, { caCerts: "" }), input({ caCerts: pki.caPem }));
    assert.equal(run.status, 0, run.stderr);

    const bad = newRoot();
    const refused = await runBash(script(bad, { caCerts: "" }), input({ caCerts: "another CA\n" }));
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /not the checksum [0-9a-f]{64} of the registration command; set rancher\.caCerts/,
    );
    assert.equal(runs(bad), 0);
  });

  it("insecure: downloads without verification, as Rancher's insecureNodeCommand does", async () => {
    const root = newRoot();
    const run = await runBash(script(root, { caCerts: "" }), input({ insecure: true, caCerts: pki.caPem }));
    assert.equal(run.status, 0, run.stderr);
    assert.equal(record(root).token_matches, "yes");
  });

  it("a wrong token: the installer's endless retries end at the timeout, with its last lines and no token", async () => {
    const root = newRoot();
    const wrong = "wrongtoken2lbk4ndrvp9tc6hsgj5fqx8wzt2mlkdbrn4vqz7cpsh";
    const started = Date.now();
    const run = await runBash(script(root, { timeout: 3 }), input({ token: wrong }));
    console.log(`  (timed-out installer run: ${Date.now() - started} ms)`);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /did not finish within 3 s on server-1; it retries for hours/);
    assert.match(run.stderr, /401 received/);
    assert.ok(!run.stderr.includes(wrong) && !run.stdout.includes(wrong));
    assert.equal(
      read(root, "etc/rancher/hardened-rke2/registering-cluster"),
      `${CLUSTER}\n`,
      "a re-run completes it",
    );
    assert.ok(!exists(root, "etc/rancher/hardened-rke2/registered-cluster"));
  });

  it("a wrong CA checksum: the installer's exit 1 fails the registration", async () => {
    const root = newRoot();
    const text = input({ caCerts: pki.caPem }).replace(/^ca_checksum=.*$/m, `ca_checksum=${"0".repeat(64)}`);
    const run = await runBash(script(root), text);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /installer failed on server-1 \(exit 1\)/);
    assert.match(run.stderr, /does not match given --ca-checksum/);
  });

  it("reads nothing but its own keys from standard input", async () => {
    const root = newRoot();
    const run = await runBash(script(root), `${input()}surprise=1\n`);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /unexpected line on standard input \(key surprise\)/);
  });
});

describe("uninstall script on a temporary root", () => {
  it("runs the uninstall scripts present and removes both markers", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "hrke2-node-"));
    try {
      fs.mkdirSync(path.join(root, "usr/local/bin"), { recursive: true });
      const ran = path.join(root, "ran");
      for (const name of ["rancher-system-agent-uninstall.sh", "rke2-uninstall.sh"]) {
        fs.writeFileSync(path.join(root, "usr/local/bin", name), `#!/bin/sh\necho ${name} >>'${ran}'\n`, {
          mode: 0o755,
        });
      }
      writeMarker(root, "registered-cluster");
      writeMarker(root, "registering-cluster");
      const run = await runBash(renderUninstallScript("agent-1", root), "");
      assert.equal(run.status, 0, run.stderr);
      assert.equal(fs.readFileSync(ran, "utf8"), "rancher-system-agent-uninstall.sh\nrke2-uninstall.sh\n");
      assert.deepEqual(fs.readdirSync(path.join(root, "etc/rancher/hardened-rke2")), []);
      assert.match(
        run.stdout,
        /agent-1 no longer runs RKE2 or the Rancher system agent \(2 uninstall script\(s\) run\)/,
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as YAML from "yaml";
import type { AuditRuleModel } from "../config/model";
import { DEFAULT_AUDIT_LEVEL, renderAuditPolicy } from "../components/host/auditPolicy";
import { READYZ_TIMEOUT_SECONDS, renderAuditPolicyUpdateScript } from "../components/host/auditRollout";
import {
  ALLOW_EXISTING_INSTALL_OPTION,
  AUDIT_POLICY_PATH,
  type HostPrepScriptOptions,
  KERNEL_PARAMETERS,
  renderHostPrepScript,
  renderRemoteCommand,
  renderSysctlConf,
  shellQuote,
} from "../components/host/render";
import { shellcheck } from "./shellcheck";

// Never run a host preparation script on this machine: its kernel parameters are not namespaced.
// These tests run only the variable block of a script, the SSH command around a harmless script,
// and the audit roll-out script with every path moved into a temp directory.

const HOSTILE_VALUES = [
  "",
  "plain",
  "with space",
  "it's",
  "'",
  "''",
  `"double" \\back\\slash`,
  "$(touch /tmp/hardened-rke2-pwned)",
  "`touch /tmp/hardened-rke2-pwned`",
  "${HOME} $HOME $1 $@ !! *?[a]",
  "line one\nline two\n",
  "tab\there; rm -rf /nonexistent & |> <",
  "ünïcödé ✓",
];

const ALL_OPTIONS: HostPrepScriptOptions[] = [false, true].flatMap((createEtcdUser) =>
  [false, true].flatMap((writeAuditPolicy) =>
    [false, true].map((allowExistingInstall) => ({
      nodeName: "node-1",
      createEtcdUser,
      writeAuditPolicy,
      allowExistingInstall,
    })),
  ),
);

/** The block of top-level assignments (stack values, and the policy read from stdin) of a host script. */
function variableBlock(script: string): string {
  const start = script.indexOf("# Values from the stack");
  const end = script.indexOf("\n\n", start);
  assert.ok(start > 0 && end > start, "the script has a variable block");
  return script.slice(start, end);
}

/** Runs shell code with bash (never a host script as a whole) and returns its result. */
function bash(code: string, input = "") {
  const result = spawnSync("bash", ["-c", code], { input, encoding: "utf8" });
  if (result.error) assert.fail(`bash could not run: ${result.error.message}`);
  return result;
}

/**
 * shellcheck for the SSH command string. It embeds the whole script as one single-quoted word, and
 * shellcheck's info notes SC2016 ("expressions don't expand in single quotes") and SC1003 (escaped
 * single quote inside single quotes) are exactly what that quoting intends; everything else counts.
 */
function shellcheckCommand(command: string): void {
  const result = spawnSync(
    "shellcheck",
    ["--shell", "sh", "--severity", "style", "--exclude", "SC2016,SC1003", "-"],
    {
      input: `${command}\n`,
      encoding: "utf8",
    },
  );
  if (result.error)
    assert.fail(`shellcheck could not run (${result.error.message}); apt-get install -y shellcheck`);
  assert.equal(result.status, 0, `shellcheck found problems:\n${result.stdout}${result.stderr}`);
}

describe("kernel parameters", () => {
  it("are the hardening guide's four, with its values, in its order", () => {
    assert.deepEqual(
      KERNEL_PARAMETERS.map((p) => `${p.name}=${p.value}`),
      ["vm.panic_on_oom=0", "vm.overcommit_memory=1", "kernel.panic=10", "kernel.panic_on_oops=1"],
    );
    assert.ok(Object.isFrozen(KERNEL_PARAMETERS) && KERNEL_PARAMETERS.every((p) => Object.isFrozen(p)));
  });

  it("render 90-kubelet.conf exactly: one comment, the four lines, a final newline", () => {
    assert.equal(
      renderSysctlConf(),
      "# Managed by hardened-rke2 (RKE2 CIS hardening: kernel parameters checked by protect-kernel-defaults).\n" +
        "vm.panic_on_oom=0\nvm.overcommit_memory=1\nkernel.panic=10\nkernel.panic_on_oops=1\n",
    );
  });
});

describe("shellQuote", () => {
  it("gives bash back every value byte for byte, and nothing in it runs", () => {
    for (const value of HOSTILE_VALUES) {
      const result = bash(`printf '%s' ${shellQuote(value)}`);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, value, `round trip of ${JSON.stringify(value)}`);
    }
    assert.equal(fs.existsSync("/tmp/hardened-rke2-pwned"), false);
  });

  it("does the same for dash, the POSIX sh that parses the SSH command on Debian", () => {
    for (const value of HOSTILE_VALUES) {
      const result = spawnSync("dash", ["-c", `printf '%s' ${shellQuote(value)}`], { encoding: "utf8" });
      assert.equal(result.stdout, value);
    }
  });

  it("writes single quotes as '\\'' and refuses NUL, which no shell word can hold", () => {
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
    assert.equal(shellQuote(""), "''");
    assert.throws(() => shellQuote("a\0b"), /NUL/);
  });
});

describe("host preparation script", () => {
  it("is shellcheck-clean for every combination of options", () => {
    for (const options of ALL_OPTIONS) shellcheck(renderHostPrepScript(options));
  });

  it("is shellcheck-clean and keeps a hostile node name a literal value", () => {
    for (const nodeName of HOSTILE_VALUES) {
      const script = renderHostPrepScript({ ...ALL_OPTIONS[7], nodeName });
      shellcheck(script);
      const result = bash(`${variableBlock(script)}\nprintf '%s' "$node_name"`, "kind: Policy\n");
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, nodeName);
    }
    assert.equal(fs.existsSync("/tmp/hardened-rke2-pwned"), false);
  });

  it("starts strict, runs the fresh-install guard before any change, and calls main last", () => {
    const script = renderHostPrepScript(ALL_OPTIONS[7]);
    assert.match(script, /^#!\/usr\/bin\/env bash\n/);
    assert.match(script, /\nset -euo pipefail\n/);
    assert.ok(script.trimEnd().endsWith('main "$@" </dev/null'));
    const guard = script.indexOf("fresh-install guard");
    for (const change of [
      'write_file "$sysctl_path"',
      "sysctl -q -p",
      "useradd",
      "groupadd",
      'write_file "$audit_policy_path"',
    ]) {
      assert.ok(
        script.indexOf(change, script.indexOf("main() {")) > guard,
        `${change} comes after the guard`,
      );
    }
    // The checks that can refuse a node come before the first change, so a refused node is left as it was.
    const firstChange = script.indexOf('write_file "$sysctl_path"', script.indexOf("main() {"));
    assert.ok(script.indexOf("is applied after") < firstChange);
    assert.ok(script.indexOf("no complete audit policy") < firstChange);
  });

  it("refuses an existing RKE2 and names the stack option, unless the stack allows it", () => {
    const strict = renderHostPrepScript({ ...ALL_OPTIONS[0], allowExistingInstall: false });
    assert.match(strict, /RKE2 is already installed or running/);
    assert.ok(strict.includes(ALLOW_EXISTING_INSTALL_OPTION));
    assert.match(strict, /exit 3/);
    const allowed = renderHostPrepScript({ ...ALL_OPTIONS[0], allowExistingInstall: true });
    assert.doesNotMatch(allowed, /RKE2 is already installed or running/);
    assert.match(allowed, /continuing because hardened-rke2:hardening.allowExistingInstall is true/);
    for (const evidence of [
      "/usr/local/bin/rke2",
      "/var/lib/rancher/rke2/server",
      "rke2-server.service",
      "rke2-agent.service",
    ]) {
      assert.ok(strict.includes(evidence), `the guard looks for ${evidence}`);
    }
  });

  it("applies the exact sysctl file with sysctl -p and reads every value back from /proc/sys", () => {
    const script = renderHostPrepScript(ALL_OPTIONS[0]);
    const result = bash(
      `${variableBlock(script)}\nprintf '%s' "$sysctl_conf"; printf '|%s' "\${param_names[@]}" "\${param_values[@]}"`,
    );
    assert.equal(result.stdout.split("|")[0], renderSysctlConf());
    assert.equal(
      result.stdout.slice(renderSysctlConf().length),
      "|vm.panic_on_oom|vm.overcommit_memory|kernel.panic|kernel.panic_on_oops|0|1|10|1",
    );
    assert.match(script, /write_file "\$sysctl_path" 0644 "\$sysctl_conf"/);
    assert.match(script, /sysctl -q -p "\$sysctl_path"/);
    assert.match(script, /read -r actual <"\/proc\/sys\/\$\{key\/\/.\/\/\}"/);
    assert.match(script, /expected %s, the kernel reports %s/);
    assert.doesNotMatch(script, />>/, "nothing is ever appended to");
  });

  it("creates the etcd user only when asked, as the guide's useradd, reusing an existing group", () => {
    for (const options of ALL_OPTIONS) {
      const script = renderHostPrepScript(options);
      assert.equal(/useradd/.test(script), options.createEtcdUser);
      assert.equal(script.includes("etcd-user"), options.createEtcdUser, "steps line");
    }
    const script = renderHostPrepScript({ ...ALL_OPTIONS[0], createEtcdUser: true });
    assert.match(script, /useradd -r -c "etcd user" -s "\$nologin" -M "\$\{group_option\[@\]\}" etcd/);
    assert.match(script, /group_option=\(-U\)/);
    assert.match(script, /group_option=\(-g etcd\)/);
    assert.match(script, /for path in \/sbin\/nologin \/usr\/sbin\/nologin/);
    assert.match(script, /done <\/etc\/passwd/);
    assert.match(script, /done <\/etc\/group/);
    assert.match(script, /etcd user: unchanged/);
    assert.match(script, /etcd user: created/);
  });

  it("writes the audit policy only when asked, from standard input, byte for byte, 0600", () => {
    for (const options of ALL_OPTIONS) {
      const script = renderHostPrepScript(options);
      assert.equal(script.includes(AUDIT_POLICY_PATH), options.writeAuditPolicy);
      assert.equal(/audit_policy=\$\(/.test(script), options.writeAuditPolicy);
    }
    const script = renderHostPrepScript({ ...ALL_OPTIONS[0], writeAuditPolicy: true });
    assert.match(script, /write_file "\$audit_policy_path" 0600 "\$audit_policy"/);
    assert.match(script, /mkdir -m 0700 \/etc\/rancher\/rke2/);
    const policy = renderAuditPolicy("Metadata", [{ level: "None", users: ["it's $(x)\n"] }]);
    const result = bash(`${variableBlock(script)}\nprintf '%s' "$audit_policy"`, policy);
    assert.equal(result.stdout, policy, "the policy read from stdin keeps every byte, its final newline too");
  });

  it("does not change when the audit policy changes (the policy is not part of it)", () => {
    const options = { ...ALL_OPTIONS[0], writeAuditPolicy: true };
    assert.equal(renderHostPrepScript(options), renderHostPrepScript({ ...options }));
    assert.notEqual(renderHostPrepScript(options), renderHostPrepScript({ ...options, nodeName: "other" }));
  });
});

describe("remote command", () => {
  const harmless = `#!/usr/bin/env bash\nset -euo pipefail\nmain() {\n  printf 'uid=%s stdin=' "$EUID"\n  cat\n}\nmain "$@"\n`;

  it("is shellcheck-clean plain sh, also around a script with hostile values", () => {
    shellcheckCommand(renderRemoteCommand(harmless));
    for (const nodeName of HOSTILE_VALUES) {
      shellcheckCommand(renderRemoteCommand(renderHostPrepScript({ ...ALL_OPTIONS[7], nodeName })));
    }
  });

  it(
    "runs the script as root under dash, with the session's standard input",
    { skip: process.getuid?.() !== 0 && "needs root" },
    () => {
      const result = spawnSync("dash", ["-c", renderRemoteCommand(harmless)], {
        input: "policy text\n",
        encoding: "utf8",
      });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, "uid=0 stdin=policy text\n");
    },
  );

  it(
    "tells a user without passwordless sudo what to do, at once, and runs nothing",
    { skip: process.getuid?.() !== 0 && "needs root" },
    () => {
      const result = spawnSync(
        "setpriv",
        ["--reuid=65534", "--regid=65534", "--clear-groups", "dash", "-c", renderRemoteCommand(harmless)],
        // A prompt or a hang ends in the timeout, which fails the checks below; the time itself decides nothing.
        { input: "x\n", encoding: "utf8", timeout: 20_000, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } },
      );
      if (result.error) assert.fail(`setpriv could not run: ${result.error.message}`);
      assert.equal(result.status, 1, result.stderr);
      assert.equal(result.stdout, "", "the script did not run");
      assert.match(
        result.stderr,
        /SSH user \S+ is not root and (sudo is not installed|cannot use sudo without a password)/,
      );
      assert.match(result.stderr, /passwordless sudo/);
    },
  );
});

describe("audit policy", () => {
  type Policy = { apiVersion: string; kind: string; rules: Record<string, unknown>[] };
  const parse = (text: string) => YAML.parse(text, { version: "1.1" }) as Policy;

  it("defaults to a catch-all rule at Metadata, after the rule for credential resources", () => {
    assert.equal(DEFAULT_AUDIT_LEVEL, "Metadata");
    const policy = parse(renderAuditPolicy());
    assert.equal(policy.kind, "Policy");
    assert.deepEqual(policy.rules.at(-1), { level: "Metadata" });
  });

  it("keeps the custom rules in order, every field, and ends with the catch-all at the level", () => {
    const rules: AuditRuleModel[] = [
      {
        level: "None",
        users: ["system:kube-proxy"],
        verbs: ["watch"],
        resources: [{ group: "", resources: ["endpoints", "services"] }],
      },
      { level: "None", nonResourceURLs: ["/healthz*", "/version"], userGroups: ["system:authenticated"] },
      {
        level: "Metadata",
        resources: [{ group: "", resources: ["secrets", "configmaps"] }],
        omitStages: ["RequestReceived"],
      },
      {
        level: "RequestResponse",
        namespaces: ["on", "yes", "no"],
        resources: [{ group: "apps", resources: ["deployments"], resourceNames: ["x"] }],
      },
    ];
    const policy = parse(renderAuditPolicy("Request", rules));
    // The first rule caps credential resources at Metadata (test/auditPolicy.test.ts).
    assert.equal(policy.rules.length, 6);
    assert.deepEqual(policy.rules.slice(1, 5), rules);
    assert.deepEqual(policy.rules.at(-1), { level: "Request" }, "the catch-all is last and has no selector");
  });

  it("quotes strings a YAML 1.1 parser (the API server's) would read as booleans or numbers", () => {
    const text = renderAuditPolicy("Metadata", [
      { level: "None", namespaces: ["on", "off", "yes", "n", "y", "null", "1e3", "0x10"] },
    ]);
    assert.deepEqual(parse(text).rules[1].namespaces, ["on", "off", "yes", "n", "y", "null", "1e3", "0x10"]);
    assert.ok(text.endsWith("\n"));
  });
});

describe("audit policy roll-out script", () => {
  const policy = renderAuditPolicy("Metadata", [
    { level: "None", users: ["$(touch /tmp/hardened-rke2-pwned)"] },
  ]);
  const script = renderAuditPolicyUpdateScript(policy);

  it("is shellcheck-clean and carries the policy as a literal", () => {
    shellcheck(script);
    const start = script.indexOf("# Values from the stack");
    const block = script.slice(start, script.indexOf("\n\n", start));
    assert.equal(bash(`${block}\nprintf '%s' "$audit_policy"`).stdout, policy);
  });

  it("skips an identical file before anything else, then restarts and waits a bounded time for /readyz", () => {
    const main = script.slice(script.indexOf("main() {"));
    const skip = main.indexOf("audit-policy.yaml: unchanged, rke2-server not restarted");
    assert.ok(skip > 0 && skip < main.indexOf("replace_file") && skip < main.indexOf("systemctl restart"));
    assert.match(main, /systemctl restart rke2-server\.service/);
    assert.match(main, /get --raw \/readyz/);
    assert.equal(READYZ_TIMEOUT_SECONDS, 600);
    assert.match(script, /timeout='600'/);
  });

  /**
   * Runs the roll-out script with every fixed path moved into a temp directory and fake `systemctl`
   * and `kubectl`; fails the test if any original path survives, so it never touches this machine.
   */
  function runRollout(dir: string, opts: { readyAfter: number; timeout: number; restartHangs?: boolean }) {
    const fakeBin = path.join(dir, "bin");
    fs.mkdirSync(fakeBin, { recursive: true });
    fs.writeFileSync(
      path.join(fakeBin, "systemctl"),
      `#!/bin/sh\necho "$*" >>"${dir}/systemctl.log"\n${opts.restartHangs ? "exec sleep 30\n" : ""}`,
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(fakeBin, "kubectl"),
      `#!/bin/sh\nn=$(cat "${dir}/calls" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"${dir}/calls"\n` +
        `[ "$n" -gt ${opts.readyAfter} ] && { echo ok; exit 0; }; echo "connection refused"; exit 1\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(dir, "rke2.yaml"), "kubeconfig\n");
    const moved = script
      .replace(/^export PATH=.*$/m, `export PATH=${fakeBin}:/usr/bin:/bin`)
      .replace(
        `audit_policy_path='${AUDIT_POLICY_PATH}'`,
        `audit_policy_path='${dir}/rke2/audit-policy.yaml'`,
      )
      .replace("kubectl='/var/lib/rancher/rke2/bin/kubectl'", `kubectl='${fakeBin}/kubectl'`)
      .replace("kubeconfig='/etc/rancher/rke2/rke2.yaml'", `kubeconfig='${dir}/rke2.yaml'`)
      .replace("timeout='600'", `timeout='${opts.timeout}'`)
      .replace(/sleep 5/g, "sleep 0.1")
      .replace(/\/etc\/rancher/g, `${dir}/etc-rancher`);
    for (const original of ["/var/lib/rancher", "/etc/rancher", "/usr/sbin"]) {
      assert.ok(!moved.includes(original), `${original} was moved into the temp directory`);
    }
    fs.mkdirSync(path.join(dir, "rke2"), { recursive: true });
    return spawnSync("bash", ["-c", moved], { encoding: "utf8", timeout: 30_000 });
  }

  it(
    "really skips an identical file, rewrites and restarts otherwise, and times out clearly",
    { skip: process.getuid?.() !== 0 && "needs root" },
    () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hrke2-rollout-"));
      try {
        const file = path.join(dir, "rke2", "audit-policy.yaml");
        const first = runRollout(dir, { readyAfter: 2, timeout: 20 });
        assert.equal(first.status, 0, first.stderr);
        assert.match(first.stdout, /audit-policy.yaml: written\nrke2-server: restarted/);
        assert.match(first.stdout, /kube-apiserver: ready \(ok\)/);
        assert.equal(fs.readFileSync(file, "utf8"), policy);
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);
        assert.equal(
          fs.readFileSync(path.join(dir, "systemctl.log"), "utf8"),
          "restart rke2-server.service\n",
        );
        assert.equal(
          fs.readFileSync(path.join(dir, "calls"), "utf8"),
          "3\n",
          "polled until the third answer",
        );

        const second = runRollout(dir, { readyAfter: 0, timeout: 20 });
        assert.equal(second.status, 0, second.stderr);
        assert.equal(second.stdout, "audit-policy.yaml: unchanged, rke2-server not restarted\n");
        assert.equal(
          fs.readFileSync(path.join(dir, "systemctl.log"), "utf8"),
          "restart rke2-server.service\n",
        );

        fs.writeFileSync(file, "old policy\n");
        fs.rmSync(path.join(dir, "calls"));
        const stuck = runRollout(dir, { readyAfter: 1_000, timeout: 1 });
        assert.equal(stuck.status, 8);
        assert.match(
          stuck.stderr,
          /did not answer \/readyz within 1 s after the restart; last answer: connection refused/,
        );

        fs.writeFileSync(file, "old policy\n");
        // Bounded: an unbounded restart would wait for the fake's 30 s sleep and then succeed (exit 0).
        const hung = runRollout(dir, { readyAfter: 0, timeout: 1, restartHangs: true });
        assert.equal(hung.status, 8);
        assert.match(hung.stderr, /systemctl restart rke2-server.service failed or took longer than 1 s/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

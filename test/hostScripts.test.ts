import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as YAML from "yaml";
import type { AuditRuleModel } from "../config/model";
import { DEFAULT_AUDIT_LEVEL, renderAuditPolicy } from "../components/host/auditPolicy";
import {
  AUDIT_ROLLOUT_SCRIPT,
  READYZ_TIMEOUT_SECONDS,
  renderAuditPolicyUpdateScript,
} from "../components/host/auditRollout";
import {
  ALLOW_EXISTING_INSTALL_OPTION,
  HOST_PREP_SCRIPT,
  type HostPrepScriptOptions,
  KERNEL_PARAMETERS,
  renderHostPrepScript,
  renderRemoteCommand,
  renderSysctlConf,
} from "../components/host/render";
import { includesOf, shellQuote } from "../components/shell/script";
import { shellcheck, shellcheckFile } from "./shellcheck";

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
  // Code that never reads its standard input may exit before the input is written: EPIPE, not a failure.
  const errno = result.error && "code" in result.error ? result.error.code : undefined;
  const epipe = errno === "EPIPE" && result.status !== null;
  if (result.error && !epipe) assert.fail(`bash could not run: ${result.error.message}`);
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

  it("is read from its .sh file, starts strict, checks everything before the first change, and calls main last", () => {
    shellcheckFile(HOST_PREP_SCRIPT);
    for (const library of includesOf(HOST_PREP_SCRIPT)) shellcheckFile(library);
    const script = renderHostPrepScript(ALL_OPTIONS[7]);
    assert.match(
      script,
      /^#!\/usr\/bin\/env bash\n# hardened-rke2:steps guard sysctl etcd-user audit-policy\n/,
    );
    assert.match(script, /\nset -euo pipefail\n/);
    assert.ok(script.trimEnd().endsWith('main "$@" </dev/null'));
    const main = script.slice(script.indexOf("\nmain() {"));
    const firstChange = main.indexOf("apply_kernel_parameters");
    for (const check of [
      "rke2_evidence",
      "not found on this node",
      "no complete audit policy",
      "check_later_sysctl_files",
      "read_etcd_account",
      "pending_changes",
      "exit 3",
    ]) {
      const at = main.indexOf(check);
      assert.ok(at > 0 && at < firstChange, `${check} comes before the first change`);
    }
    assert.ok(
      main.indexOf("apply_etcd_user") > firstChange && main.indexOf("apply_audit_policy") > firstChange,
    );
  });

  it("on a node with RKE2 refuses only changes, names them and the stack option, and succeeds when nothing would change", () => {
    const strict = renderHostPrepScript({ ...ALL_OPTIONS[0], allowExistingInstall: false });
    const allowed = renderHostPrepScript({ ...ALL_OPTIONS[0], allowExistingInstall: true });
    assert.match(variableBlock(strict), /^allow_existing_install=''$/m);
    assert.match(variableBlock(allowed), /^allow_existing_install='1'$/m);
    assert.match(variableBlock(strict), new RegExp(`^allow_option='${ALLOW_EXISTING_INSTALL_OPTION}'$`, "m"));
    // Only the values differ: the fixed text is the .sh file's, whatever the options.
    const fixed = (text: string) =>
      text.replace(variableBlock(text), "").replace(/^# hardened-rke2:steps .*$/m, "");
    for (const options of ALL_OPTIONS) assert.equal(fixed(renderHostPrepScript(options)), fixed(strict));
    assert.match(strict, /RKE2 is already installed or running on node %s: %s/);
    assert.match(strict, /Host preparation would change: %s\. Nothing was changed\./);
    assert.match(strict, /this node already has everything host preparation sets, nothing to change/);
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
      assert.match(
        variableBlock(script),
        new RegExp(`^create_etcd_user='${options.createEtcdUser ? "1" : ""}'$`, "m"),
      );
      assert.equal(script.includes("etcd-user"), options.createEtcdUser, "steps line");
    }
    const script = renderHostPrepScript({ ...ALL_OPTIONS[0], createEtcdUser: true });
    assert.match(script, /useradd -r -c "etcd user" -s "\$nologin" -M "\$\{group_option\[@\]\}" etcd/);
    assert.match(script, /group_option=\(-U\)/);
    assert.match(script, /group_option=\(-g etcd\)/);
    assert.match(script, /done <\/etc\/passwd/);
    assert.match(script, /done <\/etc\/group/);
  });

  it("reads the audit policy from standard input only when asked, byte for byte, and leaves an existing one to the roll-out once RKE2 runs", () => {
    for (const options of ALL_OPTIONS) {
      const script = renderHostPrepScript(options);
      assert.match(
        variableBlock(script),
        new RegExp(`^write_audit_policy='${options.writeAuditPolicy ? "1" : ""}'$`, "m"),
      );
    }
    const script = renderHostPrepScript({ ...ALL_OPTIONS[0], writeAuditPolicy: true });
    const input = script.slice(
      script.indexOf("# Values from the stack"),
      script.indexOf("content_matches()"),
    );
    const policy = renderAuditPolicy("Metadata", [{ level: "None", users: ["it's $(x)\n"] }]);
    const result = bash(`${input}\nprintf '%s' "$audit_policy"`, policy);
    assert.equal(result.stdout, policy, "the policy read from stdin keeps every byte, its final newline too");
    const off = renderHostPrepScript(ALL_OPTIONS[0]);
    const offInput = off.slice(off.indexOf("# Values from the stack"), off.indexOf("content_matches()"));
    assert.equal(
      bash(`${offInput}\nprintf '%s' "$audit_policy"`, policy).stdout,
      "",
      "stdin is not read when not asked",
    );
    const apply = script.slice(script.indexOf("apply_audit_policy() {"), script.indexOf("\nmain() {"));
    assert.match(
      apply,
      /if \[ "\$\{#found\[@\]\}" -gt 0 \] && \[ -e "\$audit_policy_path" \]; then\n\s+echo "audit-policy.yaml: present, left to the audit policy roll-out \(RKE2 is installed\)"\n\s+return 0/,
    );
    assert.match(apply, /write_file "\$audit_policy_path" 0600 "\$audit_policy"/);
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
  const script = renderAuditPolicyUpdateScript("cp-1", policy);

  it("is shellcheck-clean, read from its .sh file, and carries the policy as a literal", () => {
    shellcheck(script);
    shellcheckFile(AUDIT_ROLLOUT_SCRIPT);
    for (const library of includesOf(AUDIT_ROLLOUT_SCRIPT)) shellcheckFile(library);
    const start = script.indexOf("# Values from the stack");
    const block = script.slice(start, script.indexOf("\n\n", start));
    assert.equal(bash(`${block}\nprintf '%s' "$audit_policy"`).stdout, policy);
    assert.match(script, /timeout='600'/);
    assert.equal(READYZ_TIMEOUT_SECONDS, 600);
  });

  /**
   * A stand-in for one RKE2 control-plane node in a temp directory, following RKE2's contract
   * (rancher/rke2 pkg/staticpod: kube-apiserver is replaced only when the hash of the files its
   * arguments name changed, asynchronously after `systemctl restart rke2-server`):
   * - `proc/` holds `uptime`, `boot_id` and one `PID/{comm,stat}` per kube-apiserver process, in the
   *   kernel's formats (proc(5): starttime is field 22, in clock ticks since boot);
   * - `systemctl restart` advances the clock by one second and, when the policy's hash differs from
   *   the one the running apiserver loaded, replaces the process (unless `lazy`: then the old one
   *   keeps running, as right after a restart);
   * - `kubectl get --raw /readyz` answers ok while an apiserver process runs whose policy does not
   *   contain BAD; the pod listing reports `other-cp` unready when the file `unhealthy` exists.
   */
  function standIn(dir: string) {
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.mkdirSync(path.join(dir, "proc/sys/kernel/random"), { recursive: true });
    fs.mkdirSync(path.join(dir, "etc-rancher/rke2"), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(dir, "proc/uptime"), "1000.00 1800.00\n");
    fs.writeFileSync(path.join(dir, "proc/sys/kernel/random/boot_id"), "boot-a\n");
    const policyFile = path.join(dir, "etc-rancher/rke2/audit-policy.yaml");
    fs.writeFileSync(
      path.join(bin, "systemctl"),
      `#!/bin/bash
set -eu
d='${dir}'
echo "$*" >>"$d/systemctl.log"
[ -e "$d/restart-hangs" ] && exec sleep 30
read -r up idle <"$d/proc/uptime"
up=$((\${up%.*} + 1))
echo "$up.00 $idle" >"$d/proc/uptime"
hash=$(sha256sum <'${policyFile}' | cut -c1-16)
if [ "$hash" != "$(cat "$d/running-hash" 2>/dev/null)" ] && [ ! -e "$d/lazy" ]; then
  rm -rf "$d"/proc/[0-9]*
  pid=$((1000 + up))
  mkdir "$d/proc/$pid"
  echo kube-apiserver >"$d/proc/$pid/comm"
  echo "$pid (kube-apiserver) S 1 $pid $pid 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 $((up * 100)) 0 0" >"$d/proc/$pid/stat"
  echo "$hash" >"$d/running-hash"
  if grep -q BAD '${policyFile}'; then touch "$d/bad"; else rm -f "$d/bad"; fi
fi
`,
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(bin, "kubectl"),
      `#!/bin/bash
d='${dir}'
case "$*" in
  *"get --raw /readyz"*)
    if compgen -G "$d/proc/[0-9]*" >/dev/null && [ ! -e "$d/bad" ]; then echo ok; exit 0; fi
    echo "The connection to the server 127.0.0.1:6443 was refused"; exit 1 ;;
  *"get pods"*)
    echo "cp-1=True"
    if [ -e "$d/unhealthy" ]; then echo "other-cp=False"; else echo "other-cp=True"; fi ;;
  *) exit 2 ;;
esac
`,
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(dir, "rke2.yaml"), "kubeconfig\n");
    return { policyFile, previousFile: `${policyFile}.previous` };
  }

  /** Runs the roll-out with every fixed path moved into `dir`; fails if an original path survives. */
  function runRollout(dir: string, yaml: string, timeout = 3) {
    const moved = renderAuditPolicyUpdateScript("cp-1", yaml)
      .replace(/^export PATH=.*$/m, `export PATH=${dir}/bin:/usr/bin:/bin`)
      .replace(`kubectl='/var/lib/rancher/rke2/bin/kubectl'`, `kubectl='${dir}/bin/kubectl'`)
      .replace("kubeconfig='/etc/rancher/rke2/rke2.yaml'", `kubeconfig='${dir}/rke2.yaml'`)
      .replace("timeout='600'", `timeout='${timeout}'`)
      .replace("poll_seconds='5'", "poll_seconds='0.1'")
      .replace("proc_root='/proc'", `proc_root='${dir}/proc'`)
      .replace(/\/etc\/rancher/g, `${dir}/etc-rancher`);
    for (const original of ["/var/lib/rancher", "/etc/rancher", "'/proc'"]) {
      assert.ok(!moved.includes(original), `${original} was moved into the temp directory`);
    }
    return spawnSync("bash", ["-c", moved], { encoding: "utf8", timeout: 30_000 });
  }

  const restarts = (dir: string) =>
    fs.existsSync(path.join(dir, "systemctl.log"))
      ? fs.readFileSync(path.join(dir, "systemctl.log"), "utf8").split("\n").filter(Boolean).length
      : 0;

  /** A stand-in node whose API server runs as RKE2 started it, with the old policy; removed afterwards. */
  function onStandInNode(check: (dir: string, files: ReturnType<typeof standIn>) => void): void {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hrke2-rollout-"));
    try {
      const files = standIn(dir);
      fs.writeFileSync(files.policyFile, "old policy\n");
      runRollout(dir, "old policy\n"); // the API server as RKE2 started it, with the old policy
      check(dir, files);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  it(
    "writes, restarts and accepts only an API server started after the write; an identical, ready node is left alone",
    { skip: process.getuid?.() !== 0 && "needs root" },
    () =>
      onStandInNode((dir, { policyFile, previousFile }) => {
        fs.rmSync(path.join(dir, "systemctl.log"));

        const first = runRollout(dir, policy);
        assert.equal(first.status, 0, first.stderr);
        assert.match(
          first.stdout,
          /audit-policy.yaml: written \(previous kept as audit-policy.yaml.previous\)/,
        );
        assert.match(first.stdout, /kube-apiserver: ready \(ok\)/);
        assert.equal(fs.readFileSync(policyFile, "utf8"), policy);
        assert.equal(fs.statSync(policyFile).mode & 0o777, 0o600);
        assert.equal(fs.readFileSync(previousFile, "utf8"), "old policy\n", "the previous policy is kept");
        assert.equal(restarts(dir), 1);

        const second = runRollout(dir, policy);
        assert.equal(second.status, 0, second.stderr);
        assert.match(
          second.stdout,
          /unchanged; kube-apiserver \(pid \d+\) started after it was written and is ready/,
        );
        assert.equal(restarts(dir), 1, "an identical policy on a ready node restarts nothing");
      }),
  );

  it(
    "never passes on the old API server, restores the previous policy when the new one fails, and a retry does not skip the node",
    { skip: process.getuid?.() !== 0 && "needs root" },
    () =>
      onStandInNode((dir, { policyFile }) => {
        // The old apiserver keeps answering /readyz after the restart: the step must not pass on it.
        fs.writeFileSync(path.join(dir, "lazy"), "");
        const stale = runRollout(dir, policy, 1);
        assert.notEqual(stale.status, 0, "no step passes on the old API server");
        assert.match(stale.stderr, /no kube-apiserver started after the policy was written/);
        fs.rmSync(path.join(dir, "lazy"));

        // A policy the API server cannot start with: restored, restarted, failed naming both.
        const bad = `${policy}# BAD\n`;
        const failed = runRollout(dir, bad, 2);
        assert.equal(failed.status, 8, failed.stderr);
        assert.match(
          failed.stderr,
          /did not come up on cp-1: .*refused.*previous policy was restored and its kube-apiserver is ready again/,
        );
        assert.equal(fs.readFileSync(policyFile, "utf8"), "old policy\n", "the previous policy is back");

        // The retry sees a different file again: it does not report the node fine.
        const retry = runRollout(dir, bad, 2);
        assert.equal(retry.status, 8);

        // A written-but-never-restarted policy (a run killed after the write) is finished, not skipped.
        fs.writeFileSync(policyFile, policy);
        const [uptime] = fs.readFileSync(path.join(dir, "proc/uptime"), "utf8").split(" ");
        const writtenAt = Math.round(Number(uptime) * 100) + 50;
        fs.writeFileSync(
          path.join(dir, "etc-rancher/rke2/.audit-policy.hardened-rke2-written"),
          `boot-a ${writtenAt}\n`,
        );
        const finish = runRollout(dir, policy);
        assert.equal(finish.status, 0, finish.stderr);
        assert.match(
          finish.stdout,
          /unchanged, but no kube-apiserver started after it was written is ready: finishing/,
        );
        assert.match(finish.stdout, /kube-apiserver: ready/);
      }),
  );

  it(
    "touches nothing while another control-plane node is unready, and bounds a hanging restart",
    { skip: process.getuid?.() !== 0 && "needs root" },
    () =>
      onStandInNode((dir, { policyFile }) => {
        const before = restarts(dir);
        fs.writeFileSync(path.join(dir, "unhealthy"), "");
        const refused = runRollout(dir, policy);
        assert.equal(refused.status, 9);
        assert.match(
          refused.stderr,
          /not healthy: kube-apiserver not Ready on: other-cp; the audit policy of cp-1 was not changed/,
        );
        assert.equal(fs.readFileSync(policyFile, "utf8"), "old policy\n");
        assert.equal(restarts(dir), before);
        fs.rmSync(path.join(dir, "unhealthy"));

        fs.writeFileSync(path.join(dir, "restart-hangs"), "");
        // Bounded: an unbounded restart would wait for the fake's 30 s sleep, then bring up the new policy (exit 0).
        const hung = runRollout(dir, policy, 1);
        assert.equal(hung.status, 10, hung.stderr);
        assert.match(hung.stderr, /systemctl restart rke2-server.service failed or took longer than 1 s/);
      }),
  );
});

import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as YAML from "yaml";
import { NO_OP_UPDATE } from "../components/host/nodeCommand";
import { TYPES, input, isSecret, rawConfig, runProgram, seedStackValues, seedWith } from "./harness";

const hostPrepCommands = (plan: Awaited<ReturnType<typeof runProgram>>) =>
  plan.ofType(TYPES.command).filter((c) => c.name.endsWith("-host-prep"));

describe("HostPreparation under the engine", () => {
  it("creates exactly one command per node, inside its own component", async () => {
    const plan = await runProgram(rawConfig(seedStackValues()));
    const commands = hostPrepCommands(plan);
    assert.deepEqual(commands.map((c) => c.name).sort(), [
      "agent-1-host-prep",
      "agent-2-host-prep",
      "server-1-host-prep",
      "server-2-host-prep",
      "server-3-host-prep",
    ]);
    for (const command of commands) {
      assert.equal(
        command.parent,
        plan.component(command.name).urn,
        "the command's parent is its HostPreparation",
      );
      assert.equal(plan.component(command.name).type, TYPES.hostPreparation);
    }
  });

  it("creates the etcd user only on etcd and control-plane nodes, unless asked for every node", async () => {
    const plan = await runProgram(rawConfig(seedStackValues()));
    const flag = (p: typeof plan, name: string) =>
      /create_etcd_user='\\''(1?)'\\''/.exec(String(input(p.named(name), "create")))?.[1];
    assert.equal(flag(plan, "server-1-host-prep"), "1");
    assert.equal(flag(plan, "agent-1-host-prep"), "");
    const all = await runProgram(seedWith((v) => (v.hardening = { etcdUserOnAllNodes: true })));
    assert.equal(flag(all, "agent-1-host-prep"), "1");
  });

  it("gives the audit policy to servers only, at the configured level", async () => {
    const plan = await runProgram(seedWith((v) => (v.hardening = { auditPolicyLevel: "RequestResponse" })));
    const policy = YAML.parse(String(input(plan.named("server-2-host-prep"), "stdin"))) as {
      kind: string;
      rules: { level: string }[];
    };
    assert.equal(policy.kind, "Policy");
    assert.equal(policy.rules.at(-1)!.level, "RequestResponse");
    assert.equal(input(plan.named("agent-2-host-prep"), "stdin"), undefined);
  });

  it("keeps the connection and the key secret", async () => {
    const plan = await runProgram(rawConfig(seedStackValues()));
    for (const command of hostPrepCommands(plan)) {
      assert.ok(isSecret(command.inputs.connection), `${command.name}: connection must be a secret`);
      assert.match(
        String((input(command, "connection") as { privateKey: string }).privateKey),
        /BEGIN OPENSSH PRIVATE KEY/,
      );
    }
  });

  it("routes through the bastion when one is configured", async () => {
    const plan = await runProgram(
      seedWith((v) => (v.nodes[0].bastion = { host: "jump.example.com", user: "jump", port: 2200 })),
    );
    const connection = input(plan.named("server-1-host-prep"), "connection") as {
      proxy: Record<string, unknown>;
    };
    assert.equal(connection.proxy.host, "jump.example.com");
    assert.equal(connection.proxy.port, 2200);
    assert.match(String(connection.proxy.privateKey), /PRIVATE KEY/);
  });

  it("has triggers that are stable across evaluations and change when the script changes", async () => {
    const first = await runProgram(rawConfig(seedStackValues()));
    const second = await runProgram(rawConfig(seedStackValues()));
    for (const command of hostPrepCommands(first)) {
      assert.deepEqual(command.inputs.triggers, second.named(command.name).inputs.triggers);
      assert.deepEqual(command.inputs.create, second.named(command.name).inputs.create);
    }
    const changed = await runProgram(seedWith((v) => (v.hardening = { allowExistingInstall: true })));
    assert.notDeepEqual(
      changed.named("server-1-host-prep").inputs.triggers,
      first.named("server-1-host-prep").inputs.triggers,
    );
  });

  it("runs create again only when what it does changes: triggers replace it, everything else is a no-op update", async () => {
    const plan = await runProgram(rawConfig(seedStackValues()));
    for (const command of hostPrepCommands(plan)) {
      assert.equal(input(command, "update"), NO_OP_UPDATE);
      assert.deepEqual(command.options.replaceOnChanges, ["triggers[*]"], "set by the SDK for every Command");
      assert.deepEqual(
        command.options.ignoreChanges,
        [],
        "no ignoreChanges: the stored connection stays current",
      );
      const triggers = input(command, "triggers") as string[];
      assert.equal(triggers.length, 1);
      assert.match(triggers[0], /^[0-9a-f]{64}$/);
    }
  });

  it("does not re-run host preparation when only the audit policy changes, and carries the current policy", async () => {
    const metadata = await runProgram(rawConfig(seedStackValues()));
    const request = await runProgram(seedWith((v) => (v.hardening = { auditPolicyLevel: "Request" })));
    const before = metadata.named("server-1-host-prep");
    const after = request.named("server-1-host-prep");
    assert.deepEqual(after.inputs.create, before.inputs.create);
    assert.deepEqual(after.inputs.triggers, before.inputs.triggers);
    assert.match(String(input(after, "stdin")), /level: Request/, "stdin is never stale: no ignoreChanges");
    // The policy change reaches the API servers through the roll-out instead.
    assert.notDeepEqual(
      request.named("seed-audit-policy-server-1").inputs.triggers,
      metadata.named("seed-audit-policy-server-1").inputs.triggers,
    );
  });
});

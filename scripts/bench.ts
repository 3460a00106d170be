import { execFileSync } from "node:child_process";
import { validateStackConfig } from "../config/validate";
import { defineStack } from "../components/program";
import { evaluate } from "./offline/engine";
import { PRIVATE_KEY_PLACEHOLDER } from "./offline/stackFile";

/**
 * How the cost of planning grows with the stack: generated stacks of 3, 30 and 300 nodes (and as many operator
 * namespaces) evaluated under the offline engine, each size in its own process so that peak memory is its own.
 * Targets are printed beside the figures; nothing here asserts on time (timing belongs to no unit test).
 */
const SIZES = [3, 30, 300];
const TARGET_SECONDS = 5;
const TARGET_MB = 400;

function generatedStack(nodes: number) {
  const servers = nodes > 3 ? 3 : 1;
  return {
    values: {
      rancher: { apiUrl: "https://rancher.example.com" },
      rancherToken: "token-bench:secret",
      sshPrivateKey: PRIVATE_KEY_PLACEHOLDER,
      cluster: { name: "bench", kubernetesVersion: "v1.23.16+rke2r1" },
      nodes: Array.from({ length: nodes }, (_, i) => ({
        name: `node-${i + 1}`,
        address: `10.${Math.floor(i / 250)}.${i % 250}.10`,
        roles: i < servers ? ["etcd", "controlplane"] : ["worker"],
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm9Xk2yP4kPq0bq0yJp8cGZr2m9Jk3cTtQeXh6c0m1a",
      })),
      hardening: {
        namespaces: Array.from({ length: nodes }, (_, i) => ({
          name: `team-${i + 1}`,
          create: true,
          allowFrom: [{ namespace: "ingress-nginx" }],
        })),
      },
    },
    secretKeys: new Set(["rancherToken", "sshPrivateKey"]),
  };
}

async function measure(nodes: number): Promise<void> {
  const started = process.hrtime.bigint();
  const { model, problems } = validateStackConfig(generatedStack(nodes));
  if (!model) throw new Error(problems.map((p) => p.message).join("\n"));
  const evaluation = await evaluate(() => ({ ...defineStack("bench", model) }), { stack: "bench" });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peakMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ nodes, seconds, peakMb, resources: evaluation.resources.length }));
}

function main(): void {
  const single = process.argv.indexOf("--size");
  if (single >= 0) {
    void measure(Number(process.argv[single + 1]));
    return;
  }
  const rows = SIZES.map((nodes) => {
    const out = execFileSync(process.execPath, [__filename, "--size", String(nodes)], { encoding: "utf8" });
    return JSON.parse(out) as { nodes: number; seconds: number; peakMb: number; resources: number };
  });
  const base = rows[0];
  const lines = [
    `Offline plan cost by stack size (nodes = operator namespaces), one process per size, node ${process.version}`,
    "",
    "| nodes | resources | wall time (s) | peak memory (MB) | ms per resource | targets |",
    "|---:|---:|---:|---:|---:|---|",
    ...rows.map((r) => {
      const target =
        r.nodes === 300
          ? `< ${TARGET_SECONDS} s: ${r.seconds < TARGET_SECONDS ? "met" : "MISSED"}; < ${TARGET_MB} MB: ${r.peakMb < TARGET_MB ? "met" : "MISSED"}`
          : "";
      return `| ${r.nodes} | ${r.resources} | ${r.seconds.toFixed(2)} | ${r.peakMb.toFixed(0)} | ${((r.seconds * 1000) / r.resources).toFixed(2)} | ${target} |`;
    }),
    "",
    `Growth from ${base.nodes} to ${rows.at(-1)!.nodes} nodes: resources x${(rows.at(-1)!.resources / base.resources).toFixed(1)}, ` +
      `time x${(rows.at(-1)!.seconds / base.seconds).toFixed(1)}, memory x${(rows.at(-1)!.peakMb / base.peakMb).toFixed(1)} ` +
      "(linear growth: time per resource stays flat).",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

main();

import { execFileSync, spawnSync } from "node:child_process";
import { validateStackConfig } from "../config/validate";
import { defineStack } from "../components/program";
import { evaluate } from "./offline/engine";
import { PRIVATE_KEY_PLACEHOLDER, projectDir } from "./offline/stackFile";

/**
 * What planning costs, measured on this machine and compared with the targets; every sentence it prints is
 * computed from the measurements. Nothing here fails: timings inform (no unit test asserts on time).
 * - Plan speed: a warm `npm run plan -- --stack staging` against Node loading the Pulumi SDK alone, alternated
 *   so that other work on the machine weighs on both alike; the ratio is what must stay within its target.
 * - Growth: generated stacks of 3, 30 and 300 nodes (and as many operator namespaces) evaluated under the
 *   offline engine, each size in its own process so that peak memory is its own.
 */
const SIZES = [3, 30, 300];
const TARGET_SECONDS = 5;
const TARGET_MB = 400;
const TARGET_RATIO = 3;
/** Time per resource is "flat" when the marginal cost from 30 to 300 nodes is within this factor of 3 to 30. */
const FLAT_FACTOR = 1.5;
const RUNS = 3;

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

interface Row {
  nodes: number;
  seconds: number;
  peakMb: number;
  resources: number;
}

function seconds(command: string, args: readonly string[]): number {
  const started = process.hrtime.bigint();
  const run = spawnSync(command, args, {
    cwd: projectDir(),
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
  });
  if (run.status !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${run.stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function verdict(met: boolean): string {
  return met ? "met" : "MISSED";
}

function planSpeed(): string[] {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const plan = ["run", "-s", "plan", "--", "--stack", "staging"];
  const sdk = ["-e", 'require("@pulumi/pulumi")'];
  seconds(npm, plan); // warm: the bundle is built and the file system cache holds the SDK
  const planTimes: number[] = [];
  const sdkTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    sdkTimes.push(seconds(process.execPath, sdk));
    planTimes.push(seconds(npm, plan));
  }
  const ratio = median(planTimes) / median(sdkTimes);
  return [
    `Plan speed (median of ${RUNS}, warm): npm run plan -- --stack staging ${median(planTimes).toFixed(2)} s; ` +
      `node loading the Pulumi SDK alone ${median(sdkTimes).toFixed(2)} s.`,
    `Ratio ${ratio.toFixed(2)}, target <= ${TARGET_RATIO}: ${verdict(ratio <= TARGET_RATIO)}.`,
  ];
}

function growth(): string[] {
  const rows = SIZES.map((nodes) => {
    const out = execFileSync(process.execPath, [...process.execArgv, __filename, "--size", String(nodes)], {
      encoding: "utf8",
    });
    return JSON.parse(out) as Row;
  });
  const [small, middle, large] = rows;
  const marginalMs = (a: Row, b: Row) => ((b.seconds - a.seconds) * 1000) / (b.resources - a.resources);
  const early = marginalMs(small, middle);
  const late = marginalMs(middle, large);
  const flat = late <= early * FLAT_FACTOR;
  const kbPerResource = ((large.peakMb - middle.peakMb) * 1024) / (large.resources - middle.resources);
  return [
    `Offline plan cost by stack size (nodes = operator namespaces), one process per size:`,
    "",
    "| nodes | resources | wall time (s) | peak memory (MB) | ms per resource | targets |",
    "|---:|---:|---:|---:|---:|---|",
    ...rows.map((r) => {
      const target =
        r === large
          ? `< ${TARGET_SECONDS} s: ${verdict(r.seconds < TARGET_SECONDS)}; < ${TARGET_MB} MB: ${verdict(r.peakMb < TARGET_MB)}`
          : "";
      return `| ${r.nodes} | ${r.resources} | ${r.seconds.toFixed(2)} | ${r.peakMb.toFixed(0)} | ${((r.seconds * 1000) / r.resources).toFixed(2)} | ${target} |`;
    }),
    "",
    `Each added resource cost ${early.toFixed(2)} ms from ${small.nodes} to ${middle.nodes} nodes and ${late.toFixed(2)} ms ` +
      `from ${middle.nodes} to ${large.nodes} (x${(late / early).toFixed(2)}): ` +
      (flat
        ? `time per resource stays flat (within x${FLAT_FACTOR}), growth is linear.`
        : `time per resource grows (more than x${FLAT_FACTOR}), growth is worse than linear.`),
    `Peak memory ${large.peakMb.toFixed(0)} MB at ${large.nodes} nodes (target < ${TARGET_MB} MB: ${verdict(large.peakMb < TARGET_MB)}), ` +
      `${kbPerResource.toFixed(0)} KB more per added resource from ${middle.nodes} to ${large.nodes} nodes.`,
  ];
}

function main(): void {
  const single = process.argv.indexOf("--size");
  if (single >= 0) {
    void measure(Number(process.argv[single + 1]));
    return;
  }
  process.stdout.write(`npm run bench on node ${process.version}, ${new Date().toISOString()}\n\n`);
  process.stdout.write(`${planSpeed().join("\n")}\n\n`);
  process.stdout.write(`${growth().join("\n")}\n`);
}

main();

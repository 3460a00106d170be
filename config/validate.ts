import type { StackModel } from "./model";
import { type ConfigProblem, ProblemCollector } from "./problems";
import { childPath, deepFreeze, isPlainObject, Reader } from "./reader";
import { describeCharacter, forbiddenCharacter } from "./grammar";
import { readCluster } from "./readers/cluster";
import { readHardening } from "./readers/hardening";
import { checkClusterShape, readNodes } from "./readers/nodes";
import { readLifecycle } from "./lifecycle";
import { type RawStackConfig, readRancher } from "./readers/secrets";
import { readScanConfig } from "./scan";

export { type RawStackConfig, SECRET_ENV_FALLBACKS } from "./readers/secrets";
export { SEED_DEFAULTS, DEFAULT_PSA_TEMPLATE } from "./readers/cluster";
export { AUDIT_LEVELS, DEFAULT_RECONCILER } from "./readers/hardening";
export { ROLES } from "./readers/nodes";
export { closest } from "./reader";

export interface ValidationResult {
  /** Present only when there are no errors. */
  readonly model?: StackModel;
  readonly problems: readonly ConfigProblem[];
}

export const TOP_LEVEL_KEYS = [
  "rancher",
  "rancherToken",
  "cluster",
  "nodes",
  "sshPrivateKey",
  "nodeSshPrivateKeys",
  "hardening",
  "lifecycle",
  "scan",
] as const;

/**
 * Validates a stack's raw configuration and builds the immutable model. Walks everything before giving up, so
 * that one run reports every problem; returns a model only when there are no errors (warnings allowed). A model
 * returned here renders without error: every rule the renderers rely on is checked here.
 */
export function validateStackConfig(raw: RawStackConfig): ValidationResult {
  const problems = new ProblemCollector();
  const v = new Reader(problems);

  for (const key of Object.keys(raw.values)) {
    if (!(TOP_LEVEL_KEYS as readonly string[]).includes(key)) v.unknownKey(key, TOP_LEVEL_KEYS);
    else checkCharacters(v, key, raw.values[key]);
  }

  const rancher = readRancher(v, raw);
  const cluster = readCluster(v, raw.values.cluster);
  const hardening = readHardening(v, raw.values.hardening);
  const nodes = readNodes(v, raw);
  const scan = readScanConfig(v, raw.values.scan, cluster);

  if (cluster && nodes) checkClusterShape(v, nodes);
  if (cluster && hardening && !cluster.profile && hardening.reconciler.enabled) {
    v.warn(
      "hardening.reconciler",
      "Without a CIS profile, RKE2 does not enforce Pod Security; the reconciler still runs restricted.",
    );
  }

  const lifecycle = readLifecycle(problems, raw.values.lifecycle, nodes, cluster);

  if (problems.hasErrors || !rancher || !cluster || !nodes || !hardening || !scan) {
    return { problems: problems.problems };
  }
  return {
    model: deepFreeze({ rancher, cluster, nodes, hardening, scan, lifecycle }),
    problems: problems.problems,
  };
}

/**
 * Values that may span lines: PEM material, and the free-form RKE2 and Helm settings that are written as YAML
 * (where the YAML library quotes line breaks). Everything else is one line.
 */
const MULTI_LINE = [
  /^rancherToken$/,
  /^sshPrivateKey$/,
  /^nodeSshPrivateKeys\b/,
  /^rancher\.caCerts$/,
  /^cluster\.etcd\.s3\.endpointCa$/,
  /^cluster\.localAuthEndpoint\.caCerts$/,
  /^cluster\.registries\.configs\[\d+\]\.caBundle$/,
  /^cluster\.chartValues\b/,
  /^cluster\.machineGlobalConfig\b/,
  /^cluster\.machineSelectorConfigs\[\d+\]\.config\b/,
];

/**
 * No configured string (nor map key) may hold a control character: each value ends up in a shell script, a YAML
 * document, a resource name or the Markdown plan, where a NUL, an escape or a stray line break changes what it
 * means. The message names the character and its position, never the value (which may be a secret).
 */
function checkCharacters(v: Reader, path: string, value: unknown): void {
  if (typeof value === "string") {
    const at = forbiddenCharacter(
      value,
      MULTI_LINE.some((re) => re.test(path)),
    );
    if (at !== undefined) {
      v.error(
        path,
        `This value holds the control character ${describeCharacter(value, at)} at position ${at + 1}.`,
        {
          allowed: "printable text on one line (PEM bundles and keys may span lines)",
          fix: `set the value again without it: pulumi config set --path 'hardened-rke2:${path}' VALUE`,
        },
      );
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => checkCharacters(v, `${path}[${i}]`, item));
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      const keyAt = forbiddenCharacter(key, false);
      if (keyAt !== undefined) {
        v.error(path, `A key of this map holds the control character ${describeCharacter(key, keyAt)}.`, {
          allowed: "printable keys",
          fix: `remove the key: pulumi config edit (or rm --path) on hardened-rke2:${path}`,
        });
        continue;
      }
      checkCharacters(v, childPath(path, key), item);
    }
  }
}

import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { CONFIG_NAMESPACE } from "../../config/problems";
import type { RawStackConfig } from "../../config/validate";

/** What stands in for a secret that cannot be decrypted without the Pulumi CLI and the stack's passphrase. */
export const SECRET_PLACEHOLDER = "[secret placeholder]";
export const PRIVATE_KEY_PLACEHOLDER = `-----BEGIN OPENSSH PRIVATE KEY-----\n${SECRET_PLACEHOLDER}\n-----END OPENSSH PRIVATE KEY-----\n`;

/** Secrets the program requires; a plan of a stack file that lacks them uses placeholders and says so. */
const REQUIRED_SECRETS: Readonly<Record<string, string>> = {
  rancherToken: SECRET_PLACEHOLDER,
  sshPrivateKey: PRIVATE_KEY_PLACEHOLDER,
};

export interface StackFile {
  readonly stack: string;
  readonly path: string;
  readonly raw: RawStackConfig;
  /** Secrets the file does not set, replaced by placeholders for the plan. */
  readonly placeholders: readonly string[];
}

/** The program's root (where `package.json` sits), whether this runs compiled from bin/ or as TypeScript source. */
export function projectDir(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export function stackFilePath(projectDir: string, stack: string): string {
  return path.join(projectDir, "stacks", `Pulumi.${stack}.yaml`);
}

/**
 * Reads a stack settings file the way the Pulumi CLI hands it to the program: `secure:` values become secrets
 * (whole top-level key, as Pulumi does for a secret inside an object), with placeholders for their encrypted text.
 */
export function readStackFile(file: string, stack?: string): StackFile {
  const text = fs.readFileSync(file, "utf8");
  const document = (YAML.parse(text) ?? {}) as { config?: Record<string, unknown> };
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const [fullKey, value] of Object.entries(document.config ?? {})) {
    const key = fullKey.startsWith(`${CONFIG_NAMESPACE}:`)
      ? fullKey.slice(CONFIG_NAMESPACE.length + 1)
      : fullKey;
    const { plain, secret } = decryptPlaceholders(key, value);
    values[key] = plain;
    if (secret) secretKeys.add(key);
  }
  const placeholders: string[] = [];
  for (const [key, placeholder] of Object.entries(REQUIRED_SECRETS)) {
    if (values[key] === undefined) {
      values[key] = placeholder;
      secretKeys.add(key);
      placeholders.push(key);
    }
  }
  const name = stack ?? /Pulumi\.(.+)\.ya?ml$/.exec(path.basename(file))?.[1] ?? path.basename(file);
  return { stack: name, path: file, raw: { values, secretKeys }, placeholders };
}

function decryptPlaceholders(key: string, value: unknown): { plain: unknown; secret: boolean } {
  let secret = false;
  const walk = (node: unknown, leaf: string): unknown => {
    if (Array.isArray(node)) return node.map((item) => walk(item, leaf));
    if (typeof node === "object" && node !== null) {
      const obj = node as Record<string, unknown>;
      if (Object.keys(obj).length === 1 && typeof obj.secure === "string") {
        secret = true;
        return /key/i.test(leaf) ? PRIVATE_KEY_PLACEHOLDER : SECRET_PLACEHOLDER;
      }
      return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, walk(v, k)]));
    }
    // Pulumi hands scalar top-level values to programs as strings.
    return node;
  };
  const plain = walk(value, key);
  return { plain: typeof plain === "number" || typeof plain === "boolean" ? String(plain) : plain, secret };
}

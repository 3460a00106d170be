import * as fs from "node:fs";
import * as path from "node:path";
import { utils } from "ssh2";
import * as YAML from "yaml";
import { CONFIG_NAMESPACE } from "../../config/problems";
import type { RawStackConfig } from "../../config/validate";

/**
 * What stands in for a secret that cannot be decrypted without the Pulumi CLI and the stack's passphrase. Each
 * placeholder is a value of the right kind for where it sits, so that the gate judges the rest of the stack.
 */
export const SECRET_PLACEHOLDER = "secret-placeholder";
export const TOKEN_PLACEHOLDER = "token-placeholder:offline-plan-placeholder";

/**
 * A throwaway ed25519 key pair that the gate's key parser accepts. ssh2 1.17 writes a few keys in a thousand
 * that its own parser then calls "Malformed OpenSSH private key" (measured: 12 of 5000), so a pair is made
 * again until the parser reads it back: a placeholder must never make a valid stack fail at random.
 */
export function generateParsableKeyPair(comment: string): { private: string; public: string } {
  for (;;) {
    const pair = utils.generateKeyPairSync("ed25519", { comment });
    const parsed = utils.parseKey(pair.private);
    if (!(parsed instanceof Error) && !Array.isArray(parsed)) return pair;
  }
}

/**
 * A throwaway ed25519 key pair made when this module loads: a real key, so that it passes key parsing, and
 * useless, because its private half exists only in this process and its public half is in no authorized_keys.
 */
const placeholderPair = generateParsableKeyPair("hardened-rke2 offline placeholder");
export const PRIVATE_KEY_PLACEHOLDER = placeholderPair.private;
/** Its public half, as a host key placeholder (`TYPE BASE64`). */
export const HOST_KEY_PLACEHOLDER = placeholderPair.public.split(" ").slice(0, 2).join(" ");

/**
 * A self-signed certificate (CN "hardened-rke2 offline plan placeholder CA") that stands in for an encrypted CA
 * bundle. A certificate is public; its private key was discarded when it was made.
 */
export const CA_BUNDLE_PLACEHOLDER = `-----BEGIN CERTIFICATE-----
MIIBwDCCAWWgAwIBAgIUaB7Jvi0dHtZTu30lmal01dfaR54wCgYIKoZIzj0EAwIw
NDEyMDAGA1UEAwwpaGFyZGVuZWQtcmtlMiBvZmZsaW5lIHBsYW4gcGxhY2Vob2xk
ZXIgQ0EwIBcNMjYxMTI3MDkyMjU0WhgPMjEyNjExMDMwOTIyNTRaMDQxMjAwBgNV
BAMMKWhhcmRlbmVkLXJrZTIgb2ZmbGluZSBwbGFuIHBsYWNlaG9sZGVyIENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwBW7mwBkV3P16M0Gp7kAnH/qykAxkgy4
X+ojYP3QJ+l0bW/3hxB6CDn8kjNDqUDCPMyRe1kbXV4RU1DCyi36rKNTMFEwHQYD
VR0OBBYEFHJ/CEaVc8RhkgAD3NjzXI8xkIiDMB8GA1UdIwQYMBaAFHJ/CEaVc8Rh
kgAD3NjzXI8xkIiDMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIh
AKDaaBdWegZgxosAe2QIGGrzyMMk3NAhkfd3eAl6bOEDAiEAmafUphPceLIde8E0
3oEVWHdGSt5jou1vwzGwPHUZBVk=
-----END CERTIFICATE-----
`;

/** Secrets the program requires; a plan of a stack file that lacks them uses placeholders and says so. */
const REQUIRED_SECRETS: Readonly<Record<string, string>> = {
  rancherToken: TOKEN_PLACEHOLDER,
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
 * Reads a stack settings file the way the Pulumi CLI hands it to the program: only this project's keys
 * (`hardened-rke2:*`; keys of other namespaces such as `aws:region` or `pulumi:tags` belong to other packages and
 * are not the program's to judge); `secure:` values become secrets (the whole top-level key, as Pulumi does for a
 * secret inside an object), with a placeholder of the right kind for their encrypted text.
 */
export function readStackFile(file: string, stack?: string): StackFile {
  return parseStackFile(fs.readFileSync(file, "utf8"), file, stack);
}

/** {@link readStackFile} on text already read. */
export function parseStackFile(text: string, file: string, stack?: string): StackFile {
  const document = (YAML.parse(text) ?? {}) as { config?: Record<string, unknown> };
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const [fullKey, value] of Object.entries(document.config ?? {})) {
    const colon = fullKey.indexOf(":");
    // A key without a namespace is the project's own (Pulumi reads `name` as `hardened-rke2:name`).
    if (colon >= 0 && fullKey.slice(0, colon) !== CONFIG_NAMESPACE) continue;
    const key = colon >= 0 ? fullKey.slice(colon + 1) : fullKey;
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

/** The placeholder for a secret at `keyPath` (`nodeSshPrivateKeys.server-1`, `rancher.caCerts`, ...). */
export function placeholderFor(keyPath: string): string {
  if (keyPath === "rancherToken") return TOKEN_PLACEHOLDER;
  if (/^nodeSshPrivateKeys\./.test(keyPath) || /privateKey$/i.test(keyPath)) return PRIVATE_KEY_PLACEHOLDER;
  if (/(caCerts|endpointCa|caBundle)$/.test(keyPath)) return CA_BUNDLE_PLACEHOLDER;
  if (/hostKey$/.test(keyPath)) return HOST_KEY_PLACEHOLDER;
  return SECRET_PLACEHOLDER;
}

function decryptPlaceholders(key: string, value: unknown): { plain: unknown; secret: boolean } {
  let secret = false;
  const walk = (node: unknown, at: string): unknown => {
    if (Array.isArray(node)) return node.map((item, i) => walk(item, `${at}[${i}]`));
    if (typeof node === "object" && node !== null) {
      const obj = node as Record<string, unknown>;
      if (Object.keys(obj).length === 1 && typeof obj.secure === "string") {
        secret = true;
        return placeholderFor(at);
      }
      return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, walk(v, `${at}.${k}`)]));
    }
    return node;
  };
  const plain = walk(value, key);
  // Pulumi hands scalar top-level values to programs as strings.
  return { plain: typeof plain === "number" || typeof plain === "boolean" ? String(plain) : plain, secret };
}

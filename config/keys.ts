/**
 * Key and certificate material from the stack, decoded by the libraries that will use it, never by pattern:
 * SSH keys with `ssh2`'s parser (the format the command provider's SSH client reads), CA bundles with
 * `node:crypto`'s X509Certificate. Every function returns what is wrong as a sentence that never quotes the
 * material, because a private key pasted in the wrong place must not end up in a log or the plan.
 */
import * as crypto from "node:crypto";
import { utils } from "ssh2";

/** Host key algorithms an OpenSSH server offers and the command provider's SSH client verifies. */
export const HOST_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
] as const;

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Whether a text holds private key material of any common form (PEM, OpenSSH, PuTTY). */
export function holdsPrivateKey(text: string): boolean {
  return /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PuTTY-User-Key-File-\d+:/.test(text);
}

/**
 * A host public key as `ssh-keyscan` prints it after the host name: `TYPE BASE64 [comment]`, on one line.
 * Returns the key normalised to `TYPE BASE64`, or why it is not one.
 */
export function parseHostKey(text: string): { key: string } | { error: string } {
  if (holdsPrivateKey(text)) return { error: "This is a private key, not the host's public key." };
  if (/[\r\n]/.test(text.trim())) return { error: "A host key is one line; this value holds a line break." };
  const fields = text.trim().split(/\s+/);
  const [type, base64] = fields;
  if (!(HOST_KEY_TYPES as readonly string[]).includes(type ?? "") || base64 === undefined) {
    return { error: "This is not an SSH public host key (TYPE BASE64 as ssh-keyscan prints it)." };
  }
  const key = `${type} ${base64}`;
  const parsed = utils.parseKey(key);
  if (parsed instanceof Error || Array.isArray(parsed)) {
    return { error: `The ${type} key does not decode: ${(parsed as Error).message ?? "malformed"}.` };
  }
  if (parsed.isPrivateKey() || parsed.type !== type) {
    return { error: `The key's data is not a ${type} public key.` };
  }
  return { key };
}

/**
 * An unencrypted SSH private key the command provider can use: OpenSSH, PEM (PKCS#1 RSA, SEC1 EC, PKCS#8) or
 * PuTTY. Returns why not, without quoting it.
 */
export function privateKeyProblem(text: string): string | undefined {
  const parsed = utils.parseKey(text);
  if (!(parsed instanceof Error) && !Array.isArray(parsed)) {
    return parsed.isPrivateKey() ? undefined : "This is a public key; the private key is needed.";
  }
  const reason = parsed instanceof Error ? parsed.message : "";
  if (/encrypted|passphrase/i.test(reason)) {
    return "This private key is protected by a passphrase, which the program cannot supply; store an unencrypted key as a secret.";
  }
  if (/-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/.test(text)) {
    // PKCS#8, which ssh2 does not read but Go's SSH client (the command provider) does.
    try {
      const key = crypto.createPrivateKey(text);
      if (["rsa", "ec", "ed25519"].includes(key.asymmetricKeyType ?? "")) return undefined;
      return `A ${key.asymmetricKeyType ?? "unknown"} key cannot sign SSH sessions; use ed25519, ECDSA or RSA.`;
    } catch {
      return "This PKCS#8 private key does not decode (or is encrypted).";
    }
  }
  return "This is not an SSH private key (the contents of a file such as ~/.ssh/id_ed25519).";
}

/**
 * A CA bundle: one or more PEM certificates and nothing else that is PEM. A private key in it is an error (it
 * would be sent to Rancher and shown in the plan). Returns the number of certificates, or why not.
 */
export function checkCertificateBundle(text: string): { certificates: number } | { error: string } {
  if (holdsPrivateKey(text)) {
    return { error: "This CA bundle holds a private key; a CA bundle holds only certificates." };
  }
  let certificates = 0;
  for (const match of text.matchAll(PEM_BLOCK)) {
    if (match[1] !== "CERTIFICATE") {
      return { error: `This CA bundle holds a ${match[1]} block; a CA bundle holds only certificates.` };
    }
    try {
      new crypto.X509Certificate(match[0]);
    } catch {
      return { error: `Certificate ${certificates + 1} of this CA bundle does not decode.` };
    }
    certificates++;
  }
  const outside = text.replace(PEM_BLOCK, "");
  if (/-----(BEGIN|END) /.test(outside)) return { error: "This CA bundle has an unterminated PEM block." };
  if (certificates === 0) {
    return { error: "This is not a CA bundle: it holds no PEM certificate (-----BEGIN CERTIFICATE-----)." };
  }
  return { certificates };
}

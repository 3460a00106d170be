import * as pulumi from "@pulumi/pulumi";
import type { RancherConnection } from "../model";
import { describeValue, setCommand } from "../problems";
import type { Reader } from "../reader";
import { isHostPort } from "../grammar";

/** The stack's configuration as Pulumi hands it over: values by key (without namespace), and which are secret. */
export interface RawStackConfig {
  readonly values: Readonly<Record<string, unknown>>;
  readonly secretKeys: ReadonlySet<string>;
  /**
   * Environment fallbacks for the two required secrets, for automation that keeps them out of stack files:
   * `RANCHER_TOKEN` for `rancherToken`, `SSH_PRIVATE_KEY` for `sshPrivateKey`.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Environment variables that stand in for a secret the stack does not set. */
export const SECRET_ENV_FALLBACKS: Readonly<Record<string, string>> = {
  rancherToken: "RANCHER_TOKEN",
  sshPrivateKey: "SSH_PRIVATE_KEY",
};

/** Keys whose values are secrets: never echoed in a message, whatever is wrong with them. */
export const SECRET_KEYS = ["rancherToken", "sshPrivateKey", "nodeSshPrivateKeys"] as const;

/** A secret from the stack, or from its environment variable when the stack leaves it empty. */
export function secretSource(raw: RawStackConfig, key: string): { value: unknown; secret: boolean } {
  const value = raw.values[key];
  if (value !== undefined && value !== "") return { value, secret: raw.secretKeys.has(key) };
  const fromEnv = raw.env?.[SECRET_ENV_FALLBACKS[key] ?? ""];
  return { value: fromEnv === "" ? undefined : fromEnv, secret: true };
}

export function readRancher(v: Reader, raw: RawStackConfig): RancherConnection | undefined {
  const obj = v.object("rancher", raw.values.rancher, ["apiUrl", "caCerts", "insecure"], true);
  const token = readToken(v, raw);
  if (!obj) return undefined;
  const apiUrl = readApiUrl(v, obj.apiUrl);
  const caCerts = v.caBundle("rancher.caCerts", obj.caCerts);
  const insecure = v.boolean("rancher.insecure", obj.insecure) ?? false;
  if (insecure && obj.caCerts !== undefined) {
    v.error("rancher.insecure", "Set either a CA bundle (caCerts) or insecure, not both.", {
      value: "true",
      fix: `pulumi config set --path 'hardened-rke2:rancher.insecure' false`,
    });
  }
  if (apiUrl === undefined || token === undefined) return undefined;
  return { apiUrl, token, caCerts, insecure };
}

/** Rancher's API URL: https, a host, an optional port and path; no credentials, query or fragment. */
function readApiUrl(v: Reader, value: unknown): string | undefined {
  const example = "https://rancher.example.com";
  const text = v.string("rancher.apiUrl", value, { required: true, example });
  if (text === undefined) return undefined;
  // The host as written (the URL parser would quietly normalise forms such as 0x0a.0.0.1).
  const host = /^https:\/\/([^/?#]*)/.exec(text)?.[1] ?? "";
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || !isHostPort(host) || url.search !== "" || url.hash !== "" || /\s/.test(text)) {
    v.error("rancher.apiUrl", "Rancher's API URL must be an https URL of a host.", {
      value: describeValue(text),
      allowed: "https://HOST[:PORT]",
      fix: setCommand("rancher.apiUrl", example),
    });
    return undefined;
  }
  return text.replace(/\/+$/, "");
}

function readToken(v: Reader, raw: RawStackConfig): pulumi.Output<string> | undefined {
  const key = "rancherToken";
  const { value, secret } = secretSource(raw, key);
  if (value === undefined) {
    v.error(key, `This secret is required (or the environment variable ${SECRET_ENV_FALLBACKS[key]}).`, {
      fix: `${setCommand(key, "token-abcde:0123456789", true)} (or pipe it in: cat FILE | pulumi config set --secret ${key})`,
    });
    return undefined;
  }
  if (typeof value !== "string") {
    v.error(key, "This secret must be a string.", { allowed: "a string set with --secret" });
    return undefined;
  }
  if (!secret) {
    // Never echo the value: it is the secret.
    v.error(key, "This value is stored in plain text; it must be a secret.", {
      fix: `pulumi config rm ${key}; then set it again with: cat FILE | pulumi config set --secret ${key}`,
    });
    return undefined;
  }
  if (/\s/.test(value.trim()) || value.trim() === "") {
    v.error(
      key,
      "A Rancher API token is one word (token-xxxxx:secret); this one holds spaces or line breaks.",
      {
        allowed: "ACCESS_KEY:SECRET_KEY as Rancher shows it when the API key is created",
        fix: `${setCommand(key, "token-abcde:0123456789", true)}`,
      },
    );
    return undefined;
  }
  return pulumi.secret(value.trim());
}

import * as pulumi from "@pulumi/pulumi";
import { describeValue, ProblemCollector, setCommand } from "./problems";
import {
  CRON_RULE,
  DNS_LABEL_RULE,
  LABEL_KEY_RULE,
  LABEL_VALUE_RULE,
  isCronSchedule,
  isDnsLabel,
  isHostAddress,
  isLabelKey,
  isLabelValue,
  looksLikeIpv4,
} from "./grammar";
import { checkCertificateBundle, parseHostKey } from "./keys";

export type Json = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The known name nearest to a typo, if it is near enough to be a likely intent. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 40) return Math.abs(a.length - b.length);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

export function deepFreeze<T>(value: T): T {
  if (
    typeof value === "object" &&
    value !== null &&
    !pulumi.Output.isInstance(value) &&
    !Object.isFrozen(value)
  ) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** `path.key`, or `path["key"]` when the key is not a plain word (label keys with '/' or '.'). */
export function childPath(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** A namespace name that is not a DNS-1123 label, with a valid one as the fix. */
export function namespaceError(v: Reader, path: string, name: string, example = "payments"): void {
  v.error(path, "A namespace name must be a DNS-1123 label.", {
    value: describeValue(name),
    allowed: "at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit",
    fix: setCommand(path, example),
  });
}

/** Typed reads of raw values that report a problem (and return undefined) instead of throwing. */
export class Reader {
  constructor(private readonly problems: ProblemCollector) {}

  error: ProblemCollector["error"] = (...args) => this.problems.error(...args);
  warn: ProblemCollector["warn"] = (...args) => this.problems.warn(...args);

  reported(path: string): boolean {
    return this.problems.problems.some((p) => p.key === `hardened-rke2:${path}`);
  }

  missing(path: string, example: string): void {
    this.error(path, "This key is required.", { fix: setCommand(path, example) });
  }

  unknownKey(path: string, known: readonly string[]): void {
    const name =
      path
        .split(/[.[\]]/)
        .filter(Boolean)
        .pop() ?? path;
    const suggestion = closest(name, known);
    this.error(path, `Unknown key${suggestion ? `; did you mean "${suggestion}"?` : "."}`, {
      allowed: known.join(", "),
      fix: `pulumi config rm --path 'hardened-rke2:${path}'${suggestion ? ` and set '${path.slice(0, path.length - name.length)}${suggestion}' instead` : ""}`,
    });
  }

  object(path: string, value: unknown, known: readonly string[], required = false): Json | undefined {
    if (value === undefined) {
      if (required)
        this.error(path, "This key is required.", {
          fix: `pulumi config set --path 'hardened-rke2:${path}.KEY' VALUE`,
        });
      return undefined;
    }
    if (!isPlainObject(value)) {
      this.error(path, "This must be an object (a YAML map).", { value: describeValue(value) });
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) this.unknownKey(`${path}.${key}`, known);
    }
    return value;
  }

  plainObject(path: string, value: unknown): Json | undefined {
    if (value === undefined) return undefined;
    if (!isPlainObject(value)) {
      this.error(path, "This must be an object (a YAML map).", { value: describeValue(value) });
      return undefined;
    }
    return value;
  }

  array(path: string, value: unknown, required = false): unknown[] | undefined {
    if (value === undefined) {
      if (required)
        this.error(path, "This key is required.", {
          fix: `pulumi config set --path 'hardened-rke2:${path}[0]' VALUE`,
        });
      return undefined;
    }
    if (!Array.isArray(value)) {
      this.error(path, "This must be a list.", { value: describeValue(value) });
      return undefined;
    }
    return value as unknown[];
  }

  string(
    path: string,
    value: unknown,
    opts: { required?: boolean; example?: string; allowEmpty?: boolean; secret?: boolean },
  ): string | undefined {
    if (value === undefined || value === null) {
      if (opts.required) this.missing(path, opts.example ?? "VALUE");
      return undefined;
    }
    if (typeof value !== "string") {
      this.error(path, "This must be a string.", {
        ...(opts.secret ? {} : { value: describeValue(value) }),
        fix: setCommand(path, opts.example ?? "VALUE"),
      });
      return undefined;
    }
    if (value.trim() === "" && !opts.allowEmpty) {
      this.error(path, "This must not be empty.", {
        value: '""',
        fix: setCommand(path, opts.example ?? "VALUE"),
      });
      return undefined;
    }
    return value;
  }

  stringArray(path: string, value: unknown, required = false): string[] | undefined {
    const items = this.array(path, value, required);
    if (!items) return undefined;
    const bad = items.findIndex((item) => typeof item !== "string");
    if (bad >= 0) {
      this.error(`${path}[${bad}]`, "This must be a string.", { value: describeValue(items[bad]) });
      return undefined;
    }
    return items as string[];
  }

  stringMap(path: string, value: unknown): Record<string, string> | undefined {
    const obj = this.plainObject(path, value);
    if (!obj) return undefined;
    for (const [key, item] of Object.entries(obj)) {
      if (typeof item !== "string") {
        this.error(childPath(path, key), "Map values must be strings (quote numbers and booleans).", {
          value: describeValue(item),
          fix: setCommand(
            childPath(path, key),
            typeof item === "number" || typeof item === "boolean" ? `"${String(item)}"` : "VALUE",
          ),
        });
        return undefined;
      }
    }
    return obj as Record<string, string>;
  }

  /** Kubernetes labels: keys and values in the API's grammar (the API server refuses anything else). */
  labels(
    path: string,
    value: unknown,
    options: { keysOnly?: boolean } = {},
  ): Record<string, string> | undefined {
    const map = this.stringMap(path, value);
    if (!map) return undefined;
    let ok = true;
    for (const [key, item] of Object.entries(map)) {
      if (!isLabelKey(key)) {
        ok = false;
        this.error(childPath(path, key), "Kubernetes refuses this label key.", {
          value: describeValue(key),
          allowed: LABEL_KEY_RULE,
          fix: `pulumi config rm --path 'hardened-rke2:${childPath(path, key)}' and set a key such as example.com/team`,
        });
      } else if (!options.keysOnly && !isLabelValue(item)) {
        ok = false;
        this.error(childPath(path, key), "Kubernetes refuses this label value.", {
          value: describeValue(item),
          allowed: LABEL_VALUE_RULE,
          fix: setCommand(
            childPath(path, key),
            item
              .replace(/[^-A-Za-z0-9_.]/g, "-")
              .replace(/^[-_.]+|[-_.]+$/g, "")
              .slice(0, 63) || "value",
          ),
        });
      }
    }
    return ok ? map : undefined;
  }

  boolean(path: string, value: unknown): boolean | undefined {
    if (value === undefined) return undefined;
    // Pulumi stores `pulumi config set k true` as the string "true".
    if (value === "true" || value === "false") return value === "true";
    if (typeof value !== "boolean") {
      this.error(path, "This must be true or false.", {
        value: describeValue(value),
        allowed: "true, false",
        fix: setCommand(path, "true"),
      });
      return undefined;
    }
    return value;
  }

  /** A whole number in range; the fix suggests the default when there is one, else the nearest bound. */
  integer(
    path: string,
    value: unknown,
    range: { min?: number; max?: number; default?: number },
  ): number | undefined {
    if (value === undefined) return undefined;
    const n = typeof value === "string" && /^-?\d{1,16}$/.test(value) ? Number(value) : value;
    const min = range.min ?? -Infinity;
    const max = range.max ?? 2147483647;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min || n > max) {
      const allowed = Number.isFinite(min)
        ? `a whole number from ${min} to ${max}`
        : `a whole number up to ${max}`;
      const suggestion =
        range.default ??
        (typeof n === "number" && Number.isFinite(n) ? Math.max(min, Math.min(max, Math.round(n))) : min);
      this.error(
        path,
        typeof n === "number" ? "This number is out of range." : "This is not a whole number.",
        {
          value: describeValue(value),
          allowed,
          fix: setCommand(path, String(suggestion)),
        },
      );
      return undefined;
    }
    return n;
  }

  oneOf(path: string, value: unknown, allowed: readonly string[], required = false): string | undefined {
    if (value === undefined) {
      if (required)
        this.error(path, "This key is required.", {
          allowed: allowed.join(", "),
          fix: setCommand(path, allowed[0] ?? ""),
        });
      return undefined;
    }
    if (typeof value !== "string" || !allowed.includes(value)) {
      const suggestion = typeof value === "string" ? closest(value, allowed) : undefined;
      this.error(path, `${describeValue(value)} is not one of the allowed values.`, {
        value: describeValue(value),
        allowed: allowed.join(", "),
        fix: setCommand(path, suggestion ?? allowed[0] ?? ""),
      });
      return undefined;
    }
    return value;
  }

  cron(path: string, value: unknown, example: string): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "string" || !isCronSchedule(value)) {
      this.error(path, "This is not a cron expression with five fields.", {
        value: describeValue(value),
        allowed: CRON_RULE,
        fix: setCommand(path, example),
      });
      return undefined;
    }
    return value.trim();
  }

  /** A name that is a DNS-1123 label (namespaces, nodes, the cluster). */
  dnsLabel(
    path: string,
    value: unknown,
    example: string,
    opts: { required?: boolean } = {},
  ): string | undefined {
    const text = this.string(path, value, { ...opts, example });
    if (text === undefined) return undefined;
    if (!isDnsLabel(text)) {
      this.error(path, "This must be a DNS-1123 label.", {
        value: describeValue(text),
        allowed: DNS_LABEL_RULE,
        fix: setCommand(path, example),
      });
      return undefined;
    }
    return text;
  }

  /** An address a TCP connection dials: an IP address (each IPv4 octet at most 255) or a DNS host name. */
  hostAddress(path: string, value: unknown, example: string, required = false): string | undefined {
    const text = this.string(path, value, { required, example });
    if (text === undefined) return undefined;
    if (!isHostAddress(text)) {
      this.error(
        path,
        looksLikeIpv4(text)
          ? "This is not an IPv4 address: four numbers from 0 to 255 without leading zeros."
          : "This is neither an IP address nor a DNS host name.",
        {
          value: describeValue(text),
          allowed:
            "an IPv4 address (10.0.0.11), an IPv6 address (fd00::11) or a host name (node-1.example.com)",
          fix: setCommand(path, example),
        },
      );
      return undefined;
    }
    return text;
  }

  hostKey(path: string, value: unknown): string | undefined {
    const text = this.string(path, value, {});
    if (text === undefined) return undefined;
    const parsed = parseHostKey(text);
    if ("error" in parsed) {
      const privateMaterial = /private key/.test(parsed.error);
      this.error(path, parsed.error, {
        ...(privateMaterial ? {} : { value: describeValue(text) }),
        allowed: "TYPE BASE64 as printed by ssh-keyscan (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa)",
        fix: `${setCommand(path, "ssh-ed25519 AAAA...")} (from: ssh-keyscan -t ed25519 HOST)`,
      });
      return undefined;
    }
    return parsed.key;
  }

  /** PEM certificates only; the value is never echoed, since it may hold a private key pasted by mistake. */
  caBundle(path: string, value: unknown): string | undefined {
    const text = this.string(path, value, {});
    if (text === undefined) return undefined;
    const checked = checkCertificateBundle(text);
    if ("error" in checked) {
      this.error(path, checked.error, {
        allowed: "one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
        fix: `cat ca.pem | pulumi config set --path '${"hardened-rke2:" + path}'`,
      });
      return undefined;
    }
    return text;
  }
}

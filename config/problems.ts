/** Project namespace of every configuration key; messages name keys in full (`hardened-rke2:nodes[2].roles`). */
export const CONFIG_NAMESPACE = "hardened-rke2";

export type Severity = "error" | "warning";

/** One thing wrong with a stack's configuration, phrased so that a user can fix it without reading code. */
export interface ConfigProblem {
  readonly severity: Severity;
  /** Full key, e.g. `hardened-rke2:nodes[2].roles`. */
  readonly key: string;
  /** What is wrong, as a sentence. */
  readonly message: string;
  /** The offending value, rendered for humans; absent for missing keys and secrets. */
  readonly value?: string;
  /** What would be accepted. */
  readonly allowed?: string;
  /** How to fix it, usually a `pulumi config set` command. */
  readonly fix?: string;
}

/** Renders a value for a message without dumping whole objects. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function formatProblem(problem: ConfigProblem): string {
  const parts = [`${problem.severity}: ${problem.key}: ${problem.message}`];
  if (problem.value !== undefined) parts.push(`Got: ${problem.value}.`);
  if (problem.allowed !== undefined) parts.push(`Allowed: ${problem.allowed}.`);
  if (problem.fix !== undefined) parts.push(`Fix: ${problem.fix}`);
  return parts.join(" ");
}

/** Thrown when a configuration has errors; carries every problem found in the run, not just the first. */
export class ConfigValidationError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    const errors = problems.filter((p) => p.severity === "error");
    super(
      [
        `The stack configuration has ${errors.length} error${errors.length === 1 ? "" : "s"}; nothing was created.`,
        ...problems.map(formatProblem),
      ].join("\n"),
    );
    this.name = "ConfigValidationError";
  }
}

/** Collects problems while walking the raw configuration, so that one run reports all of them. */
export class ProblemCollector {
  private readonly found: ConfigProblem[] = [];

  get problems(): readonly ConfigProblem[] {
    return this.found;
  }

  get hasErrors(): boolean {
    return this.found.some((p) => p.severity === "error");
  }

  error(
    path: string,
    message: string,
    details: Omit<ConfigProblem, "severity" | "key" | "message"> = {},
  ): void {
    this.found.push({ severity: "error", key: fullKey(path), message, ...details });
  }

  warn(
    path: string,
    message: string,
    details: Omit<ConfigProblem, "severity" | "key" | "message"> = {},
  ): void {
    this.found.push({ severity: "warning", key: fullKey(path), message, ...details });
  }
}

export function fullKey(path: string): string {
  return `${CONFIG_NAMESPACE}:${path}`;
}

/** A `pulumi config set --path` command that sets `path` to `example`. */
export function setCommand(path: string, example: string, secret = false): string {
  const quoted = /^[A-Za-z0-9._:/%*+-]+$/.test(example) ? example : `'${example.replace(/'/g, "'\\''")}'`;
  return `pulumi config set${secret ? " --secret" : ""} --path '${fullKey(path)}' ${quoted}`;
}

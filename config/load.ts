import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, ConfigValidationError, formatProblem } from "./problems";
import { type RawStackConfig, SECRET_ENV_FALLBACKS, validateStackConfig } from "./validate";
import type { StackModel } from "./model";

/** Where the Pulumi SDK keeps the list of secret configuration keys in its configuration map. */
const SECRET_KEYS_ENTRY = "PULUMI_CONFIG_SECRET_KEYS";

/**
 * Reads every `hardened-rke2:*` key of the running stack as Pulumi passes it to the program. Values of structured
 * keys arrive as JSON text; secrets arrive decrypted, with their names in the SDK's secret-key list.
 */
export function readRawStackConfig(): RawStackConfig {
  const all = pulumi.runtime.allConfig();
  const secretList = parseJson(all[SECRET_KEYS_ENTRY]);
  const secretKeys = new Set<string>();
  const values: Record<string, unknown> = {};
  const prefix = `${CONFIG_NAMESPACE}:`;
  for (const [fullKey, text] of Object.entries(all)) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    values[key] = parseValue(text);
    if (Array.isArray(secretList) && secretList.includes(fullKey)) secretKeys.add(key);
  }
  const env = Object.fromEntries(
    Object.values(SECRET_ENV_FALLBACKS).map((name) => [name, process.env[name]]),
  );
  return { values, secretKeys, env };
}

/**
 * Reads and validates the stack configuration. Logs warnings; throws a {@link ConfigValidationError} listing every
 * error, before the program has created any resource.
 */
export function loadStackModel(raw: RawStackConfig = readRawStackConfig()): StackModel {
  const { model, problems } = validateStackConfig(raw);
  if (!model) throw new ConfigValidationError(problems);
  for (const problem of problems) void pulumi.log.warn(formatProblem(problem));
  return model;
}

function parseValue(text: string): unknown {
  // Structured values are JSON; a plain string that merely looks like JSON (a number, "true") stays a string
  // so that validation decides how to read it.
  if (text.startsWith("{") || text.startsWith("[")) {
    const parsed = parseJson(text);
    if (parsed !== undefined) return parsed;
  }
  return text;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Reads Rancher's registration command (`clusterRegistrationToken.nodeCommand` or `insecureNodeCommand`) into
 * its parts, so that a node runs Rancher's installer with its documented environment instead of running the
 * command line, which carries the token in plain sight (sudo's log, every process list).
 *
 * Rancher builds the command from `"%s curl -fL %s | sudo %s sh -s - --server %s --label 'cattle.io/os=linux'
 * --token %s%s"` (rancher/rancher `pkg/controllers/management/clusterregistrationtoken`, the provisioning-v2
 * format; the insecure one reads `curl --insecure -fL`): agent environment variables (`NAME="value"`) in the
 * first slot and between `sudo` and `sh`, the installer's URL, Rancher's URL, the token, and
 * ` --ca-checksum <sha256>` when Rancher's CA is private.
 */

export interface RegistrationCommand {
  /** The installer's URL (`<rancher>/system-agent-install.sh`). */
  readonly installerUrl: string;
  /** Rancher's URL (`--server`), the installer's `CATTLE_SERVER`. */
  readonly server: string;
  /** The cluster registration token, the installer's `CATTLE_TOKEN`. */
  readonly token: string;
  /** sha256 of Rancher's `/cacerts` (`--ca-checksum`), the installer's `CATTLE_CA_CHECKSUM`; "" when public. */
  readonly caChecksum: string;
  /** The command downloads the installer with `curl --insecure`. */
  readonly insecure: boolean;
  /** Labels the command passes (`--label`), Rancher's `cattle.io/os=linux` among them. */
  readonly labels: readonly string[];
  /** The cluster's agent environment variables, as the command sets them for the installer. */
  readonly env: Readonly<Record<string, string>>;
}

const ENV_ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)="([^"]*)"$/;

/** Splits the environment slot (`A="x" B="y z"`) into assignments; undefined when a word is not one. */
function parseEnvSlot(text: string): Record<string, string> | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return {};
  const env: Record<string, string> = {};
  for (const word of trimmed.split(/\s+(?=[A-Za-z_][A-Za-z0-9_]*=")/)) {
    const match = ENV_ASSIGNMENT.exec(word);
    if (!match) return undefined;
    env[match[1]] = match[2];
  }
  return env;
}

/** Removes one level of single quotes (`'cattle.io/os=linux'`), as sh would. */
function unquote(word: string): string {
  return /^'[^']*'$/.test(word) ? word.slice(1, -1) : word;
}

const COMMAND =
  /^(?<prefix>.*?)\s*curl (?<insecure>--insecure )?-fL (?<url>https?:\/\/\S+) \| sudo (?<env>.*?)\s*sh -s - (?<args>.+)$/s;

/**
 * The parts of Rancher's registration command, or an error that says what did not match. The error never
 * contains the command (it holds the token).
 */
export function parseRegistrationCommand(command: string): RegistrationCommand | { readonly error: string } {
  const match = COMMAND.exec(command.trim());
  if (!match?.groups) {
    return { error: "it is not `[env] curl [--insecure] -fL <url> | sudo [env] sh -s - <arguments>`" };
  }
  const { prefix, insecure, url, env, args } = match.groups;
  const prefixEnv = parseEnvSlot(prefix);
  const sudoEnv = parseEnvSlot(env);
  if (!prefixEnv || !sudoEnv) return { error: 'its agent environment variables are not NAME="value" words' };
  const words = args.trim().split(/\s+/);
  let server = "";
  let token = "";
  let caChecksum = "";
  const labels: string[] = [];
  for (let i = 0; i < words.length; i += 2) {
    const value = words[i + 1];
    if (value === undefined) return { error: `its installer argument ${words[i]} has no value` };
    switch (words[i]) {
      case "--server":
        server = unquote(value);
        break;
      case "--token":
        token = unquote(value);
        break;
      case "--ca-checksum":
        caChecksum = unquote(value);
        break;
      case "--label":
        labels.push(unquote(value));
        break;
      default:
        return { error: `its installer argument ${JSON.stringify(words[i])} is not one Rancher writes` };
    }
  }
  if (!server || !token) return { error: "it has no --server or no --token" };
  if (caChecksum && !/^[0-9a-f]{64}$/.test(caChecksum)) return { error: "its --ca-checksum is not a sha256" };
  return {
    installerUrl: url,
    server,
    token,
    caChecksum,
    insecure: insecure !== undefined,
    labels,
    env: { ...prefixEnv, ...sudoEnv },
  };
}

/**
 * What the registration script reads on its standard input: one `key=value` a line (`server`, `installer_url`,
 * `ca_checksum`, `insecure`, `label` per label, `env` per agent variable as `NAME=value`, `cluster_id`, and
 * `token` last). Standard input is the one channel that reaches the node without passing through a command
 * line, a process list or a log.
 */
export function renderRegistrationInput(clusterId: string, parsed: RegistrationCommand): string {
  const lines = [
    `cluster_id=${clusterId}`,
    `server=${parsed.server}`,
    `installer_url=${parsed.installerUrl}`,
    `ca_checksum=${parsed.caChecksum}`,
    `insecure=${parsed.insecure}`,
    ...parsed.labels.map((label) => `label=${label}`),
    ...Object.entries(parsed.env).map(([name, value]) => `env=${name}=${value}`),
    `token=${parsed.token}`,
  ];
  return `${lines.join("\n")}\n`;
}

import * as pulumi from "@pulumi/pulumi";
import type { NodeModel, NodeRole, SshEndpoint } from "../model";
import { describeValue, setCommand } from "../problems";
import { childPath, closest, isPlainObject, type Reader } from "../reader";
import { isKubeletSettableLabel } from "../grammar";
import { privateKeyProblem } from "../keys";
import { type RawStackConfig, secretSource } from "./secrets";

export const ROLES: readonly NodeRole[] = ["etcd", "controlplane", "worker"];
const NODE_KEYS = ["name", "address", "sshPort", "user", "roles", "hostKey", "bastion", "labels"];
const DEFAULT_SSH_PORT = 22;
const DEFAULT_SSH_USER = "root";
/** POSIX portable user names, as useradd accepts them. */
const USER_NAME = /^[A-Za-z_][A-Za-z0-9._-]{0,31}$/;

export function readNodes(v: Reader, raw: RawStackConfig): NodeModel[] | undefined {
  const items = v.array("nodes", raw.values.nodes, true);
  if (items !== undefined && items.length === 0) {
    v.error("nodes", "The stack needs at least one node.", {
      fix: `pulumi config set --path 'hardened-rke2:nodes[0].name' server-1 (and .address, .roles[0])`,
    });
  }
  const sharedKey = readSharedKey(v, raw);
  const perNodeKeys = readPerNodeKeys(v, raw);
  if (!items) return undefined;

  const nodes: NodeModel[] = [];
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  items.forEach((item, i) => {
    const path = `nodes[${i}]`;
    // Key fields are accepted here only to reject them with a message about secrecy rather than a typo.
    const obj = v.object(path, item, [...NODE_KEYS, "sshPrivateKey", "privateKey"]);
    if (!obj) return;
    if (obj.sshPrivateKey !== undefined || obj.privateKey !== undefined) {
      v.error(path, "A private key must never sit in the nodes list (it would be stored in plain text).", {
        fix: `pulumi config rm --path 'hardened-rke2:${path}.sshPrivateKey'; cat KEY | pulumi config set --secret --path 'hardened-rke2:nodeSshPrivateKeys.NODE'`,
      });
    }
    const name = v.dnsLabel(`${path}.name`, obj.name, `node-${i + 1}`, { required: true });
    if (name !== undefined) {
      const first = names.get(name);
      if (first !== undefined) {
        v.error(`${path}.name`, `This name is already used by nodes[${first}].`, {
          value: describeValue(name),
          allowed: "a name no other node has",
          fix: setCommand(`${path}.name`, `${name.slice(0, 58)}-${i + 1}`),
        });
      } else {
        names.set(name, i);
      }
    }
    const address = v.hostAddress(`${path}.address`, obj.address, `10.0.0.${11 + i}`, true);
    if (address !== undefined) {
      const first = addresses.get(address);
      if (first !== undefined) {
        v.error(`${path}.address`, `This address is already used by nodes[${first}].`, {
          value: describeValue(address),
          allowed: "an address no other node has",
          fix: setCommand(`${path}.address`, `10.0.0.${11 + i}`),
        });
      } else {
        addresses.set(address, i);
      }
    }
    const port =
      v.integer(`${path}.sshPort`, obj.sshPort, { min: 1, max: 65535, default: DEFAULT_SSH_PORT }) ??
      DEFAULT_SSH_PORT;
    const user = readUser(v, `${path}.user`, obj.user);
    const hostKey = v.hostKey(`${path}.hostKey`, obj.hostKey);
    const roles = readRoles(v, `${path}.roles`, obj.roles);
    const bastion = readBastion(v, `${path}.bastion`, obj.bastion);
    const labels = readNodeLabels(v, `${path}.labels`, obj.labels);
    if (obj.hostKey === undefined && address !== undefined) warnUnpinned(v, path, `${address}:${port}`);
    const privateKey = (name !== undefined ? perNodeKeys?.get(name) : undefined) ?? sharedKey;
    if (privateKey === undefined && name !== undefined && !v.reported("sshPrivateKey")) {
      v.error(
        "sshPrivateKey",
        `Node ${name} has no SSH private key: set the shared key or one for this node.`,
        {
          fix: `cat ~/.ssh/id_ed25519 | pulumi config set --secret sshPrivateKey`,
        },
      );
    }
    if (
      name === undefined ||
      address === undefined ||
      roles === undefined ||
      privateKey === undefined ||
      labels === undefined
    )
      return;
    nodes.push({
      name,
      address,
      ssh: { host: address, port, user, hostKey },
      privateKey,
      roles,
      bastion,
      labels,
    });
  });
  if (perNodeKeys) {
    for (const keyName of perNodeKeys.keys()) {
      if (!names.has(keyName)) {
        v.error(`nodeSshPrivateKeys.${keyName}`, "No node has this name, so this key would never be used.", {
          allowed: [...names.keys()].join(", ") || "the name of a node",
          fix: `pulumi config rm --path 'hardened-rke2:nodeSshPrivateKeys.${keyName}'`,
        });
      }
    }
  }
  return nodes.length === items.length ? nodes : undefined;
}

/** One warning per unpinned endpoint, naming its key and the address that is dialled. */
function warnUnpinned(v: Reader, path: string, endpoint: string): void {
  const host = endpoint.replace(/:\d+$/, "");
  v.warn(
    `${path}.hostKey`,
    `The SSH host key of ${endpoint} is not pinned, so the host's identity is not verified.`,
    {
      fix: `pulumi config set --path 'hardened-rke2:${path}.hostKey' "$(ssh-keyscan -t ed25519 ${host} | cut -d' ' -f2-)"`,
    },
  );
}

function readUser(v: Reader, path: string, value: unknown): string {
  const user = v.string(path, value, { example: DEFAULT_SSH_USER });
  if (user === undefined) return DEFAULT_SSH_USER;
  if (!USER_NAME.test(user)) {
    v.error(path, "This is not a Linux user name.", {
      value: describeValue(user),
      allowed: "at most 32 letters, digits, '.', '_' and '-', not starting with a digit, '.' or '-'",
      fix: setCommand(path, DEFAULT_SSH_USER),
    });
  }
  return user;
}

/** Node labels go to `kubelet --node-labels` through Rancher; the kubelet exits on keys it may not set. */
function readNodeLabels(v: Reader, path: string, value: unknown): Record<string, string> | undefined {
  const labels = v.labels(path, value);
  if (labels === undefined) return value === undefined ? {} : undefined;
  let ok = true;
  for (const key of Object.keys(labels)) {
    if (!isKubeletSettableLabel(key)) {
      ok = false;
      v.error(
        childPath(path, key),
        "The kubelet refuses to set labels under kubernetes.io or k8s.io and would not start.",
        {
          value: describeValue(key),
          allowed:
            "a key of your own domain (example.com/role), or node.kubernetes.io/… and the kubelet's own labels",
          fix: `pulumi config rm --path 'hardened-rke2:${childPath(path, key)}' and set example.com/${key.slice(key.indexOf("/") + 1)} instead`,
        },
      );
    }
  }
  return ok ? labels : undefined;
}

function readSharedKey(v: Reader, raw: RawStackConfig): pulumi.Output<string> | undefined {
  const { value, secret } = secretSource(raw, "sshPrivateKey");
  if (value === undefined) return undefined;
  if (!secret) {
    v.error("sshPrivateKey", "The SSH private key is stored in plain text; it must be a secret.", {
      fix: "pulumi config rm sshPrivateKey; cat ~/.ssh/id_ed25519 | pulumi config set --secret sshPrivateKey",
    });
    return undefined;
  }
  const problem =
    typeof value === "string" ? privateKeyProblem(value) : "This is not a PEM or OpenSSH private key.";
  if (problem !== undefined) {
    // Never echo the value: it is (or was meant to be) a private key.
    v.error("sshPrivateKey", problem, {
      allowed: "the contents of an unencrypted private key file (-----BEGIN OPENSSH PRIVATE KEY-----)",
      fix: "cat ~/.ssh/id_ed25519 | pulumi config set --secret sshPrivateKey",
    });
    return undefined;
  }
  return pulumi.secret(value as string);
}

function readPerNodeKeys(v: Reader, raw: RawStackConfig): Map<string, pulumi.Output<string>> | undefined {
  const value = raw.values.nodeSshPrivateKeys;
  if (value === undefined || (isPlainObject(value) && Object.keys(value).length === 0)) return undefined;
  if (!raw.secretKeys.has("nodeSshPrivateKeys")) {
    v.error(
      "nodeSshPrivateKeys",
      "Per-node SSH private keys are stored in plain text; they must be secrets.",
      {
        fix: "pulumi config rm nodeSshPrivateKeys; cat KEY | pulumi config set --secret --path 'hardened-rke2:nodeSshPrivateKeys.NODE'",
      },
    );
    return undefined;
  }
  if (!isPlainObject(value)) {
    v.error("nodeSshPrivateKeys", "Per-node keys must be a map from node name to private key.", {
      fix: "cat KEY | pulumi config set --secret --path 'hardened-rke2:nodeSshPrivateKeys.NODE'",
    });
    return undefined;
  }
  const keys = new Map<string, pulumi.Output<string>>();
  for (const [node, key] of Object.entries(value)) {
    const problem =
      typeof key === "string" ? privateKeyProblem(key) : "This is not a PEM or OpenSSH private key.";
    if (problem !== undefined) {
      v.error(childPath("nodeSshPrivateKeys", node), problem, {
        fix: `cat KEY | pulumi config set --secret --path 'hardened-rke2:nodeSshPrivateKeys.${node}'`,
      });
      continue;
    }
    keys.set(node, pulumi.secret(key as string));
  }
  return keys;
}

function readRoles(v: Reader, path: string, value: unknown): NodeRole[] | undefined {
  const roles = v.stringArray(path, value, true);
  if (roles === undefined) return undefined;
  if (roles.length === 0) {
    v.error(path, "A node needs at least one role.", {
      allowed: ROLES.join(", "),
      fix: setCommand(`${path}[0]`, "worker"),
    });
    return undefined;
  }
  let ok = true;
  roles.forEach((role, i) => {
    if (!(ROLES as readonly string[]).includes(role)) {
      ok = false;
      v.error(path, `${describeValue(role)} is not a node role.`, {
        value: describeValue(role),
        allowed: ROLES.join(", "),
        fix: setCommand(`${path}[${i}]`, closest(role, ROLES) ?? "worker"),
      });
    }
  });
  if (new Set(roles).size !== roles.length) {
    ok = false;
    v.error(path, "A role is listed twice.", {
      value: describeValue(roles),
      allowed: "each role at most once",
    });
  }
  return ok ? (roles as NodeRole[]) : undefined;
}

function readBastion(v: Reader, path: string, value: unknown): SshEndpoint | undefined {
  if (value === undefined) return undefined;
  const obj = v.object(path, value, ["host", "port", "user", "hostKey"]);
  if (!obj) return undefined;
  const host = v.hostAddress(`${path}.host`, obj.host, "bastion.example.com", true);
  const port =
    v.integer(`${path}.port`, obj.port, { min: 1, max: 65535, default: DEFAULT_SSH_PORT }) ??
    DEFAULT_SSH_PORT;
  const user = readUser(v, `${path}.user`, obj.user);
  const hostKey = v.hostKey(`${path}.hostKey`, obj.hostKey);
  if (obj.hostKey === undefined && host !== undefined) warnUnpinned(v, path, `${host}:${port}`);
  return host === undefined ? undefined : { host, port, user, hostKey };
}

export function checkClusterShape(v: Reader, nodes: readonly NodeModel[]): void {
  const count = (role: NodeRole) => nodes.filter((n) => n.roles.includes(role)).length;
  const etcd = count("etcd");
  const fix = (role: NodeRole) => setCommand(`nodes[0].roles[${nodes[0]?.roles.length ?? 0}]`, role);
  if (etcd === 0) {
    v.error("nodes", "No node has the etcd role; the cluster cannot store its state.", {
      allowed: "at least one etcd node",
      fix: fix("etcd"),
    });
  } else if (etcd % 2 === 0) {
    v.warn(
      "nodes",
      `${etcd} etcd nodes: an even count tolerates no more failures than ${etcd - 1} and risks a split vote.`,
      { allowed: "an odd number of etcd nodes (1, 3, 5)" },
    );
  }
  if (count("controlplane") === 0) {
    v.error("nodes", "No node has the controlplane role; the cluster has no API server.", {
      allowed: "at least one controlplane node",
      fix: fix("controlplane"),
    });
  }
  if (count("worker") === 0) {
    v.error(
      "nodes",
      "No node has the worker role; Rancher waits for one before the cluster becomes Active.",
      {
        allowed: "at least one worker node",
        fix: fix("worker"),
      },
    );
  }
}

import type { ClusterModel, LifecycleModel, NodeModel, NodeRole } from "./model";
import { type ProblemCollector, describeValue, setCommand } from "./problems";

/** Keys of `hardened-rke2:lifecycle`. */
export const LIFECYCLE_KEYS = ["deletionProtection", "decommissionNodes", "renamedNodes"] as const;

const ROLES: readonly NodeRole[] = ["etcd", "controlplane", "worker"];

/**
 * Reads `hardened-rke2:lifecycle`: what later `pulumi up`s may remove or rename.
 * - `deletionProtection` [true]: the Rancher cluster and the namespaces the stack creates are protected, so that no
 *   `up` or `destroy` deletes them by accident.
 * - `decommissionNodes` [none]: names of nodes (still listed in `nodes`) to uninstall RKE2 from; nothing else ever
 *   uninstalls RKE2 from a node.
 * - `renamedNodes` [none]: `{NEW_NAME: OLD_NAME}` for nodes renamed in `nodes`, so that a rename keeps the node's
 *   resources instead of replacing them.
 * `nodes` and `cluster` are those already read (undefined when they had errors: then only the shape is checked).
 */
export function readLifecycle(
  problems: ProblemCollector,
  value: unknown,
  nodes: readonly NodeModel[] | undefined,
  cluster: ClusterModel | undefined,
): LifecycleModel {
  const defaults: LifecycleModel = { deletionProtection: true, decommissionNodes: [], renamedNodes: {} };
  if (cluster?.uninstallNodesOnDestroy) {
    problems.warn(
      "cluster.uninstallNodesOnDestroy",
      "No longer uninstalls RKE2 when a node leaves the stack: a removed or renamed node would lose RKE2 at once. " +
        "List the nodes to uninstall in lifecycle.decommissionNodes instead.",
      { fix: setCommand("lifecycle.decommissionNodes[0]", "NODE") },
    );
  }
  if (value === undefined || value === null) return defaults;
  if (typeof value !== "object" || Array.isArray(value)) {
    problems.error("lifecycle", "Must be an object.", {
      value: describeValue(value),
      allowed: `an object with ${LIFECYCLE_KEYS.join(", ")}`,
    });
    return defaults;
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!(LIFECYCLE_KEYS as readonly string[]).includes(key)) {
      problems.error(`lifecycle.${key}`, "Unknown key.", { allowed: LIFECYCLE_KEYS.join(", ") });
    }
  }
  const names = new Set(nodes?.map((n) => n.name));

  let deletionProtection = true;
  if (obj.deletionProtection !== undefined) {
    if (typeof obj.deletionProtection === "boolean") deletionProtection = obj.deletionProtection;
    else
      problems.error("lifecycle.deletionProtection", "Must be true or false.", {
        value: describeValue(obj.deletionProtection),
        fix: setCommand("lifecycle.deletionProtection", "false"),
      });
  }

  const decommissionNodes: string[] = [];
  if (obj.decommissionNodes !== undefined) {
    if (!Array.isArray(obj.decommissionNodes)) {
      problems.error("lifecycle.decommissionNodes", "Must be a list of node names.", {
        value: describeValue(obj.decommissionNodes),
        fix: setCommand("lifecycle.decommissionNodes[0]", "NODE"),
      });
    } else {
      obj.decommissionNodes.forEach((name, i) => {
        const path = `lifecycle.decommissionNodes[${i}]`;
        if (typeof name !== "string" || (nodes && !names.has(name))) {
          problems.error(
            path,
            "Names no node of the stack: a node to decommission stays in nodes until it is done.",
            {
              value: describeValue(name),
              allowed: nodes ? [...names].join(", ") : "a node name",
            },
          );
        } else if (decommissionNodes.includes(name)) {
          problems.error(path, "Listed twice.", { value: describeValue(name) });
        } else {
          decommissionNodes.push(name);
        }
      });
    }
  }
  if (nodes && decommissionNodes.length > 0) {
    const remaining = nodes.filter((n) => !decommissionNodes.includes(n.name));
    for (const role of ROLES) {
      if (!remaining.some((n) => n.roles.includes(role))) {
        problems.error(
          "lifecycle.decommissionNodes",
          `Would leave no node with the ${role} role; add its replacement to nodes first.`,
          { value: describeValue(decommissionNodes) },
        );
      }
    }
  }

  const renamedNodes: Record<string, string> = {};
  if (obj.renamedNodes !== undefined) {
    if (
      typeof obj.renamedNodes !== "object" ||
      obj.renamedNodes === null ||
      Array.isArray(obj.renamedNodes)
    ) {
      problems.error("lifecycle.renamedNodes", "Must map each new node name to its former name.", {
        value: describeValue(obj.renamedNodes),
        fix: setCommand("lifecycle.renamedNodes.NEW_NAME", "OLD_NAME"),
      });
    } else {
      const former = new Set<string>();
      for (const [newName, oldName] of Object.entries(obj.renamedNodes as Record<string, unknown>)) {
        const path = `lifecycle.renamedNodes.${newName}`;
        if (nodes && !names.has(newName)) {
          problems.error(path, "Names no node of the stack (the key is the node's new name).", {
            allowed: [...names].join(", "),
          });
        } else if (
          typeof oldName !== "string" ||
          oldName === "" ||
          names.has(oldName) ||
          former.has(oldName)
        ) {
          problems.error(path, "The former name must be a name no current node has, used once.", {
            value: describeValue(oldName),
          });
        } else {
          former.add(oldName);
          renamedNodes[newName] = oldName;
        }
      }
    }
  }
  return { deletionProtection, decommissionNodes, renamedNodes };
}

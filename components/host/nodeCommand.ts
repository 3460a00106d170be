import * as crypto from "node:crypto";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { NodeModel } from "../../config/model";
import { sshConnection } from "../ssh";

/**
 * What a step runs on one node. `create` is what it does; everything else (the connection, and
 * inputs such as `stdin` whose changes another step applies) must never make it run again.
 */
export interface NodeCommandArgs {
  readonly node: NodeModel;
  /** The command the step runs on the node. */
  readonly create: pulumi.Input<string>;
  readonly stdin?: pulumi.Input<string>;
  /**
   * Everything whose change must run `create` again (default: a hash of `create`). Only a change of
   * these runs anything on the node.
   */
  readonly triggers?: pulumi.Input<unknown>[];
}

/**
 * The `update` of every node step: a connection-only change still needs one successful session
 * (it proves the new address, port, user, key or pinned host key reach the node) and nothing else.
 */
export const NO_OP_UPDATE =
  "echo 'hardened-rke2: only the connection or an input applied by another step changed; nothing was run on this node'";

/**
 * One step that runs on a node over SSH.
 *
 * Decision (issue 10, `@pulumi/command` 1.2: no diff and no read). Connection details must never
 * re-run a step, yet the new connection must be used afterwards:
 * - `ignoreChanges: ["connection"]` alone is wrong: the engine then keeps the old connection in the
 *   step's inputs, so a later re-run (a new script) and the delete would dial the old address with
 *   the old key;
 * - so the step has an `update` that runs nothing ({@link NO_OP_UPDATE}): a change of the connection
 *   (or of `stdin`) is an update that stores the new values after one harmless session, and
 *   `triggers`, a hash of what the step does, are the only input whose change runs `create` again:
 *   the SDK registers every Command with `replaceOnChanges: ["triggers[*]"]`
 *   (node_modules/@pulumi/command/remote/command.js), so the engine replaces the step, and the
 *   replacement runs `create` with the new connection. A change of `create` alone would only run
 *   `update`, which is why `triggers` must cover everything `create` does.
 */
export function nodeCommand(
  name: string,
  args: NodeCommandArgs,
  opts: pulumi.CustomResourceOptions,
): command.remote.Command {
  const triggers = args.triggers ?? [pulumi.output(args.create).apply(sha256)];
  return new command.remote.Command(
    name,
    {
      connection: sshConnection(args.node),
      create: args.create,
      update: NO_OP_UPDATE,
      ...(args.stdin !== undefined ? { stdin: args.stdin } : {}),
      triggers,
      logging: "stdoutAndStderr",
    },
    opts,
  );
}

export function sha256(text: string): string {
  return crypto.createHash("sha256").update(text).digest("hex");
}

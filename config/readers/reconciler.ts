import type { OperatorNamespaceModel, ReconcilerModel } from "../model";
import { describeValue, setCommand } from "../problems";
import { namespaceError, type Reader } from "../reader";
import { DEFAULT_RECONCILER_IMAGE } from "../defaults";
import {
  LABEL_SELECTOR_RULE,
  isBuiltinNamespace,
  isNamespaceName,
  isPinnedImage,
  parseImageReference,
  parseLabelSelector,
} from "../grammar";

export const DEFAULT_RECONCILER = {
  image: DEFAULT_RECONCILER_IMAGE,
  schedule: "*/5 * * * *",
  namespace: "cis-reconciler",
  networkPolicySelector: "hardened-rke2.io/network-policy=same-namespace",
} as const;

export function readReconciler(v: Reader, value: unknown): ReconcilerModel | undefined {
  const p = "hardening.reconciler";
  const obj = v.object(p, value ?? {}, [
    "enabled",
    "image",
    "schedule",
    "excludeNamespaces",
    "networkPolicySelector",
    "namespace",
  ]);
  if (!obj) return undefined;
  let ok = true;
  const namespace =
    v.string(`${p}.namespace`, obj.namespace, { example: DEFAULT_RECONCILER.namespace }) ??
    DEFAULT_RECONCILER.namespace;
  if (!isNamespaceName(namespace)) {
    ok = false;
    namespaceError(v, `${p}.namespace`, namespace, DEFAULT_RECONCILER.namespace);
  } else if (isBuiltinNamespace(namespace)) {
    ok = false;
    v.error(`${p}.namespace`, "The reconciler needs a namespace of its own, not a built-in one.", {
      value: describeValue(namespace),
      fix: setCommand(`${p}.namespace`, DEFAULT_RECONCILER.namespace),
    });
  }
  const selector =
    v.string(`${p}.networkPolicySelector`, obj.networkPolicySelector, {
      allowEmpty: true,
      example: DEFAULT_RECONCILER.networkPolicySelector,
    }) ?? DEFAULT_RECONCILER.networkPolicySelector;
  const parsedSelector = selector.trim() === "" ? { selector: "" } : parseLabelSelector(selector);
  if ("error" in parsedSelector) {
    ok = false;
    v.error(`${p}.networkPolicySelector`, `This is not a label selector: ${parsedSelector.error}.`, {
      value: describeValue(selector),
      allowed: `${LABEL_SELECTOR_RULE}; empty selects no namespace`,
      fix: setCommand(`${p}.networkPolicySelector`, DEFAULT_RECONCILER.networkPolicySelector),
    });
  }
  const image =
    v.string(`${p}.image`, obj.image, { example: DEFAULT_RECONCILER.image }) ?? DEFAULT_RECONCILER.image;
  if (!parseImageReference(image)) {
    ok = false;
    v.error(`${p}.image`, "This is not a container image reference.", {
      value: describeValue(image),
      allowed: "[REGISTRY/]REPOSITORY:TAG or …@sha256:DIGEST",
      fix: setCommand(`${p}.image`, DEFAULT_RECONCILER.image),
    });
  } else if (!isPinnedImage(image)) {
    ok = false;
    v.error(`${p}.image`, 'The reconciler image must be pinned: a tag other than "latest", or a digest.', {
      value: describeValue(image),
      allowed: "REPOSITORY:TAG (not latest) or REPOSITORY@sha256:DIGEST",
      fix: setCommand(`${p}.image`, DEFAULT_RECONCILER.image),
    });
  }
  const excludeNamespaces = v.stringArray(`${p}.excludeNamespaces`, obj.excludeNamespaces) ?? [];
  excludeNamespaces.forEach((ns, i) => {
    if (!isNamespaceName(ns)) {
      ok = false;
      namespaceError(v, `${p}.excludeNamespaces[${i}]`, ns, "kube-system");
    } else if (ns === namespace) {
      ok = false;
      v.error(
        `${p}.excludeNamespaces[${i}]`,
        "The reconciler's own namespace is hardened like every other one.",
        {
          value: describeValue(ns),
          fix: `pulumi config rm --path 'hardened-rke2:${p}.excludeNamespaces[${i}]'`,
        },
      );
    }
  });
  const schedule = v.cron(`${p}.schedule`, obj.schedule, DEFAULT_RECONCILER.schedule);
  if (obj.schedule !== undefined && schedule === undefined) ok = false;
  const enabled = v.boolean(`${p}.enabled`, obj.enabled) ?? true;
  if (!ok) return undefined;
  return {
    enabled,
    image,
    schedule: schedule ?? DEFAULT_RECONCILER.schedule,
    excludeNamespaces,
    networkPolicySelector: "selector" in parsedSelector ? selector : DEFAULT_RECONCILER.networkPolicySelector,
    namespace,
  };
}

/** The reconciler's namespace is created and hardened by the reconciler's own manifests, once. */
export function checkReconcilerAgainstNamespaces(
  v: Reader,
  reconciler: ReconcilerModel,
  namespaces: readonly OperatorNamespaceModel[],
): void {
  if (!reconciler.enabled) return;
  const i = namespaces.findIndex((ns) => ns.name === reconciler.namespace);
  if (i >= 0) {
    v.error(
      `hardening.namespaces[${i}].name`,
      "This is the reconciler's namespace, which the program already creates and hardens; it would be managed twice.",
      {
        value: describeValue(reconciler.namespace),
        fix: `pulumi config rm --path 'hardened-rke2:hardening.namespaces[${i}]' (or move the reconciler: ${setCommand("hardening.reconciler.namespace", "cis-reconciler-system")})`,
      },
    );
  }
}

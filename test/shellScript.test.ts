import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { AUDIT_ROLLOUT_SCRIPT } from "../components/host/auditRollout";
import { HOST_PREP_SCRIPT, KERNEL_PARAMETERS } from "../components/host/render";
import { NODE_CHECK_SCRIPT } from "../scripts/verify/nodeCheck";
import { includesOf, readShellFile, renderScript } from "../components/shell/script";
import { shellcheck } from "./shellcheck";

const PROBE = "test/fixtures/shell/sysctl-order-probe.sh";
const PARAMS = KERNEL_PARAMETERS.map((p) => p.name);

/** Runs the sysctl-order probe over a directory tree; returns its lines "FILE KEY VALUE". */
function settingsFrom(files: Readonly<Record<string, string>>, first = "90-kubelet.conf"): string[] {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "hrke2-sysctl-"));
  try {
    for (const [file, content] of Object.entries(files)) {
      const at = path.join(root, file);
      fs.mkdirSync(path.dirname(at), { recursive: true });
      if (content === "-> /dev/null") fs.symlinkSync("/dev/null", at);
      else fs.writeFileSync(at, content);
    }
    const script = renderScript(PROBE, { root, first, param_names: PARAMS });
    const result = spawnSync("bash", ["-c", script], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.split("\n").filter((line) => line !== "");
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

describe("renderScript includes", () => {
  it("puts each shared file's body, below its # @begin line, where the script includes it", () => {
    const script = renderScript(PROBE, { root: "/", first: "x", param_names: [] });
    assert.doesNotMatch(script, /# @include|# @begin/);
    const library = readShellFile("components/host/sysctl-order.sh");
    const body = library.slice(library.indexOf("# @begin\n") + "# @begin\n".length);
    assert.ok(script.includes(body.trimEnd()), "the whole body is in the script");
    assert.ok(!script.includes("shellcheck disable=SC2154 # param_names"), "the library's own header is not");
    assert.ok(script.indexOf("first='x'") < script.indexOf("each_sysctl_setting()"), "values come first");
    shellcheck(script);
  });

  it("refuses a shared file without its # @begin line, and includes that nest", () => {
    assert.throws(
      () => renderScript("test/fixtures/shell/includes-missing-begin.sh", {}),
      /no-begin\.sh, included by test\/fixtures\/shell\/includes-missing-begin\.sh, has no "# @begin" line/,
    );
    assert.throws(
      () => renderScript("test/fixtures/shell/includes-nested.sh", {}),
      /nested\.sh includes another file: includes do not nest/,
    );
  });

  it("every shared host file has a # @begin line and nothing it includes", () => {
    const shared = new Set([HOST_PREP_SCRIPT, AUDIT_ROLLOUT_SCRIPT, NODE_CHECK_SCRIPT].flatMap(includesOf));
    assert.deepEqual([...shared].sort(), [
      "components/host/apiserver-processes.sh",
      "components/host/head.sh",
      "components/host/lib.sh",
      "components/host/sysctl-order.sh",
    ]);
    for (const library of shared) {
      const text = readShellFile(library);
      assert.match(text, /\n# @begin\n/, library);
      assert.doesNotMatch(text, /^# @include /m, library);
    }
  });
});

// The boot order systemd-sysctl(8) and sysctl.d(5) document: /etc, /run, /usr/local/lib, /usr/lib,
// /lib, a name in an earlier directory hiding (or masking, as a link to /dev/null) the same name in
// later ones, files applied in lexicographic order of their names, procps' /etc/sysctl.conf last.
describe("each_sysctl_setting (components/host/sysctl-order.sh)", () => {
  it("reports settings from our file on, in the order they are applied at boot, /etc/sysctl.conf last", () => {
    assert.deepEqual(
      settingsFrom({
        "etc/sysctl.conf": "kernel.panic = 1\n",
        "usr/lib/sysctl.d/99-vendor.conf": "vm.panic_on_oom=1\n",
        "run/sysctl.d/95-runtime.conf": "kernel.panic=5",
        "etc/sysctl.d/90-kubelet.conf": "vm.panic_on_oom=0\nkernel.panic=10\n",
        "lib/sysctl.d/91-lib.conf": "  -vm/overcommit_memory \t=  0  \n",
        "etc/sysctl.d/10-early.conf": "kernel.panic=0\n",
      }),
      [
        "/etc/sysctl.d/90-kubelet.conf vm.panic_on_oom 0",
        "/etc/sysctl.d/90-kubelet.conf kernel.panic 10",
        "/lib/sysctl.d/91-lib.conf vm.overcommit_memory 0",
        "/run/sysctl.d/95-runtime.conf kernel.panic 5",
        "/usr/lib/sysctl.d/99-vendor.conf vm.panic_on_oom 1",
        "/etc/sysctl.conf kernel.panic 1",
      ],
    );
  });

  it("skips names hidden or masked by an earlier directory, comments, other keys and files not named *.conf", () => {
    assert.deepEqual(
      settingsFrom({
        "etc/sysctl.d/99-vendor.conf":
          "# kernel.panic=0\n; kernel.panic=0\nnet.ipv4.ip_forward=1\nkernel.panic=10\n",
        "usr/lib/sysctl.d/99-vendor.conf": "kernel.panic=0\n",
        "etc/sysctl.d/99-masked.conf": "-> /dev/null",
        "usr/lib/sysctl.d/99-masked.conf": "kernel.panic=0\n",
        "etc/sysctl.d/99-notes.txt": "kernel.panic=0\n",
        "etc/sysctl.d/99-noeol.conf": "kernel.panic_on_oops=0",
      }),
      ["/etc/sysctl.d/99-noeol.conf kernel.panic_on_oops 0", "/etc/sysctl.d/99-vendor.conf kernel.panic 10"],
    );
  });

  it("is empty when nothing sets our parameters, and sorts byte-wise (upper case before lower)", () => {
    assert.deepEqual(settingsFrom({}), []);
    assert.deepEqual(
      settingsFrom({
        "etc/sysctl.d/99-b.conf": "kernel.panic=2\n",
        "etc/sysctl.d/99-B.conf": "kernel.panic=1\n",
      }),
      ["/etc/sysctl.d/99-B.conf kernel.panic 1", "/etc/sysctl.d/99-b.conf kernel.panic 2"],
    );
  });
});

/**
 * The scripts the workflows run (.github/scripts), run here as the runner runs them: the stack report
 * that puts the preview and verify side by side, and the pull-request comment that each run updates.
 * `gh` is replaced by a stand-in on PATH that records its arguments and answers like GitHub's REST API.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { shellcheck } from "./shellcheck";

const ROOT = path.resolve(__dirname, "..", "..");
const SCRIPTS = path.join(ROOT, ".github", "scripts");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "hardened-rke2-gh-scripts-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));

function run(script: string, args: string[], env: Record<string, string>) {
  const result = spawnSync("bash", [path.join(SCRIPTS, script), ...args], {
    encoding: "utf8",
    env: { PATH: `${work}/bin:${process.env["PATH"] ?? ""}`, ...env },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("the scripts are shellcheck-clean", () => {
  for (const file of fs.readdirSync(SCRIPTS).filter((f) => f.endsWith(".sh"))) {
    shellcheck(fs.readFileSync(path.join(SCRIPTS, file), "utf8"));
  }
});

describe("stack-report.sh", () => {
  const previewReport = path.join(work, "preview.txt");
  fs.writeFileSync(previewReport, "Previewing update (staging)\nResources: 42 unchanged\n");
  const verifyReport = path.join(work, "verify.md");
  fs.writeFileSync(
    verifyReport,
    "| Node | Control | Expected | Actual |\n|---|---|---|---|\n| server-1 | 4.2.6 | 1 | 0 |\n",
  );
  const report = (env: Record<string, string>) =>
    run("stack-report.sh", [], {
      STACK: "staging",
      PREVIEW_REPORT: previewReport,
      VERIFY_REPORT: verifyReport,
      ...env,
    });

  test("shows the preview and verify side by side, each with its verdict and output", () => {
    const out = report({ PREVIEW_EXIT: "0", VERIFY_EXIT: "1" });
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /^## Stack `staging`/);
    assert.match(out.stdout, /\| `pulumi preview --refresh` \| .* \| ran cleanly \|/);
    assert.match(out.stdout, /\| `verify` \| .* \| drift on the hosts \|/);
    assert.match(out.stdout, /```\nPreviewing update \(staging\)\nResources: 42 unchanged\n```/);
    assert.match(out.stdout, /<summary>verify<\/summary>\n\n\| Node \| Control/);
    assert.match(out.stdout, /\| server-1 \| 4\.2\.6 \| 1 \| 0 \|/);
  });

  test("names each exit code, and a check that did not run", () => {
    const verdicts: [string, string, RegExp][] = [
      ["0", "0", /every node is compliant/],
      ["0", "2", /usage or connection errors/],
      ["0", "", /`verify` \| .* \| did not run/],
      ["1", "0", /failed, or found changes where none are expected \(exit 1\)/],
      ["", "0", /`pulumi preview --refresh` \| .* \| did not run/],
    ];
    for (const [preview, verify, pattern] of verdicts) {
      const out = report({ PREVIEW_EXIT: preview, VERIFY_EXIT: verify });
      assert.equal(out.status, 0, out.stderr);
      assert.match(out.stdout, pattern, `${preview}/${verify}`);
    }
    const missing = run("stack-report.sh", [], { STACK: "staging", PREVIEW_REPORT: path.join(work, "none") });
    assert.equal(missing.status, 0, missing.stderr);
    assert.equal((missing.stdout.match(/no output; see the job log/g) ?? []).length, 2);
  });

  test("keeps a comment under GitHub's 65536 characters, cutting the start and keeping the summary at the end", () => {
    const bigPreview = path.join(work, "big-preview.txt");
    fs.writeFileSync(bigPreview, `${"x".repeat(200_000)}\nResources: 7 to update\n`);
    const bigVerify = path.join(work, "big-verify.md");
    fs.writeFileSync(bigVerify, `${"y".repeat(200_000)}\nSummary: 3 nodes drifted\n`);
    const out = report({
      PREVIEW_EXIT: "0",
      VERIFY_EXIT: "1",
      PREVIEW_REPORT: bigPreview,
      VERIFY_REPORT: bigVerify,
    });
    assert.equal(out.status, 0, out.stderr);
    assert.ok(out.stdout.length < 65_536, `${out.stdout.length} characters`);
    assert.match(out.stdout, /Resources: 7 to update/);
    assert.match(out.stdout, /Summary: 3 nodes drifted/);
    assert.equal((out.stdout.match(/first \d+ characters cut/g) ?? []).length, 2);
  });
});

describe("pr-comment.sh", () => {
  const bin = path.join(work, "bin");
  const calls = path.join(work, "gh-calls");
  fs.mkdirSync(bin, { recursive: true });
  // GitHub's REST API through `gh api`: the listing is filtered by the caller's --jq, so the stand-in
  // prints the ids that filter would select, from FAKE_EXISTING_ID.
  fs.writeFileSync(
    path.join(bin, "gh"),
    [
      "#!/usr/bin/env bash",
      'printf "%s\\n" "$*" >> "$GH_CALLS"',
      'for a in "$@"; do case $a in body=@*) cp -- "${a#body=@}" "$GH_CALLS.body" ;; esac; done',
      'if [ "$2" != "--method" ] && [ -n "${FAKE_EXISTING_ID:-}" ]; then echo "$FAKE_EXISTING_ID"; fi',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  const body = path.join(work, "report.md");
  fs.writeFileSync(body, "## Stack `staging`\n");
  const comment = (args: string[], extra: Record<string, string> = {}) => {
    fs.rmSync(calls, { force: true });
    const out = run("pr-comment.sh", args, {
      GITHUB_REPOSITORY: "acme/hardened-rke2",
      GH_CALLS: calls,
      ...extra,
    });
    return { ...out, calls: fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").trim().split("\n") : [] };
  };

  test("posts a new comment with its marker when the pull request has none", () => {
    const out = comment(["17", "staging", body]);
    assert.equal(out.status, 0, out.stderr);
    assert.match(
      out.calls[0] ?? "",
      /^api --paginate repos\/acme\/hardened-rke2\/issues\/17\/comments --jq /,
    );
    assert.match(out.calls[0] ?? "", /hardened-rke2-report: staging/);
    assert.match(
      out.calls[1] ?? "",
      /^api --method POST repos\/acme\/hardened-rke2\/issues\/17\/comments -F body=@/,
    );
    assert.equal(
      fs.readFileSync(`${calls}.body`, "utf8"),
      "<!-- hardened-rke2-report: staging -->\n## Stack `staging`\n",
    );
  });

  test("updates the comment it posted before instead of adding one per run", () => {
    const out = comment(["17", "staging", body], { FAKE_EXISTING_ID: "9001" });
    assert.equal(out.status, 0, out.stderr);
    assert.match(
      out.calls[1] ?? "",
      /^api --method PATCH repos\/acme\/hardened-rke2\/issues\/comments\/9001 -F body=@/,
    );
    assert.equal(out.calls.length, 2);
  });

  test("refuses a pull-request number or key that is not plain, before calling GitHub", () => {
    for (const args of [
      ["17; rm -rf /", "staging", body],
      ["17", 'x") | .id', body],
      ["17", "staging"],
    ]) {
      const out = comment(args);
      assert.equal(out.status, 2, JSON.stringify(args));
      assert.deepEqual(out.calls, [], JSON.stringify(args));
    }
  });
});

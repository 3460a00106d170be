import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";

/**
 * Lints a generated script with the real shellcheck (Debian package; `npm test` installs it). A missing binary
 * fails the test instead of skipping it: an unchecked script would pass silently.
 */
export function shellcheck(script: string, shell: "bash" | "sh" = "bash"): void {
  const result = spawnSync("shellcheck", ["--shell", shell, "--severity", "style", "-"], {
    input: script,
    encoding: "utf8",
  });
  if (result.error)
    assert.fail(
      `shellcheck could not run (${result.error.message}); install it: apt-get install -y shellcheck`,
    );
  assert.equal(result.status, 0, `shellcheck found problems:\n${result.stdout}${result.stderr}`);
}

/** Lints a fixed shell file of the program as it is on disk (the text shellcheck users see). */
export function shellcheckFile(relativePath: string): void {
  const result = spawnSync(
    "shellcheck",
    ["--shell", "bash", "--severity", "style", "--external-sources", relativePath],
    { cwd: path.resolve(__dirname, "..", ".."), encoding: "utf8" },
  );
  if (result.error) assert.fail(`shellcheck could not run (${result.error.message})`);
  assert.equal(
    result.status,
    0,
    `shellcheck found problems in ${relativePath}:\n${result.stdout}${result.stderr}`,
  );
}

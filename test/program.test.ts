import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import * as semver from "semver";
import { MINIMUM_PULUMI_CLI, requirePulumiCli } from "../components/program";

const ROOT = path.resolve(__dirname, "..", "..");

describe("requirePulumiCli", () => {
  it("asks the engine for the minimum CLI version as a range, and passes when the engine agrees", async () => {
    const asked: string[] = [];
    await requirePulumiCli((range) => {
      asked.push(range);
      return Promise.resolve();
    });
    assert.deepEqual(asked, [`>=${MINIMUM_PULUMI_CLI}`]);
  });

  it("fails with a RunError that says which CLI is needed, why, and what to do, keeping the engine's words", async () => {
    // The engine's answer to an unmet range, as pulumi/pulumi's integration test of RequirePulumiVersion expects it
    // ('Pulumi CLI version .* does not satisfy the version range "=3\.1\.2"'), through grpc-js, which prefixes the
    // status ("2 UNKNOWN: ").
    const engine = () =>
      Promise.reject(
        new Error('2 UNKNOWN: Pulumi CLI version 3.200.0 does not satisfy the version range ">=3.215.0"'),
      );
    await assert.rejects(requirePulumiCli(engine), (error: unknown) => {
      assert.ok(pulumi.RunError.isInstance(error), "a RunError prints without a stack trace");
      assert.match(
        error.message,
        /needs the Pulumi CLI 3\.215\.0 or later: older ones ignore replacementTrigger.*Upgrade it.*3\.200\.0 does not satisfy/,
      );
      return true;
    });
  });

  it("is what the README tells a newcomer to install, and replacementTrigger's release or later", () => {
    assert.ok(semver.gte(MINIMUM_PULUMI_CLI, "3.215.0"));
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const major = semver.parse(MINIMUM_PULUMI_CLI)!;
    assert.match(readme, new RegExp(`Pulumi CLI\\]\\([^)]*\\) \\(${major.major}\\.${major.minor} or later`));
  });

  it("passes under the mock engine, where there is no engine to ask", async () => {
    await requirePulumiCli();
  });
});

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as library from "../library";
import { evaluate } from "../scripts/offline/engine";
import { PROJECT_DIR, rawConfig, runProgram, seedStackValues } from "./harness";

/** Loads a built module in a fresh Node process with no Pulumi engine and no stack configuration. */
function loadAlone(relativePath: string) {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("PULUMI_")) delete env[name];
  return spawnSync(
    process.execPath,
    [
      "-e",
      `console.log(Object.keys(require(${JSON.stringify(path.join(PROJECT_DIR, relativePath))})).sort().join(" "))`,
    ],
    { cwd: PROJECT_DIR, env, encoding: "utf8" },
  );
}

describe("the library entry (package.json main)", () => {
  it("is what package.json names, built with its types", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")) as Record<
      string,
      string
    >;
    assert.equal(pkg.main, "bin/library.js");
    assert.equal(pkg.types, "bin/library.d.ts");
    for (const file of [pkg.main, pkg.types]) assert.ok(fs.existsSync(path.join(PROJECT_DIR, file)), file);
  });

  it("loads with no engine and no stack configuration, unlike the program's entry", () => {
    const lib = loadAlone("bin/library.js");
    assert.equal(lib.status, 0, lib.stderr);
    for (const name of [
      "HardenedRke2",
      "validateStackConfig",
      "HostPreparation",
      "HardenedCluster",
      "CisScan",
    ]) {
      assert.ok(lib.stdout.split(/\s+/).includes(name), `exports ${name}`);
    }
    // The program's entry reads the stack's configuration when loaded: the library must not be it.
    const program = loadAlone("bin/index.js");
    assert.notEqual(program.status, 0);
    assert.match(program.stderr, /The stack configuration has \d+ errors; nothing was created/);
  });

  it("builds the same stack as the program from a validated configuration", async () => {
    const raw = rawConfig(seedStackValues());
    const { model, problems } = library.validateStackConfig(raw);
    assert.ok(model, problems.map(library.formatProblem).join("\n"));
    const fromLibrary = await evaluate(
      () => {
        new library.HardenedRke2("test", model);
        return {};
      },
      { stack: "test", mode: "up" },
    );
    const fromProgram = await runProgram(raw);
    assert.deepEqual(
      fromLibrary.resources.map((r) => r.urn).sort(),
      fromProgram.resources.map((r) => r.urn).sort(),
    );
  });
});

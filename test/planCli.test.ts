import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as YAML from "yaml";
import { htmlText, mdFence, mdText } from "../scripts/offline/markdown";
import type { PlanDocument } from "../scripts/offline/plan";
import { PROJECT_DIR } from "./harness";

const PLAN = path.join(PROJECT_DIR, "bin", "scripts", "plan.js");

function plan(...args: string[]) {
  return spawnSync(process.execPath, [PLAN, ...args], { encoding: "utf8", cwd: PROJECT_DIR });
}

function usageError(args: string[], message: RegExp): void {
  const run = plan(...args);
  assert.equal(run.status, 2, run.stderr);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, message);
  assert.match(run.stderr, /^usage: npm run -s plan -- /m, "the usage follows the message");
  assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
}

/** Pipes of a Markdown table row that end a cell (a backslash escapes one). */
function cellSeparators(line: string): number {
  return [...line.matchAll(/(?<!\\)\|/g)].length;
}

describe("npm run plan: usage errors name what is wrong", () => {
  it("an unknown option", () => usageError(["--stak", "prod"], /^plan: Unknown option '--stak'/));
  it("an option without its value", () =>
    usageError(["--stack"], /^plan: Option '--stack <value>' argument missing/));
  it("no stack at all", () => usageError([], /^plan: missing --stack NAME or --config-file PATH/));
  it("two stacks", () =>
    usageError(
      ["--stack", "prod", "--config-file", "x.yaml"],
      /^plan: --stack and --config-file both given/,
    ));
  it("a format that does not exist", () =>
    usageError(
      ["--stack", "prod", "--format", "yaml"],
      /^plan: --format yaml is not a format: use text, md, json\./,
    ));
  it("a stray argument", () =>
    usageError(["--stack", "prod", "extra"], /^plan: Unexpected argument 'extra'/));

  it("--help prints the usage on stdout and succeeds", () => {
    const run = plan("--help");
    assert.equal(run.status, 0, run.stderr);
    for (const option of ["--stack", "--config-file", "--format", "--full", "--output"]) {
      assert.match(run.stdout, new RegExp(`^  ${option}`, "m"));
    }
  });
});

describe("npm run plan: files that cannot be planned", () => {
  it("an unknown stack lists the stacks in stacks/", () => {
    const run = plan("--stack", "nope");
    assert.equal(run.status, 1);
    assert.equal(run.stdout, "");
    const stacks = fs
      .readdirSync(path.join(PROJECT_DIR, "stacks"))
      .flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? []);
    assert.ok(stacks.length >= 2);
    assert.match(run.stderr, /^plan: there is no stack "nope": stacks\/ holds /);
    for (const stack of stacks) assert.ok(run.stderr.includes(`--stack ${stack}`), `names ${stack}`);
    assert.doesNotMatch(run.stderr, /ENOENT|\n\s+at /);
  });

  it("a missing or unreadable settings file is one sentence", () => {
    const missing = plan("--config-file", "no/such/Pulumi.x.yaml");
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr, "plan: cannot read the stack file no/such/Pulumi.x.yaml: no such file\n");
    const broken = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "hrke2-plan-")), "Pulumi.broken.yaml");
    fs.writeFileSync(broken, "config:\n  hardened-rke2:nodes: [\n");
    const run = plan("--config-file", broken);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^plan: cannot read the stack file .*Pulumi\.broken\.yaml: /);
    assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
  });
});

describe("npm run plan: formats", () => {
  const stacks = ["staging", "prod"] as const;
  const json = new Map(
    stacks.map((stack) => {
      const run = plan("--stack", stack, "--format", "json");
      assert.equal(run.status, 0, run.stderr);
      return [stack, { text: run.stdout, doc: JSON.parse(run.stdout) as PlanDocument }];
    }),
  );

  it("--output writes exactly what stdout would get, and prints nothing", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "hrke2-plan-")), "plan.json");
    const run = plan("--stack", "staging", "--format", "json", "--output", file);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "");
    assert.equal(fs.readFileSync(file, "utf8"), json.get("staging")!.text);
  });

  for (const stack of stacks) {
    it(`the terminal plan of ${stack}: every resource, one line per node script, CIS, in a screen or two`, () => {
      const run = plan("--stack", stack);
      assert.equal(run.status, 0, run.stderr);
      const lines = run.stdout.trimEnd().split("\n");
      const doc = json.get(stack)!.doc;
      assert.ok(lines.length <= 2 * 60, `${lines.length} lines`);
      for (const r of doc.resources) {
        assert.ok(
          lines.some((l) => l.includes(r.type) && l.trimEnd().endsWith(` ${r.name}`)),
          `lists ${r.name}`,
        );
      }
      const scripts = doc.resources.filter((r) => r.type === "command:remote:Command");
      const start = lines.indexOf("What runs on which node (one SSH session each, in this order)");
      assert.ok(start > 0);
      const nodeLines = lines.slice(start + 1, start + 1 + scripts.length);
      assert.equal(lines[start + 1 + scripts.length], "", "exactly one line per script");
      const settings = YAML.parse(
        fs.readFileSync(path.join(PROJECT_DIR, "stacks", `Pulumi.${stack}.yaml`), "utf8"),
      ) as {
        config: Record<string, unknown>;
      };
      const nodes = settings.config["hardened-rke2:nodes"] as { name: string; address: string }[];
      for (const node of nodes) {
        const mine = nodeLines.filter((l) => l.includes(`@${node.address}:`));
        assert.ok(mine.length >= 2, `host preparation and registration on ${node.name}`);
        assert.ok(mine.some((l) => /host preparation \(guard sysctl/.test(l)));
        assert.ok(mine.some((l) => /node registration; stdin: secret/.test(l)));
      }
      for (const control of doc.cis)
        assert.ok(lines.some((l) => l.includes(control.id) && l.includes(control.status)));
      assert.ok(!run.stdout.includes("'\\''"), "no escaped script text without --full");
    });
  }

  it("--full adds every input: the scripts as the engine receives them", () => {
    const run = plan("--stack", "staging", "--full");
    assert.equal(run.status, 0, run.stderr);
    const doc = json.get("staging")!.doc;
    const prep = doc.resources.find(
      (r) => r.name.endsWith("-host-prep") && r.type === "command:remote:Command",
    )!;
    const firstLines = String(prep.inputs.create).split("\n").slice(0, 5);
    for (const line of firstLines) assert.ok(run.stdout.includes(line), line);
    assert.ok(!run.stdout.includes("mocktoken"), "secrets stay [secret]");
  });

  it("--format md keeps everything, folded, and every table row keeps its columns", () => {
    const run = plan("--stack", "prod", "--format", "md");
    assert.equal(run.status, 0, run.stderr);
    const doc = json.get("prod")!.doc;
    for (const r of doc.resources) assert.ok(run.stdout.includes(r.name), r.name);
    assert.ok(run.stdout.includes("<details>"));
    assert.equal(run.stdout.split("<details>").length, run.stdout.split("</details>").length);
    for (const line of run.stdout.split("\n").filter((l) => l.startsWith("|"))) {
      assert.ok([5, 6, 7].includes(cellSeparators(line)), line);
    }
  });
});

describe("npm run plan --format md with hostile configured values", () => {
  it("no value opens or closes a fence, a fold or a table cell", () => {
    const staging = fs.readFileSync(path.join(PROJECT_DIR, "stacks", "Pulumi.staging.yaml"), "utf8");
    const hostileValue = "a | b\n```\n</details>\n  ```` | c";
    const document = YAML.parse(staging) as { config: Record<string, { annotations?: unknown }> };
    document.config["hardened-rke2:cluster"].annotations = { "example.com/note": hostileValue };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "hrke2-plan-")), "Pulumi.hostile.yaml");
    fs.writeFileSync(file, YAML.stringify(document));
    const run = plan("--config-file", file, "--format", "md");
    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.stdout.includes("example.com/note"), "the value is in the plan");
    // Walk the document as CommonMark would: inside a fence only a line of at least as many backticks closes it.
    let fence = "";
    let folds = 0;
    for (const line of run.stdout.split("\n")) {
      if (fence) {
        if (new RegExp(`^ {0,3}${fence}\`*\\s*$`).test(line)) fence = "";
        continue;
      }
      const open = /^(`{3,})/.exec(line);
      if (open) fence = open[1];
      else if (line.startsWith("<details>")) folds++;
      else if (line === "</details>") folds--;
      else if (line.startsWith("|")) assert.ok([5, 6, 7].includes(cellSeparators(line)), line);
      assert.ok(folds >= 0 && folds <= 1, line);
    }
    assert.equal(fence, "", "every fence is closed");
    assert.equal(folds, 0, "every fold is closed");
  });
});

describe("Markdown escaping of configured values", () => {
  const hostile = [
    "```",
    "~~~ fence",
    "a | b",
    "<details>",
    "</details>",
    "**bold** _it_ [link](x) $x$ ~~s~~ &amp;",
    "line one\nline two",
    "\\| escaped already",
    "`code` and ``double``",
  ];

  it("mdText leaves no character that ends a cell, opens code, HTML or emphasis", () => {
    for (const text of hostile) {
      const out = mdText(text);
      assert.ok(!out.includes("\n"), out);
      assert.equal(
        out.split("<br>").length,
        text.split("\n").length,
        "line breaks become <br>, nothing else does",
      );
      assert.equal(cellSeparators(out), 0, out);
      // Every special character is preceded by an odd number of backslashes, i.e. escaped.
      for (const m of out.replaceAll("<br>", " ").matchAll(/(\\*)([`*_[\]<>|~&$])/g)) {
        assert.equal(m[1].length % 2, 1, `${out}: ${m[0]} is not escaped`);
      }
    }
  });

  it("mdFence cannot be closed by its content", () => {
    for (const text of [...hostile, "````\n`````", "x\n```\ny"]) {
      const block = mdFence(text, "yaml");
      const fence = /^`+/.exec(block)![0];
      assert.ok(fence.length >= 3);
      const inner = block.split("\n").slice(1, -1);
      assert.equal(inner.join("\n"), text);
      assert.ok(
        inner.every((l) => !new RegExp(`^\\s{0,3}\`{${fence.length},}\\s*$`).test(l)),
        `${text} closes the fence`,
      );
    }
  });

  it("htmlText keeps summaries from opening or closing tags", () => {
    assert.equal(htmlText(`</summary><b x="1">`), "&#60;/summary&#62;&#60;b x=&#34;1&#34;&#62;");
  });
});

/**
 * config/ is the one gate: it may import libraries and itself, never the components it guards (or scripts and
 * the policy pack). Reads the real import graph of the source files, transitively from every file in config/.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as ts from "typescript";
import { PROJECT_DIR } from "./harness";

/** Module specifiers of every import, export-from and require() in a TypeScript file. */
function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === "require")) &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function resolveLocal(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [`${base}.ts`, path.join(base, "index.ts")]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return base;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

describe("config/ import graph", () => {
  const configDir = path.join(PROJECT_DIR, "config");

  it("reaches no file outside config/", () => {
    const seen = new Set<string>();
    const outside: string[] = [];
    const pending = sourceFiles(configDir);
    assert.ok(pending.length >= 5, `only ${pending.length} files in config/`);
    while (pending.length > 0) {
      const file = pending.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const specifier of importsOf(file)) {
        const target = resolveLocal(file, specifier);
        if (target === undefined) continue;
        if (!target.startsWith(configDir + path.sep)) {
          outside.push(`${path.relative(PROJECT_DIR, file)} imports ${specifier}`);
        } else {
          pending.push(target);
        }
      }
    }
    assert.deepEqual(outside, []);
  });

  it("the check sees a forbidden import when there is one", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "config-imports-"));
    const probe = path.join(dir, "probe.ts");
    fs.writeFileSync(
      probe,
      'import { a } from "../components/x";\nexport { b } from "./b";\nconst c = require("../scripts/c");\nvoid [a, c];\n',
    );
    try {
      assert.deepEqual(importsOf(probe), ["../components/x", "./b", "../scripts/c"]);
      const inConfig = path.join(configDir, "probe.ts");
      assert.ok(!resolveLocal(inConfig, "../components/shell/script")!.startsWith(configDir + path.sep));
      assert.ok(resolveLocal(inConfig, "./grammar")!.startsWith(configDir + path.sep));
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});

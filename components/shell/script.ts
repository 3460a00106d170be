import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The one way this program writes a shell script: the fixed bash lives in a `.sh` file beside its
 * renderer, where shellcheck reads it as it is; the program generates only a block of single-quoted
 * values that goes in front of it. Nothing the stack configures is ever spliced into the fixed text.
 */

/**
 * Quotes a value for a POSIX shell (bash, dash): single quotes, with each embedded `'` written as
 * `'\''`. Inside single quotes nothing is special (`$`, backquotes, `\`, newlines), so the shell
 * sees exactly the original string.
 * @throws if the value holds a NUL byte, which no shell word can carry (config/ refuses such values,
 *   so this is an internal invariant).
 */
export function shellQuote(value: string): string {
  if (value.includes("\0")) {
    throw new Error("shellQuote: a shell word cannot contain a NUL byte");
  }
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A value of the generated block: a scalar becomes `name='…'`, a list a bash array `name=('…' '…')`. */
export type ShellValue = string | number | boolean | readonly string[];

/** Shell variable names the block may assign: lower case, so they never collide with the environment's. */
const VARIABLE_NAME = /^[a-z_][a-z0-9_]*$/;

/** The block of values, one assignment a line, in the order given. */
export function renderValuesBlock(values: Readonly<Record<string, ShellValue>>): string {
  return Object.entries(values)
    .map(([name, value]) => {
      if (!VARIABLE_NAME.test(name)) throw new Error(`renderValuesBlock: bad variable name ${name}`);
      if (Array.isArray(value)) return `${name}=(${(value as readonly string[]).map(shellQuote).join(" ")})`;
      return `${name}=${shellQuote(String(value))}`;
    })
    .join("\n");
}

/** The directory of the installed program (where `package.json` sits), from compiled or source code alike. */
function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "components"))) {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`hardened-rke2: cannot find the program's root above ${__dirname}`);
    dir = parent;
  }
}

const cache = new Map<string, string>();

/**
 * The text of a fixed shell file of the program, by its path from the program's root
 * (`components/host/host-prep.sh`). Read from the source tree, so compiled and `ts-node` runs use the
 * same file that shellcheck checks.
 */
export function readShellFile(relativePath: string): string {
  let text = cache.get(relativePath);
  if (text === undefined) {
    text = fs.readFileSync(path.join(packageRoot(), relativePath), "utf8");
    cache.set(relativePath, text);
  }
  return text;
}

/** A line `# @include components/host/lib.sh`: the included file's body goes in its place. */
const INCLUDE_LINE = /^# @include (\S+)$/gm;
/** The line of an included file after which its body begins (above it: its own `#!` and shellcheck header). */
const BODY_START = "\n# @begin\n";

/** The shared files a script includes (its `# @include PATH` lines), in order. */
export function includesOf(relativePath: string): string[] {
  return [...readShellFile(relativePath).matchAll(INCLUDE_LINE)].map((match) => match[1]);
}

/**
 * The body of a shared shell file (functions or a script head), for {@link renderScript}'s
 * `# @include` lines: the file checks on its own under shellcheck, and several scripts share one copy.
 */
function includedBody(includedBy: string, relativePath: string): string {
  const text = readShellFile(relativePath);
  const at = text.indexOf(BODY_START);
  if (at < 0) throw new Error(`${relativePath}, included by ${includedBy}, has no "# @begin" line`);
  const body = text.slice(at + BODY_START.length);
  if (/^# @include /m.test(body))
    throw new Error(`${relativePath} includes another file: includes do not nest`);
  return body.endsWith("\n") ? body.slice(0, -1) : body;
}

/**
 * A whole script: the fixed file's first line (its `#!`) and header, then the generated values block,
 * then the rest of the file. The file marks where the values go with a line `# @values`; everything
 * before it is copied first, everything after it last. Each line `# @include PATH` is replaced by the
 * body of that shared `.sh` file (after its `# @begin` line).
 */
export function renderScript(relativePath: string, values: Readonly<Record<string, ShellValue>>): string {
  const text = readShellFile(relativePath).replace(INCLUDE_LINE, (_line, included: string) =>
    includedBody(relativePath, included),
  );
  const marker = "\n# @values\n";
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`${relativePath} has no "# @values" line for the generated values`);
  return [
    text.slice(0, at + 1),
    "# Values from the stack, each one single-quoted shell word: nothing in them expands.\n",
    renderValuesBlock(values),
    "\n",
    text.slice(at + marker.length),
  ].join("");
}

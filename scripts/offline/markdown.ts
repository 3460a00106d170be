/**
 * Markdown that configured values cannot break. A stack's values (names, labels, warnings quoting a bad value,
 * scripts) reach pull-request comments; none of them may open or close a code fence, end a table cell, start
 * an HTML tag or turn into emphasis, links or math.
 */

/** Characters with a meaning inside a line of GitHub Markdown; each gets a backslash (CommonMark escapes). */
const INLINE_SPECIAL = /[\\`*_[\]<>|~&$]/g;

/** Text for one line of Markdown (a table cell, a list item): special characters escaped, line breaks as <br>. */
export function mdText(text: string): string {
  return text.replace(INLINE_SPECIAL, (c) => `\\${c}`).replace(/\r?\n/g, "<br>");
}

/** A fenced code block whose fence is longer than any run of backticks in `text`, so `text` cannot close it. */
export function mdFence(text: string, info = ""): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${text}\n${fence}`;
}

/** Text inside HTML (a <summary>): the characters HTML gives a meaning escaped. */
export function htmlText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A folded section: `summary` is plain text, `body` is Markdown. */
export function mdDetails(summary: string, body: string): string {
  return `<details><summary>${htmlText(summary)}</summary>\n\n${body}\n\n</details>`;
}

#!/usr/bin/env bash
# The report of one stack's check, in Markdown on stdout, for the job summary and the pull-request
# comment: what `pulumi preview --refresh` saw (the cluster and Rancher) next to what `verify` saw
# (the hosts, which a preview cannot read).
#
# Environment: STACK; PREVIEW_EXIT and VERIFY_EXIT (the exit codes of `pulumi preview` and `verify`,
# empty when they did not run); PREVIEW_REPORT and VERIFY_REPORT (the files their output went to).
# Backticks in the printf formats are Markdown code spans, not command substitutions.
# shellcheck disable=SC2016
set -euo pipefail

# A comment holds at most 65536 characters; each section keeps its end, where the summary is.
readonly MAX_SECTION=30000

: "${STACK:?}"
preview_exit=${PREVIEW_EXIT:-}
preview_report=${PREVIEW_REPORT:-}
verify_exit=${VERIFY_EXIT:-}
verify_report=${VERIFY_REPORT:-}

tail_of() {
  local text=$1
  if [ "${#text}" -gt "$MAX_SECTION" ]; then
    printf '(first %d characters cut, the full text is in the job log)\n' "$((${#text} - MAX_SECTION))"
    text=${text: -$MAX_SECTION}
  fi
  printf '%s\n' "$text"
}

case $preview_exit in
  0) preview_verdict='ran cleanly' ;;
  '') preview_verdict='did not run' ;;
  *) preview_verdict="failed, or found changes where none are expected (exit $preview_exit)" ;;
esac

case $verify_exit in
  0) verify_verdict='every node is compliant' ;;
  1) verify_verdict='drift on the hosts' ;;
  2) verify_verdict='usage or connection errors' ;;
  '') verify_verdict='did not run' ;;
  *) verify_verdict="failed (exit $verify_exit)" ;;
esac

printf '## Stack `%s`\n\n' "$STACK"
printf '| Check | Sees | Result |\n|---|---|---|\n'
printf '| `pulumi preview --refresh` | Rancher, the cluster, the state | %s |\n' "$preview_verdict"
printf '| `verify` | the hosts over SSH (kernel values, files, users, audit policy) | %s |\n\n' "$verify_verdict"

section() {
  local title=$1 file=$2 fence=$3
  printf '<details><summary>%s</summary>\n\n' "$title"
  if [ -n "$file" ] && [ -s "$file" ]; then
    if [ "$fence" = yes ]; then printf '```\n'; fi
    tail_of "$(cat -- "$file")"
    if [ "$fence" = yes ]; then printf '```\n'; fi
  else
    printf 'no output; see the job log\n'
  fi
  printf '\n</details>\n'
}

section 'pulumi preview --refresh' "$preview_report" yes
printf '\n'
section verify "$verify_report" no

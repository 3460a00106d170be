#!/usr/bin/env bash
# The report of one stack's check, in Markdown on stdout, for the job summary and the pull-request
# comment: what `pulumi preview --refresh` saw (the cluster and Rancher) next to what `verify` saw
# (the hosts, which a preview cannot read).
#
# Environment: STACK; PREVIEW_OUTCOME (the preview step's outcome: success, failure, skipped,
# cancelled); PREVIEW_OUTPUT (its output, may be empty); VERIFY_EXIT (verify's exit code, empty when
# it did not run); VERIFY_REPORT (the file verify wrote its Markdown report to).
# Backticks in the printf formats are Markdown code spans, not command substitutions.
# shellcheck disable=SC2016
set -euo pipefail

# A comment holds at most 65536 characters; each section keeps its end, where the summary is.
readonly MAX_SECTION=30000

: "${STACK:?}"
preview_outcome=${PREVIEW_OUTCOME:-skipped}
preview_output=${PREVIEW_OUTPUT:-}
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

case $preview_outcome in
  success) preview_verdict='ran' ;;
  skipped | cancelled) preview_verdict="did not run ($preview_outcome)" ;;
  *) preview_verdict='failed (or found changes where none are expected)' ;;
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

printf '<details><summary>pulumi preview --refresh</summary>\n\n```\n'
if [ -n "$preview_output" ]; then
  tail_of "$preview_output"
else
  printf 'no output; see the job log\n'
fi
printf '```\n\n</details>\n\n'

printf '<details><summary>verify</summary>\n\n'
if [ -n "$verify_report" ] && [ -s "$verify_report" ]; then
  tail_of "$(cat -- "$verify_report")"
else
  printf 'no report; see the job log\n'
fi
printf '\n</details>\n'

#!/usr/bin/env bash
# Posts BODY_FILE as a comment on pull request PR, or replaces the comment this script posted
# before with the same KEY, so each stack keeps one comment that every run brings up to date.
# Usage: pr-comment.sh PR KEY BODY_FILE. Needs GH_TOKEN (pull-requests: write) and GITHUB_REPOSITORY.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: pr-comment.sh PR KEY BODY_FILE" >&2
  exit 2
fi
pr=$1
key=$2
body_file=$3
: "${GITHUB_REPOSITORY:?}"
case $pr in '' | *[!0-9]*)
  echo "pr-comment.sh: PR must be a pull-request number, got '$pr'" >&2
  exit 2
  ;;
esac
case $key in '' | *[!a-z0-9-]*)
  echo "pr-comment.sh: KEY must be lower-case letters, digits and dashes, got '$key'" >&2
  exit 2
  ;;
esac

marker="<!-- hardened-rke2-report: $key -->"
body=$(mktemp)
trap 'rm -f -- "$body"' EXIT
{
  printf '%s\n' "$marker"
  cat -- "$body_file"
} >"$body"

existing=$(gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$pr/comments" \
  --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n 1)
if [ -n "$existing" ]; then
  gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$existing" -F "body=@$body" >/dev/null
  echo "updated comment $existing on pull request $pr"
else
  gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$pr/comments" -F "body=@$body" >/dev/null
  echo "commented on pull request $pr"
fi

#!/usr/bin/env bash
# jq recipes for `rcstream listen` (stdout is one JSON notification per line).
#
#   bash examples/jq_recipes.sh [COUNT]      # runs recipe 1 and stops after COUNT events
#
# Needs the RINGCENTRAL_* variables (or a ./.env) and jq. Copy the recipe you like.
set -euo pipefail
count="${1:-5}"

# 1. Every call event as "status<TAB>caller -> callee" (one line per telephony event).
rcstream listen -e telephony -n "$count" \
  | jq -r --unbuffered '.body.parties[-1] | "\(.status.code)\t\(.from.phoneNumber // "?") -> \(.to.phoneNumber // "?")"'

# More recipes (not run by this script):
#
# 2. SMS texts only:
#    rcstream listen -e sms | jq -r --unbuffered '"\(.body.from.phoneNumber): \(.body.subject)"'
#
# 3. Presence changes of every user of the account, as "extension status":
#    rcstream listen --all-extensions presence \
#      | jq -r --unbuffered '"\(.body.extensionId) \(.body.presenceStatus)"'
#
# 4. React to gaps (events may be missing: re-read your state):
#    rcstream listen -e telephony --lifecycle \
#      | jq -c --unbuffered 'select(.type == "gap")' \
#      | while read -r gap; do ./resync.sh; done
#
# 5. Say when the stream has been down for over a minute (one record per failed attempt):
#    rcstream listen -e telephony --lifecycle \
#      | jq -r --unbuffered 'select(.type == "reconnecting" and .down_for > 60)
#          | "down \(.down_for | floor) s, attempt \(.attempt): \(.reason)"'
#
# 6. Count events per family for a minute:
#    rcstream listen -e telephony,sms,presence --timeout 60 \
#      | jq -r '.event | sub("\\?.*"; "") | split("/") | last' | sort | uniq -c

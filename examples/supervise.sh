#!/usr/bin/env bash
# Keep `rcstream listen --checkpoint` running without systemd (see docs/restarts.md).
#
#   examples/supervise.sh ~/.local/state/rcstream/checkpoint -e telephony >> events.jsonl
#
# Restarts after a failure with a short delay (inside the 180 s recovery window, so the
# next run resumes the same session), stops for good on exit 0 (-n/--timeout reached),
# 2 (usage), 3 (credentials refused) and 130 (Ctrl-C / SIGTERM).
set -u
checkpoint=${1:?usage: supervise.sh CHECKPOINT_PATH [rcstream listen options...]}
shift
umask 077                                   # the checkpoint holds a refresh token
mkdir -p "$(dirname "$checkpoint")"
delay=${RCSTREAM_RESTART_DELAY:-5}          # seconds between restarts
while true; do
    rcstream listen --checkpoint "$checkpoint" "$@"
    code=$?
    case $code in
        0 | 2 | 3 | 130) exit "$code" ;;
    esac
    echo "supervise.sh: rcstream exited $code; restarting in ${delay}s" >&2
    sleep "$delay"
done

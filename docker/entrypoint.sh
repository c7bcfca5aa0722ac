#!/bin/sh
# The node image's entrypoint: FAST's modes from CI_MODE, or any lunge command given as arguments.
#
#   CI_MODE=recording | testing   -> lunge node   (configured by the environment alone, as FAST's node)
#   CI_MODE=report                -> lunge report [TEST_RUN_ID]   (writes the reports of a past run again)
#   arguments                     -> lunge <arguments>   (docker run lunge test --record 12 ...)
#   nothing                       -> lunge node, which says that API mode needs a control plane (exit 2)
set -eu

if [ "$#" -gt 0 ]; then
  exec lunge "$@"
fi

case "${CI_MODE:-}" in
  report|REPORT)
    if [ -n "${TEST_RUN_ID:-}" ]; then
      exec lunge report "$TEST_RUN_ID"
    fi
    exec lunge report
    ;;
  *)
    exec lunge node
    ;;
esac

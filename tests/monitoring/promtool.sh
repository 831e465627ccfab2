#!/bin/sh
# promtool.sh PROMTOOL ARGS...: runs Prometheus' promtool, or exits 77 (ctest:
# skipped) with a note when CMake found none (install Debian's prometheus
# package: scripts/deps).
tool=$1
shift
if [ -z "$tool" ] || [ ! -x "$tool" ]; then
    echo "promtool not found: apt-get install prometheus (scripts/deps); skipping" >&2
    exit 77
fi
exec "$tool" "$@"

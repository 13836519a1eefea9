#!/usr/bin/env bash
# Sanitize benchmark (not a test): builds bench_sanitize (Release) in its own build dir and runs it.
#
#   tests/bench/sanitize_bench.sh [SECONDS_PER_CASE [CASE_SUBSTRING]]  env: BUILD_DIR (default /tmp/mugai-bench-build), JOBS=2
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-/tmp/mugai-bench-build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_sanitize -j "${JOBS:-2}"
exec "$build/bin/bench_sanitize" "$@"

#!/usr/bin/env bash
# Fuzzes one target with AFL++ (Debian's afl++ package): builds build-afl/ with afl-clang-fast++ and
# -DMUGAI_FUZZ=ON (afl-cc links its libAFLDriver in place of libFuzzer's main), then runs afl-fuzz on
# the seed corpus with the target's dictionary. Crashes land in build-afl/afl/<target>/default/crashes/.
# Usage: fuzz/run-afl.sh TARGET [SECONDS=60]   (env: MUGAI_AFL_BUILD)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${1:?usage: fuzz/run-afl.sh TARGET [SECONDS]}
seconds=${2:-60}
build=${MUGAI_AFL_BUILD:-$repo/build-afl}
[[ -f $repo/fuzz/$target.cpp ]] || { echo "run-afl.sh: no such target: fuzz/$target.cpp" >&2; exit 2; }
command -v afl-clang-fast++ >/dev/null || { echo "run-afl.sh: install Debian's afl++ package" >&2; exit 2; }

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=afl-clang-fast++ -DMUGAI_FUZZ=ON \
        -DMUGAI_BUILD_TESTS=OFF >/dev/null
fi
AFL_QUIET=1 cmake --build "$build" --target "fuzz_$target" -j 2 >"$build/build-$target.log" 2>&1 ||
  { tail -30 "$build/build-$target.log" >&2; exit 2; }

case $target in
  smtp_*) dict=smtp.dict ;;
  config_*) dict= ;;
  *) dict=mime.dict ;;
esac
out=$build/afl/$target
mkdir -p "$out"
args=(-i "$repo/fuzz/corpus/$target" -o "$out" -V "$seconds" -m none -t 5000)
[[ -n $dict ]] && args+=(-x "$repo/fuzz/dict/$dict")
# ASan needs these; AFL_SKIP_CPUFREQ/NO_AFFINITY let it run on shared machines and in containers.
export AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0
afl-fuzz "${args[@]}" -- "$build/bin/fuzz_$target" >"$out/afl.log" 2>&1 || true
stats=$out/default/fuzzer_stats
[[ -f $stats ]] || { tail -30 "$out/afl.log" >&2; echo "run-afl.sh: afl-fuzz did not start" >&2; exit 2; }
grep -E '^(execs_done|execs_per_sec|corpus_count|bitmap_cvg|saved_crashes|saved_hangs)' "$stats"
crashes=$(find "$out/default/crashes" -type f -name 'id:*' | wc -l)
if (( crashes > 0 )); then
  echo "run-afl.sh: $crashes crash(es) in $out/default/crashes/ (minimize with afl-tmin, see fuzz/README.md)" >&2
  exit 1
fi

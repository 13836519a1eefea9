#!/usr/bin/env bash
# Fuzzes one target with libFuzzer: builds build-fuzz/ (clang++-14, -DMUGAI_FUZZ=ON) when needed, runs
# on a scratch copy of the seed corpus with the target's dictionary, and prints execs/s and coverage.
# Exit status 1 on a crash or oracle failure; the input is copied into fuzz/regressions/<target>/.
# Usage: fuzz/run.sh TARGET [SECONDS=60] [JOBS=1]
# Env: MUGAI_FUZZ_BUILD (build dir), MUGAI_FUZZ_WORK (scratch dir), MUGAI_FUZZ_ARGS (more libFuzzer flags).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${1:?usage: fuzz/run.sh TARGET [SECONDS] [JOBS]}
seconds=${2:-60}
jobs=${3:-1}
build=${MUGAI_FUZZ_BUILD:-$repo/build-fuzz}
work=${MUGAI_FUZZ_WORK:-$build/work/$target}
[[ -f $repo/fuzz/$target.cpp ]] || { echo "run.sh: no such target: fuzz/$target.cpp" >&2; exit 2; }

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DMUGAI_FUZZ=ON \
        -DMUGAI_BUILD_TESTS=OFF >/dev/null
fi
if ! cmake --build "$build" --target "fuzz_$target" -j 2 >"$build/build-$target.log" 2>&1; then
  tail -30 "$build/build-$target.log" >&2
  echo "run.sh: build of fuzz_$target failed (log: $build/build-$target.log)" >&2
  exit 2
fi

case $target in
  smtp_*) dict=smtp.dict ;;
  html_*) dict=html.dict ;;
  admin_*) dict=admin.dict ;;
  pdf_*|sanitize_file) dict=pdf.dict ;;
  config_*|image_*|bmp_*) dict= ;;
  *) dict=mime.dict ;;
esac

# The scratch corpus grows across runs; the repository's seeds and regressions are only read.
mkdir -p "$work/corpus" "$work/artifacts"
for d in "$repo/fuzz/corpus/$target" "$repo/fuzz/regressions/$target"; do
  [[ -d $d ]] && find "$d" -maxdepth 1 -type f ! -name '.*' -exec cp -n -t "$work/corpus" {} +
done
rm -f "$work/artifacts/"*

args=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$work/artifacts/")
[[ -n $dict ]] && args+=(-dict="$repo/fuzz/dict/$dict")
(( jobs > 1 )) && args+=(-fork="$jobs")
read -r -a extra <<<"${MUGAI_FUZZ_ARGS:-}"
args+=("${extra[@]}")
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
log=$work/fuzz.log
echo "run.sh: fuzzing $target for ${seconds}s (jobs=$jobs), log $log"
status=0
"$build/bin/fuzz_$target" "${args[@]}" "$work/corpus" >"$log" 2>&1 || status=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
if [[ -z $execs ]]; then  # fork mode prints no final stats: take the last status line
  execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
  rate=$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | sed 's/exec\/s: //' || true)
fi
echo "run.sh: $target: ${execs:-?} execs, ${rate:-?} execs/s, ${cov:-cov: ?}, corpus $(ls "$work/corpus" | wc -l) files"

if (( status != 0 )); then
  found=("$work/artifacts/"*)
  grep -E 'ERROR|oracle failure|evidence|SUMMARY' "$log" | head -20 >&2 || true
  mkdir -p "$repo/fuzz/regressions/$target"
  for f in "${found[@]}"; do
    [[ -f $f ]] || continue
    cp "$f" "$repo/fuzz/regressions/$target/"
    echo "run.sh: FINDING kept as fuzz/regressions/$target/$(basename "$f")" >&2
    echo "run.sh: reproduce: $build/bin/fuzz_$target fuzz/regressions/$target/$(basename "$f")" >&2
  done
  echo "run.sh: $target FAILED (exit $status), full log: $log" >&2
  exit 1
fi

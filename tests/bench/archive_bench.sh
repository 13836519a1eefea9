#!/usr/bin/env bash
# Archive benchmark (not a test): entries/s and MB/s (of extracted bytes) of the gateway's whole path
# (`mugaictl sanitize`: the sandboxed worker unpacks with libarchive, keeps each text as text and renders
# each PDF) on a zip of 1,000 small Japanese texts and one-page PDFs, and on a zip of one 100 MB text file
# (deflated to about 13 MB), beside plain `bsdtar -xOf THE.zip > /dev/null` of the same zips in the same
# run (extraction alone), and the 100 MB text attached as a text/plain part (the text path without an archive).
#
#   tests/bench/archive_bench.sh [BUILD_BIN_DIR]   env: ENTRIES (default 1000), BIG_MB (100), REPEAT (3)
# Needs bsdtar (libarchive-tools) and /usr/bin/python3 with Pillow and pikepdf (the integration tests' samples).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/build/bin}
repeat=${REPEAT:-3}
work=$(mktemp -d /tmp/mugai-archive-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

ROOT=$root ENTRIES=${ENTRIES:-1000} BIG_MB=${BIG_MB:-100} /usr/bin/python3 - <<'PY'
import os, random, sys, zipfile
from email.message import EmailMessage
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "integration"))
from archive_samples import zip_archive  # the builder the integration test uses
from test_render_pdf import text_pdf

rnd = random.Random(12)
words = "令和 年度 水道局 予算 要求書 住民 窓口 申請 交付 道路 学校 図書館 議会 通知 合計 金額 千円 です。".split()
def prose(n):
    return " ".join(rnd.choice(words) for _ in range(n)) + "\n"
entries = int(os.environ["ENTRIES"])
small = {}
for i in range(entries):
    if i % 2:
        small["文書/%04d.pdf" % i] = text_pdf(["Document %d of the water bureau" % i, "Total: %d items" % rnd.randrange(1000)])
    else:
        small["文書/%04d.txt" % i] = prose(60).encode()
open("small.zip", "wb").write(zip_archive(small))
# One text file of BIG_MB megabytes, written in 1 MB pieces so the generator stays small.
with zipfile.ZipFile("big.zip", "w", zipfile.ZIP_DEFLATED) as z, z.open("報告書.txt", "w", force_zip64=True) as f:
    piece = "".join(prose(40) for _ in range(400)).encode()
    left = int(os.environ["BIG_MB"]) * 1000 * 1000
    while left > 0:
        f.write(piece[:left])
        left -= len(piece)
# The big entry attached as a text/plain part itself: what the text path costs without any archive.
m = EmailMessage()
m["From"], m["To"], m["Subject"] = "a@example.jp", "b@demo.mugai.test", "plain"
m.set_content("資料を添付します。\n")
m.add_attachment(zipfile.ZipFile("big.zip").read("報告書.txt"), maintype="text", subtype="plain", filename="報告書.txt")
open("plain.eml", "wb").write(m.as_bytes())
for kind in ("small", "big"):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.jp", "b@demo.mugai.test", kind
    m.set_content("資料を添付します。\n")
    m.add_attachment(open(kind + ".zip", "rb").read(), maintype="application", subtype="zip", filename=kind + ".zip")
    open(kind + ".eml", "wb").write(m.as_bytes())
PY

# The demo config, its quarantine in this run's directory, every limit a 1,000-entry or 100 MB archive meets
# raised: the archive's own, the message's size, parts, time and decoded bytes, the worker's clock, and its memory
# to the most workers.memory allows.
ctl=("$bin/mugaictl" sanitize --set "quarantine.dir=\"$work/quarantine\""
  --set archive.max_entries=20000 --set 'archive.max_total_size="4GiB"'
  --set sanitize.max_parts=100000 --set sanitize.max_time_per_message=3600
  --set 'sanitize.max_decoded_part="2GiB"' --set 'sanitize.max_decoded_total="2GiB"'
  --set 'workers.memory="2GiB"' --set workers.timeout=3600 --set workers.cpu_seconds=3600
  --set 'smtp.max_message_size="2GiB"')
# What each zip holds: entries and extracted bytes (bsdtar's listing, not the builder's word).
entries() { bsdtar -tf "$1" | grep -vc '/$'; }
bytes() { bsdtar -tvf "$1" | awk '{ s += $5 } END { print s }'; }
# The best wall seconds of REPEAT runs of "$@" (its output discarded).
best() {
  local best_wall=
  for _ in $(seq "$repeat"); do
    /usr/bin/time -o "$work/time" -f "%e" "$@" >/dev/null 2>&1 || { echo "$* failed" >&2; exit 1; }
    local t
    t=$(tail -1 "$work/time")
    if [[ -z $best_wall ]] || (( $(echo "$t < $best_wall" | bc) )); then best_wall=$t; fi
  done
  echo "$best_wall"
}

# The whole path did unpack every entry: each one is in the report, none removed.
for kind in small big; do
  "${ctl[@]}" --report "$kind.json" "$kind.eml" "$kind.out.eml" 2>"$kind.err" || { cat "$kind.err" >&2; exit 1; }
  KIND=$kind WANT=$(entries "$kind.zip") /usr/bin/python3 -c '
import json, os, sys
parts = json.load(open(os.environ["KIND"] + ".json"))["parts"]
archive = os.environ["KIND"] + ".zip"
rows = [p for p in parts if p["filename"].startswith(archive + "/")]
bad = [p for p in rows if p["decision"] not in ("kept", "replaced")]
if len(rows) != int(os.environ["WANT"]) or bad:
    sys.exit("%s: %d of %s entries unpacked; first refused: %s" % (archive, len(rows) - len(bad), os.environ["WANT"], bad[:1]))'
done

printf '%-6s %8s %10s  %-34s %9s %12s %8s\n' zip entries MB tool seconds "entries/s" "MB/s"
for kind in small big; do
  n=$(entries "$kind.zip")
  mb=$(echo "scale=2; $(bytes "$kind.zip") / 1000000" | bc)
  for tool in "mugaictl sanitize (worker, policy)" "bsdtar -xOf > /dev/null"; do
    if [[ $tool == mugaictl* ]]; then s=$(best "${ctl[@]}" "$kind.eml" "$kind.out.eml"); else s=$(best bsdtar -xOf "$kind.zip"); fi
    awk -v k="$kind" -v n="$n" -v mb="$mb" -v t="$tool" -v s="$s" \
      'BEGIN { printf "%-6s %8d %10.2f  %-34s %9.2f %12.2f %8.2f\n", k, n, mb, t, s, n / (s + 1e-4), mb / (s + 1e-4) }'
  done
done
mb=$(echo "scale=2; $(bytes big.zip) / 1000000" | bc)
s=$(best "${ctl[@]}" plain.eml plain.out.eml)
awk -v mb="$mb" -v s="$s" 'BEGIN { printf "%-6s %8d %10.2f  %-34s %9.2f %12.2f %8.2f\n", "text", 1, mb, "mugaictl sanitize, as a text part", s, 1 / (s + 1e-4), mb / (s + 1e-4) }'

#!/usr/bin/env bash
# Office conversion benchmark (not a test): seconds per document of convert_to_pdf (LibreOffice in
# bubblewrap, fresh profile) beside plain unsandboxed `soffice --headless --convert-to pdf` with a fresh
# profile each time, on the same 10-page Japanese + English docx in the same run, and their ratio.
#
#   tests/bench/office_convert_bench.sh [OFFICE_CONVERT_BENCH]   env: N (default 5)
# Needs LibreOffice, bubblewrap, poppler-utils and /usr/bin/python3 with python3-docx.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
driver=${1:-$root/build/bin/office_convert_bench}
n=${N:-5}
work=$(mktemp -d /tmp/mugai-office-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

/usr/bin/python3 - <<'PY'
import docx
from docx.enum.text import WD_BREAK
d = docx.Document()
ja = "令和6年度 東京都千代田区 見積書。本書は業務委託に関する見積金額と納期を記載したものです。"
en = "This quotation covers the annual maintenance contract, delivery schedule and payment terms."
for page in range(10):
    d.add_heading("第%d章 / Chapter %d" % (page + 1, page + 1), level=1)
    for i in range(4):
        d.add_paragraph(ja * 2)
        d.add_paragraph(en * 2)
    if page < 9:
        d.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
d.save("bench.docx")
PY
pages=$("$driver" bench.docx check.pdf && pdfinfo check.pdf | awk '/^Pages:/ {print $2}')

# Wall seconds for N runs of "$@" (each run its own fresh state), printed as seconds per document.
per_doc() {
  local start end
  start=$(date +%s.%N)
  for i in $(seq "$n"); do "$@" "$i" >/dev/null 2>&1 || { echo "$1 run $i failed" >&2; exit 1; }; done
  end=$(date +%s.%N)
  echo "scale=2; ($end - $start) / $n" | bc
}
sandboxed() { "$driver" bench.docx "out-$1.pdf"; }
plain() {
  rm -rf "profile-$1" "plain-$1"
  soffice -env:UserInstallation="file://$work/profile-$1" --headless --norestore --convert-to pdf \
    --outdir "plain-$1" bench.docx
  test -s "plain-$1/bench.pdf"
}
s_sandboxed=$(per_doc sandboxed)
s_plain=$(per_doc plain)
printf '%-40s %6s %10s\n' tool pages "s/doc"
printf '%-40s %6s %10s\n' "convert_to_pdf (bwrap, fresh profile)" "$pages" "$s_sandboxed"
printf '%-40s %6s %10s\n' "soffice --convert-to pdf (fresh profile)" "$pages" "$s_plain"
printf 'ratio sandboxed / plain: %s\n' "$(echo "scale=2; $s_sandboxed / $s_plain" | bc)"

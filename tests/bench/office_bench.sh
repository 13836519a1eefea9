#!/usr/bin/env bash
# Office benchmark (not a test): seconds per document and documents/s for a 10-page Japanese + English
# docx through the gateway's whole path (`mugaictl sanitize`: a sandboxed worker detects it and asks for
# a conversion, LibreOffice runs in bubblewrap with a fresh profile, the worker renders the PDF to an
# image PDF with its text layer), through the conversion alone (convert_to_pdf), and through plain
# unsandboxed `soffice --headless --convert-to pdf` with a fresh profile each time, same document, same
# run, one document at a time; and the ratio of the whole path to plain LibreOffice.
#
#   tests/bench/office_bench.sh [BUILD_BIN_DIR]   env: N (default 5)
# Needs LibreOffice, bubblewrap, poppler-utils and /usr/bin/python3 with python3-docx.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/build/bin}
n=${N:-5}
work=$(mktemp -d /tmp/mugai-office-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

/usr/bin/python3 - <<'PY'
import email.policy
from email.message import EmailMessage
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
msg = EmailMessage()
msg["From"], msg["To"], msg["Subject"] = "a@example.org", "u@demo.mugai.test", "見積書"
msg.set_content("見積書を添付します。\n")
msg.add_attachment(open("bench.docx", "rb").read(), maintype="application",
                   subtype="vnd.openxmlformats-officedocument.wordprocessingml.document", filename="見積書.docx")
open("bench.eml", "wb").write(msg.as_bytes(policy=email.policy.SMTP))
PY
# The demo config, its quarantine in this run's directory.
ctl() { "$bin/mugaictl" --set "quarantine.dir=\"$work/quarantine\"" "$@"; }
"$bin/office_convert_bench" bench.docx check.pdf
pages=$(pdfinfo check.pdf | awk '/^Pages:/ {print $2}')
ctl sanitize bench.eml check.eml 2>/dev/null
PAGES=$pages /usr/bin/python3 -c '
import email, email.policy, os, sys
body = email.message_from_bytes(open("check.eml", "rb").read(), policy=email.policy.default).get_body(("plain",))
want = "converted from docx by LibreOffice; %s of %s page(s) rendered" % (os.environ["PAGES"], os.environ["PAGES"])
sys.exit(0 if want in " ".join(body.get_content().split()) else "the whole path did not render all pages")'


# Wall seconds per document over N runs of "$@" (each run its own fresh state).
per_doc() {
  local start end
  start=$(date +%s.%N)
  for i in $(seq "$n"); do "$@" "$i" >/dev/null 2>&1 || { echo "$1 run $i failed" >&2; exit 1; }; done
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v n="$n" 'BEGIN { printf "%.2f", (e - s) / n }'
}
whole() { ctl sanitize bench.eml "out-$1.eml"; }
converted() { "$bin/office_convert_bench" bench.docx "out-$1.pdf"; }
plain() {
  rm -rf "profile-$1" "plain-$1"
  soffice -env:UserInstallation="file://$work/profile-$1" --headless --norestore --convert-to pdf \
    --outdir "plain-$1" bench.docx
  test -s "plain-$1/bench.pdf"
}
s_whole=$(per_doc whole)
s_converted=$(per_doc converted)
s_plain=$(per_doc plain)
row() { awk -v t="$1" -v p="$2" -v s="$3" 'BEGIN { printf "%-58s %6s %8.2f %8.2f\n", t, p, s, 1 / s }'; }
printf '%-58s %6s %8s %8s\n' "path ($n runs each, one at a time)" pages "s/doc" "docs/s"
row "mugaictl sanitize (worker + LibreOffice in bwrap + render)" "$pages" "$s_whole"
row "convert_to_pdf (LibreOffice in bwrap, fresh profile)" "$pages" "$s_converted"
row "soffice --convert-to pdf (unsandboxed, fresh profile)" "$pages" "$s_plain"
awk -v w="$s_whole" -v c="$s_converted" -v p="$s_plain" \
  'BEGIN { printf "ratio whole path / plain LibreOffice: %.2f (target <= 1.30); sandbox alone: %.2f\n", w / p, c / p }'

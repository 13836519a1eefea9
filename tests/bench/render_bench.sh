#!/usr/bin/env bash
# PDF rendering benchmark (not a test): pages/s and KB/page of `mugaictl sanitize` on a text PDF and a
# scanned PDF (one JPEG per page), beside `pdftoppm -r 150 -jpeg` and `pdftoppm -r 150` on the same files
# in the same run. Each tool runs on one core; pages/s are per CPU second (user + sys) and per wall second.
#
#   tests/bench/render_bench.sh [MUGAICTL]   env: REPEAT (default 3), TEXT_PAGES (24), SCAN_PAGES (10)
# Needs poppler-utils and /usr/bin/python3 with Pillow (scripts/packages.txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
ctl=${1:-$root/build/bin/mugaictl}
repeat=${REPEAT:-3}
work=$(mktemp -d /tmp/mugai-render-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

ROOT=$root TEXT_PAGES=${TEXT_PAGES:-24} SCAN_PAGES=${SCAN_PAGES:-10} /usr/bin/python3 - <<'PY'
import io, os, random, subprocess, sys
from email.message import EmailMessage
from PIL import Image, ImageFilter

sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "integration"))
from test_render_pdf import pdf, stream  # the PDF syntax writer the integration test uses

rnd = random.Random(10)
words = ("the city water bureau report budget of section meeting minutes approved residents plan annual "
         "service road public school health library tax office council notice item total request").split()
def document(pages):
    # objects: 1 catalog, 2 pages, 3 font, then per page: page, contents
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", None, b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>"]
    kids = []
    for p in range(pages):
        lines = [" ".join(rnd.choice(words) for _ in range(12)) for _ in range(52)]
        content = b"BT /F1 11 Tf 60 760 Td 13.5 TL (Page %d) ' " % (p + 1) + b" ".join(b"(%s) '" % l.encode() for l in lines) + b" ET"
        kids.append(len(objs) + 1)
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (len(objs) + 2))
        objs.append(stream(content))
    objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), pages)
    return pdf(objs)

text = document(int(os.environ["TEXT_PAGES"]))
open("text.pdf", "wb").write(text)
# A scan: each page of a text document rasterized at 200 dpi, blurred a little, noise added, JPEG q75.
subprocess.run(["pdftoppm", "-r", "200", "-gray", "-l", os.environ["SCAN_PAGES"], "text.pdf", "scanpage"], check=True)
objs = [b"<< /Type /Catalog /Pages 2 0 R >>", None]
kids = []
for name in sorted(f for f in os.listdir(".") if f.startswith("scanpage")):
    img = Image.open(name).convert("L").filter(ImageFilter.GaussianBlur(0.6))
    noise = Image.effect_noise(img.size, 12)
    img = Image.blend(img, noise, 0.08)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=75)
    w, h = img.size
    kids.append(len(objs) + 1)
    objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im 0 0 R >> >> /Contents %d 0 R >>" % (len(objs) + 2))
    objs.append(stream(b"q 595 0 0 842 0 0 cm /Im Do Q"))
    objs.append(stream(buf.getvalue(), b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode" % (w, h)))
    objs[-3] = objs[-3].replace(b"/Im 0 0 R", b"/Im %d 0 R" % len(objs))
    os.remove(name)
objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
open("scan.pdf", "wb").write(pdf(objs))
for kind in ("text", "scan"):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.jp", "b@demo.mugai.test", kind
    m.set_content("bench\n")
    m.add_attachment(open(kind + ".pdf", "rb").read(), maintype="application", subtype="pdf", filename=kind + ".pdf")
    open(kind + ".eml", "wb").write(m.as_bytes())
PY

pages() { pdfinfo "$1" | awk '/^Pages:/ {print $2}'; }
# Runs "$@" REPEAT times; prints the best wall and CPU seconds of one run.
measure() {
  local best_wall= best_cpu=
  for _ in $(seq "$repeat"); do
    local t
    /usr/bin/time -o "$work/time" -f "%e %U %S" "$@" >/dev/null 2>&1
    t=$(tail -1 "$work/time")
    read -r wall user sys <<<"$t"
    local cpu
    cpu=$(echo "$user + $sys" | bc)
    if [[ -z $best_wall ]] || (( $(echo "$wall < $best_wall" | bc) )); then best_wall=$wall; fi
    if [[ -z $best_cpu ]] || (( $(echo "$cpu < $best_cpu" | bc) )); then best_cpu=$cpu; fi
  done
  echo "$best_wall $best_cpu"
}
rate() { echo "scale=1; $1 / ($2 + 0.0001)" | bc; }

printf '%-6s %-22s %6s %10s %10s %9s\n' doc tool pages "pages/s" "pages/cpu-s" "KB/page"
for kind in text scan; do
  n=$(pages "$kind.pdf")
  read -r wall cpu < <(measure "$ctl" sanitize "$kind.eml" "$kind.out.eml")
  "$ctl" sanitize "$kind.eml" "$kind.out.eml"
  kb=$(/usr/bin/python3 -c "
import email, email.policy, sys
m = email.message_from_binary_file(open('$kind.out.eml', 'rb'), policy=email.policy.default)
a = [p.get_content() for p in m.iter_attachments()]
assert len(a) == 1, 'no rendered attachment'
print('%.1f' % (len(a[0]) / 1024 / $n))")
  printf '%-6s %-22s %6s %10s %10s %9s\n' "$kind" "mugaictl sanitize" "$n" "$(rate "$n" "$wall")" "$(rate "$n" "$cpu")" "$kb"
  rm -rf ppm && mkdir ppm
  read -r wall cpu < <(measure pdftoppm -r 150 -jpeg "$kind.pdf" ppm/p)
  kb=$(du -cb ppm/p-*.jpg | tail -1 | awk -v n="$n" '{printf "%.1f", $1 / 1024 / n}')
  printf '%-6s %-22s %6s %10s %10s %9s\n' "$kind" "pdftoppm -r 150 -jpeg" "$n" "$(rate "$n" "$wall")" "$(rate "$n" "$cpu")" "$kb"
  rm -rf ppm && mkdir ppm
  read -r wall cpu < <(measure pdftoppm -r 150 "$kind.pdf" ppm/p)
  kb=$(du -cb ppm/p-*.ppm | tail -1 | awk -v n="$n" '{printf "%.1f", $1 / 1024 / n}')
  printf '%-6s %-22s %6s %10s %10s %9s\n' "$kind" "pdftoppm -r 150 (ppm)" "$n" "$(rate "$n" "$wall")" "$(rate "$n" "$cpu")" "$kb"
done

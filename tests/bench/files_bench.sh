#!/usr/bin/env bash
# Watched-folder benchmark (not a test): FILES mixed files (text, small PDFs, PNG and JPEG images, made
# here) are dropped at once into a running gateway's files.inbox and timed until the last report is in
# files.outbox; then the same files, each wrapped as a mail, go one by one through `mugaictl sanitize`
# in the same run. Prints files/s and MB/s for both.
#
#   tests/bench/files_bench.sh   env: MUGAI_BIN (default build/bin), FILES=200, CONCURRENCY=2
#                                (files.concurrency), WORKERS=2 (workers.count), LIMIT=1800 (s)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${MUGAI_BIN:-$root/build/bin}
count=${FILES:-200}
concurrency=${CONCURRENCY:-2}
workers=${WORKERS:-2}
limit=${LIMIT:-1800}
py=/usr/bin/python3  # Debian's python3-pil makes the images (tests/integration/image_samples.py)

[ -x "$bin/mugai-gateway" ] || { echo "no $bin/mugai-gateway (set MUGAI_BIN)" >&2; exit 2; }
"$py" -c 'import PIL' 2>/dev/null || { echo "missing python3-pil" >&2; exit 2; }

work=$(mktemp -d /tmp/mugai-files-bench.XXXXXX)
gw=
cleanup() {
  [ -n "$gw" ] && kill "$gw" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

source "$root/tests/bench/ports.sh"

mkdir -p "$work/files" "$work/mails" "$work/inbox" "$work/out"
# The files, and each as a mail with the file attached (what a sender would have mailed instead).
PYTHONPATH="$root/tests/integration" "$py" - "$count" "$work" <<'PY'
import io, os, sys
from email.message import EmailMessage
import email.policy
from image_samples import graphic, photo
from test_render_pdf import text_pdf

n, work = int(sys.argv[1]), sys.argv[2]
def image(im, fmt):
    out = io.BytesIO()
    im.save(out, fmt)
    return out.getvalue()
kinds = [
    ("txt", "text/plain", lambda i: ("令和8年度 予算要求書 第%d号\n要求総額は１２３，４５６千円です。\n" % i).encode() * 40),
    ("pdf", "application/pdf", lambda i: text_pdf(["Budget request %d" % i, "Total: %d items" % (i * 7)])),
    ("png", "image/png", lambda i: image(graphic(320 + i % 7, 240), "PNG")),
    ("jpg", "image/jpeg", lambda i: image(photo(640 + i % 5, 480), "JPEG")),
]
for i in range(n):
    ext, ctype, make = kinds[i % len(kinds)]
    name = "資料%03d.%s" % (i, ext)
    data = make(i)
    with open(os.path.join(work, "files", name), "wb") as f:
        f.write(data)
    msg = EmailMessage()
    msg["From"] = "sender@example.org"
    msg["To"] = "user@demo.mugai.test"
    msg["Subject"] = "資料の送付 %d" % i
    msg.set_content("資料を添付します。\n")
    maintype, subtype = ctype.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    with open(os.path.join(work, "mails", "%03d.eml" % i), "wb") as f:
        f.write(msg.as_bytes(policy=email.policy.SMTP))
PY
bytes=$(du -cb "$work"/files/* | tail -1 | cut -f1)

port=$(free_port)
cd "$work"  # the embedded default's relative paths (var/maildir) land here
"$bin/mugai-gateway" \
  --set "smtp.listen=[\"127.0.0.1:$port\"]" --set 'metrics.listen=""' --set "spool.dir=\"$work/spool\"" \
  --set "quarantine.dir=\"$work/quarantine\"" --set "workers.count=$workers" \
  --set "files.inbox=\"$work/inbox\"" --set "files.outbox=\"$work/outbox\"" --set 'files.settle="0"' \
  --set 'files.scan_interval="1s"' --set "files.concurrency=$concurrency" \
  --set "log.file=\"$work/gateway.log\"" >"$work/stderr" 2>&1 &
gw=$!
wait_port "$port" 10

echo "watched folder: $count files ($bytes bytes), files.concurrency=$concurrency, workers.count=$workers..." >&2
# Dropped as an uploader would: written under a hidden name, renamed in (files.settle = 0).
start=$(date +%s.%N)
for f in "$work"/files/*; do
  name=$(basename "$f")
  cp "$f" "$work/inbox/.$name"
  mv "$work/inbox/.$name" "$work/inbox/$name"
done
deadline=$((SECONDS + limit))
while [ "$(find "$work/outbox" -maxdepth 1 -name '*.report.json' | wc -l)" -lt "$count" ]; do
  [ $SECONDS -lt $deadline ] || { echo "not done after $limit s" >&2; exit 1; }
  sleep 0.05
done
watch_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
sanitized=$(grep -c '"file-sanitized"' "$work/quarantine/audit.log" || true)
kill "$gw"; wait "$gw" 2>/dev/null || true; gw=

echo "mugaictl sanitize: the same $count files, each as a mail, one after another..." >&2
start=$(date +%s.%N)
for m in "$work"/mails/*.eml; do
  "$bin/mugaictl" sanitize --set "quarantine.dir=\"$work/q2\"" "$m" "$work/out/$(basename "$m")" 2>/dev/null ||
    { echo "mugaictl sanitize failed on $m" >&2; exit 1; }
done
ctl_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')

row() {  # row LABEL SECONDS
  awk -v l="$1" -v s="$2" -v n="$count" -v b="$bytes" 'BEGIN { printf "%-36s %8.2f %10.1f %10.3f\n", l, s, n / s, b / 1e6 / s }'
}
printf '%-36s %8s %10s %10s\n' "path" "seconds" "files/s" "MB/s"
row "watched folder (drop to last report)" "$watch_s"
row "mugaictl sanitize (a mail per file)" "$ctl_s"
echo "($sanitized of $count files sanitized by the watched folder)"

#!/usr/bin/env bash
# Streaming spool benchmark (not a test): SESSIONS concurrent SMTP sessions each send one SIZE_MB
# message to mugai-gateway (durable spool on) relaying to smtp-sink; the gateway's RSS (VmRSS, and
# VmHWM at the end) is sampled throughout, receiving and the scheduler's sanitize/deliver phase alike,
# and printed beside the messages accepted and delivered. Then relay_bench.sh runs in the same
# invocation so the relay rate is printed beside Postfix's under the same machine load.
#
#   tests/bench/stream_bench.sh   env: MUGAI_BIN (default build/bin), SESSIONS=200, SIZE_MB=25,
#                                 CONCURRENCY=20 (delivery.concurrency), PHASE_LIMIT=1800 (s),
#                                 RELAY=1 (0 skips relay_bench.sh), RELAY_SESSIONS="20", MSGS=5000
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${MUGAI_BIN:-$root/build/bin}
sessions=${SESSIONS:-200}
size_mb=${SIZE_MB:-25}
concurrency=${CONCURRENCY:-20}
limit=${PHASE_LIMIT:-1800}

for tool in /usr/sbin/smtp-sink python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
[ -x "$bin/mugai-gateway" ] || { echo "no $bin/mugai-gateway (set MUGAI_BIN)" >&2; exit 2; }

work=$(mktemp -d /tmp/mugai-stream-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

source "$root/tests/bench/ports.sh"

sink_port=$(free_port); gw_port=$(free_port)
user=()
[ "$(id -u)" -eq 0 ] && user=(-u nobody)
/usr/sbin/smtp-sink -c "${user[@]}" -m 1024 "127.0.0.1:$sink_port" 1024 >"$work/sink.out" 2>&1 &
pids+=($!)
wait_port "$sink_port" 10
"$bin/mugai-gateway" \
  --set "smtp.listen=[\"127.0.0.1:$gw_port\"]" --set "spool.dir=\"$work/spool\"" \
  --set "quarantine.dir=\"$work/quarantine\"" \
  --set "delivery.next_hop=\"smtp://127.0.0.1:$sink_port\"" \
  --set 'delivery.tls="none"' --set "delivery.concurrency=$concurrency" --set 'spool.fsync=true' \
  --set "smtp.max_message_size=$(((size_mb + 1) * 1000 * 1000))" \
  --set 'smtp.max_connections=1000' --set 'smtp.max_connections_per_ip=1000' \
  --set "log.file=\"$work/gateway.log\"" >"$work/stderr" 2>&1 &
gw=$!
pids+=($gw)
wait_port "$gw_port" 10

echo "mugai-gateway: $sessions sessions x $size_mb MB, delivery.concurrency=$concurrency..." >&2
# The clients, the RSS sampler and the sink counter in one asyncio process: each session writes its
# message in 256 KiB pieces as fast as the gateway reads; sampling goes on until every accepted
# message has reached the sink (or PHASE_LIMIT).
timeout $((limit + 60)) python3 - "$gw_port" "$gw" "$sessions" "$size_mb" "$limit" "$work/sink.out" <<'PY'
import asyncio, re, sys, time
port, pid, n, size_mb, limit, sink_out = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                          int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
LINE = b"y" * 76 + b"\r\n"
PIECE = LINE * (256 * 1024 // len(LINE))
pieces = size_mb * 1000 * 1000 // len(PIECE)
peak = {"rss": 0, "phase": "receive", "rss_receive": 0}

def status(key):
    for line in open("/proc/%s/status" % pid):
        if line.startswith(key):
            return int(line.split()[1])
    return 0

def delivered():
    with open(sink_out, "rb") as f:
        counts = re.findall(rb"mesg=(\d+)", f.read().replace(b"\r", b"\n"))
    return int(counts[-1]) if counts else 0

async def sample():
    while True:
        rss = status("VmRSS:")
        peak["rss"] = max(peak["rss"], rss)
        if peak["phase"] == "receive":
            peak["rss_receive"] = max(peak["rss_receive"], rss)
        await asyncio.sleep(0.2)

async def session(i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    async def reply():
        line = await r.readline()
        while line[3:4] == b"-":
            line = await r.readline()
        return line
    try:
        await reply()
        for cmd in (b"EHLO bench%d.example.org" % i, b"MAIL FROM:<a@example.org>",
                    b"RCPT TO:<user@demo.mugai.test>", b"DATA"):
            w.write(cmd + b"\r\n")
            if not (await reply())[:1] in (b"2", b"3"):
                return False
        w.write(b"From: <a@example.org>\r\nTo: <user@demo.mugai.test>\r\nSubject: stream %d\r\n\r\n" % i)
        for _ in range(pieces):
            w.write(PIECE)
            await w.drain()
        w.write(b".\r\n")
        ok = (await reply()).startswith(b"250")
        w.write(b"QUIT\r\n")
        await w.drain()
        return ok
    except (OSError, asyncio.IncompleteReadError):
        return False
    finally:
        w.close()

async def main():
    sampler = asyncio.create_task(sample())
    t0 = time.monotonic()
    results = await asyncio.wait_for(asyncio.gather(*(session(i) for i in range(n))), limit)
    accepted = sum(results)
    t1 = time.monotonic()
    peak["phase"] = "deliver"
    while delivered() < accepted and time.monotonic() - t0 < limit:
        await asyncio.sleep(0.5)
    t2 = time.monotonic()
    sampler.cancel()
    print("\n%d sessions x %d MB: accepted %d/%d in %.1f s, delivered %d in %.1f s" %
          (n, size_mb, accepted, n, t1 - t0, delivered(), t2 - t0))
    print("mugai-gateway peak RSS: %d KiB while receiving, %d KiB overall (VmHWM %d KiB)" %
          (peak["rss_receive"], peak["rss"], status("VmHWM:")))

asyncio.run(main())
PY
kill "$gw" 2>/dev/null || true
wait "$gw" 2>/dev/null || true

if [ "${RELAY:-1}" != 0 ]; then
  echo "relay_bench.sh (same run)..." >&2
  SESSIONS="${RELAY_SESSIONS:-20}" IDLE_CONNS="${IDLE_CONNS:-1000}" MUGAI_BIN="$bin" "$root/tests/bench/relay_bench.sh"
fi

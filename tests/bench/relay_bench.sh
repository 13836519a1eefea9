#!/usr/bin/env bash
# Relay benchmark (not a test): end-to-end msgs/s for 2 KB text mail through mugai-gateway (durable
# spool on) and, under the same load, through a throwaway Postfix, each relaying to a fresh smtp-sink;
# timed until every message has ARRIVED at the sink. Then peak RSS of the gateway holding many idle
# connections. Every phase is bounded in time; everything started here is stopped on exit.
#
#   tests/bench/relay_bench.sh            env: MUGAI_BIN (default build/bin), MSGS=5000,
#                                         SESSIONS="20 50", IDLE_CONNS=10000, PHASE_LIMIT=300 (s)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${MUGAI_BIN:-$root/build/bin}
msgs=${MSGS:-5000}
sessions_list=${SESSIONS:-"20 50"}
idle_conns=${IDLE_CONNS:-10000}
limit=${PHASE_LIMIT:-300}
size=2048
rcpt=user@demo.mugai.test

for tool in /usr/sbin/smtp-sink /usr/sbin/smtp-source /usr/sbin/postfix python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
[ -x "$bin/mugai-gateway" ] || { echo "no $bin/mugai-gateway (set MUGAI_BIN)" >&2; exit 2; }

work=$(mktemp -d /tmp/mugai-bench.XXXXXX)
chmod 755 "$work"
pids=()
postfix_dir=""
cleanup() {
  [ -n "$postfix_dir" ] && /usr/sbin/postfix -c "$postfix_dir/etc" stop >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

source "$root/tests/bench/ports.sh"

now() { date +%s.%N; }

# smtp-sink -c rewrites one counter line ("... mesg=N\r") per message; the last one is the total.
sink_count() {
  tr '\r' '\n' <"$1" | grep -o 'mesg=[0-9]*' | tail -n1 | cut -d= -f2 | grep . || echo 0
}

start_sink() {  # start_sink PORT OUTFILE: a fresh sink per run so its counter starts at zero
  local user=()
  [ "$(id -u)" -eq 0 ] && user=(-u nobody)
  /usr/sbin/smtp-sink -c "${user[@]}" -m 1024 "127.0.0.1:$1" 1024 >"$2" 2>&1 &
  pids+=($!)
  sink_pid=$!
  wait_port "$1" 10
}

# load PORT SESSIONS SINKOUT: prints "accept_seconds arrive_seconds arrived"
load() {
  local t0 t1 t2 n deadline
  t0=$(now)
  timeout "$limit" /usr/sbin/smtp-source -s "$2" -l "$size" -m "$msgs" -f a@example.org -t "$rcpt" \
    "127.0.0.1:$1" >/dev/null 2>&1 || echo "smtp-source: exit $? (run continues)" >&2
  t1=$(now)
  deadline=$((SECONDS + limit))
  n=$(sink_count "$3")
  while [ "$n" -lt "$msgs" ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.1
    n=$(sink_count "$3")
  done
  t2=$(now)
  echo "$(echo "$t1 - $t0" | bc -l) $(echo "$t2 - $t0" | bc -l) $n"
}

rate() { echo "scale=1; $1 / $2" | bc -l; }

declare -A result

# ---- mugai-gateway ------------------------------------------------------------------------------
run_mugai() {  # run_mugai SESSIONS
  local sink_port gw_port dir
  sink_port=$(free_port); gw_port=$(free_port); dir="$work/mugai-$1"
  mkdir -p "$dir"
  start_sink "$sink_port" "$dir/sink.out"
  "$bin/mugai-gateway" \
    --set "smtp.listen=[\"127.0.0.1:$gw_port\"]" --set "spool.dir=\"$dir/spool\"" \
    --set "quarantine.dir=\"$dir/quarantine\"" \
    --set "delivery.next_hop=\"smtp://127.0.0.1:$sink_port\"" \
    --set 'delivery.tls="none"' --set 'delivery.concurrency=20' --set 'spool.fsync=true' \
    --set 'smtp.max_connections=1000' --set 'smtp.max_connections_per_ip=1000' \
    --set "log.file=\"$dir/gateway.log\"" >"$dir/stderr" 2>&1 &
  local gw=$!
  pids+=($gw)
  wait_port "$gw_port" 10
  read -r acc arr n < <(load "$gw_port" "$1" "$dir/sink.out")
  result[mugai,$1]="$acc $arr $n"
  kill "$gw" "$sink_pid" 2>/dev/null || true
  wait "$gw" "$sink_pid" 2>/dev/null || true
}

# ---- throwaway Postfix --------------------------------------------------------------------------
run_postfix() {  # run_postfix SESSIONS
  local sink_port pf_port
  sink_port=$(free_port); pf_port=$(free_port)
  postfix_dir="$work/postfix-$1"
  mkdir -p "$postfix_dir/etc" "$postfix_dir/queue" "$postfix_dir/data"
  chown postfix "$postfix_dir/data"
  start_sink "$sink_port" "$postfix_dir/sink.out"
  # The services a relay needs, none chrooted (the queue lives under /tmp), smtpd on our port.
  cat >"$postfix_dir/etc/master.cf" <<EOF
127.0.0.1:$pf_port inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
  cat >"$postfix_dir/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $postfix_dir/queue
data_directory = $postfix_dir/data
maillog_file = $postfix_dir/maillog
maillog_file_prefixes = $postfix_dir
myhostname = bench.mugai.test
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
relay_domains = demo.mugai.test
relayhost = [127.0.0.1]:$sink_port
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
smtp_tls_security_level = none
smtpd_tls_security_level = none
default_process_limit = 200
default_destination_concurrency_limit = 20
in_flow_delay = 0
EOF
  # postfix prints its errors only to a terminal; the maillog has them otherwise
  /usr/sbin/postfix -c "$postfix_dir/etc" start || { tail "$postfix_dir/maillog" >&2; return 1; }
  wait_port "$pf_port" 20
  read -r acc arr n < <(load "$pf_port" "$1" "$postfix_dir/sink.out")
  result[postfix,$1]="$acc $arr $n"
  /usr/sbin/postfix -c "$postfix_dir/etc" stop >/dev/null 2>&1 || true
  postfix_dir=""
  kill "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" 2>/dev/null || true
}

# ---- idle connections: peak RSS -----------------------------------------------------------------
run_idle() {
  local gw_port dir gw base peak
  ulimit -n "$(ulimit -Hn)"
  gw_port=$(free_port); dir="$work/idle"
  mkdir -p "$dir"
  "$bin/mugai-gateway" --set "smtp.listen=[\"127.0.0.1:$gw_port\"]" \
    --set "spool.dir=\"$dir/spool\"" --set "quarantine.dir=\"$dir/quarantine\"" \
    --set "smtp.max_connections=$((idle_conns + 100))" \
    --set "smtp.max_connections_per_ip=$((idle_conns + 100))" \
    --set "log.file=\"$dir/gateway.log\"" >"$dir/stderr" 2>&1 &
  gw=$!
  pids+=($gw)
  wait_port "$gw_port" 10
  base=$(awk '/VmHWM/ {print $2}' "/proc/$gw/status")
  # Opens the connections, waits for every greeting, then reads the gateway's peak RSS (VmHWM)
  # while they are still open.
  peak=$(timeout "$limit" python3 - "$gw_port" "$idle_conns" "$gw" <<'PY'
import selectors, socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sel, socks = selectors.DefaultSelector(), []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    socks.append(s)
greeted, deadline = 0, time.monotonic() + 60
while greeted < n and time.monotonic() < deadline:
    for key, _ in sel.select(1):
        data = key.fileobj.recv(512)
        greeted += data.startswith(b"220")
        sel.unregister(key.fileobj)
time.sleep(1)
rss = [l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("VmHWM")][0]
print(rss, greeted)
PY
) || peak="? 0"
  result[idle]="$base $peak"
  kill "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
}

for s in $sessions_list; do
  echo "mugai-gateway: $msgs msgs x $size B over $s sessions..." >&2
  run_mugai "$s"
  echo "postfix: $msgs msgs x $size B over $s sessions..." >&2
  run_postfix "$s"
done
echo "mugai-gateway: $idle_conns idle connections..." >&2
run_idle

printf '\n%-9s %-15s %12s %12s %10s %10s\n' \
  sessions server "accepted/s" "arrived/s" arrived "total s"
for s in $sessions_list; do
  for server in mugai postfix; do
    read -r acc arr n <<<"${result[$server,$s]}"
    printf '%-9s %-15s %12s %12s %10s %10.1f\n' "$s" "$server" "$(rate "$msgs" "$acc")" \
      "$(rate "$n" "$arr")" "$n/$msgs" "$arr"
  done
done
read -r base peak greeted <<<"${result[idle]}"
printf '\nmugai-gateway peak RSS: %s KiB at start, %s KiB with %s/%s idle connections greeted\n' \
  "$base" "$peak" "$greeted" "$idle_conns"

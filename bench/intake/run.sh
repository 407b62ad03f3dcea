#!/usr/bin/env bash
# Intake benchmark: a release server on the embedded defaults (SQLite), demo district, loaded by
# wrk from a second process over loopback. Prints wrk's report and the server's status counts.
# Needs Debian's wrk (apt-get install wrk). Usage: bench/intake/run.sh [seconds] [connections]
# ROUNDS=N runs wrk N times back to back against the same server (the store keeps what each
# round wrote), printing each round's accepted reports per second and p99: whether the rate is
# sustained as the store grows. The totals below cover all rounds. PACE_MS=N makes each connection
# pause N ms after each answer (bench/intake/intake.lua): the latency at a set rate rather than at
# the most the server takes, e.g. ROUNDS=10 PACE_MS=10 bench/intake/run.sh 30 80.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CONNS=${2:-32}
PORT=${PORT:-18084}
BIN=${WANXIANG_BIN:-target/release/wanxiang}
DATA=$(mktemp -d)
# Intake alone: no demo sensors, no simulator, no MQTT listener, no generated history.
WANXIANG__SENSING__DEMO_DEVICES=0 WANXIANG__SENSING__MQTT_LISTEN=off WANXIANG__EVENTS__DEMO_CASES=0 \
  "$BIN" serve --demo --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -s -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"district.dispatcher","password":"wanxiang-demo"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export TOKEN
ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
# Context switches of all the server's threads: each hand-off between a tokio worker and a
# SQLite connection's thread is one or two, so this counts them.
switches() { cat /proc/"$SERVER"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s}'; }
BEFORE=$(ticks)
SWITCHES=$(switches)
ROUNDS=${ROUNDS:-1}
accepted() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/route="\/api\/v1\/events",status="201"/ {print $2}'; }
for ROUND in $(seq 1 "$ROUNDS"); do
  FROM=$(accepted)
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s bench/intake/intake.lua "http://127.0.0.1:$PORT" \
    | tee "$DATA/wrk.txt"
  if [ "$ROUNDS" -gt 1 ]; then
    echo "round $ROUND: $(( ($(accepted) - ${FROM:-0}) / SECS )) accepted/s, p99 $(awk '$1 == "99%" {print $2}' "$DATA/wrk.txt")"
  fi
done
AFTER=$(ticks)
SWITCHES=$(( $(switches) - SWITCHES ))
# The server's CPU time over the run, per 1,000 accepted reports: the cost of a report, which
# varies less than the rate from one run to the next on a shared machine.
ACCEPTED=$(accepted)
echo "server CPU: $(( (AFTER - BEFORE) * 1000 / $(getconf CLK_TCK) )) ms for ${ACCEPTED:-0} accepted, $(( (AFTER - BEFORE) * 1000000 / $(getconf CLK_TCK) / (${ACCEPTED:-0} + 1) )) ms per 1,000"
echo "context switches: $SWITCHES, $(( SWITCHES * 10 / (${ACCEPTED:-0} + 1) )) per 10 accepted"
# The server's resident memory now and at its peak.
awk '/^VmRSS|^VmHWM/ {printf "%s %d MB  ", $1, $2 / 1024} END {print ""}' "/proc/$SERVER/status"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E 'route="/api/v1/events",status=|store_query_seconds_(sum|count)|intake_batch_size_(sum|count)|detector_dropped'

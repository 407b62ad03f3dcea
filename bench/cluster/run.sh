#!/usr/bin/env bash
# Cluster benchmark (issue 7): NODES release nodes of the same binary on one PostgreSQL database,
# one NATS server (JetStream) and one Mosquitto, all on this machine, then
#   1. intake: one wrk per node, POST /api/v1/events (bench/intake/intake.lua), 32 connections
#      split between the nodes, for SECS seconds;
#   2. telemetry: `wanxiang simulate --mode broker` publishes RATE readings/s of 20,000 demo
#      devices through Mosquitto, which splits them between the nodes (shared subscription), for
#      SECS seconds; stored readings are counted in PostgreSQL afterwards.
# For each phase it prints the throughput and the CPU seconds each node and PostgreSQL spent per
# 1,000 events (from /proc), which is the per-node cost a capacity plan needs.
# It runs its own Mosquitto on port 18883 configured as docs/deployment.md says (a session may
# queue 1,000,000 messages: the default 1,000 drops acknowledged QoS 1 messages a busy node has
# not taken yet). Needs wrk, psql, mosquitto, and the PostgreSQL and NATS scripts/test starts.
# Usage: bench/cluster/run.sh NODES [SECS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/../.."
NODES=${1:-1}
SECS=${2:-15}
RATE=${3:-4000}
BIN=${WANXIANG_BIN:-target/release/wanxiang}
PG=${WANXIANG_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
NATS=${WANXIANG_BENCH_NATS_URL:-nats://127.0.0.1:4222}
SCHEMA=bench_cluster
PREFIX=wxbench$$
DEVICES=20000
DATA=$(mktemp -d)
PIDS=()
NODE_PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT
cat >"$DATA/mosquitto.conf" <<CONF
listener 18883 127.0.0.1
allow_anonymous true
max_queued_messages 1000000
max_inflight_messages 100
persistence false
CONF
mosquitto -c "$DATA/mosquitto.conf" >"$DATA/mosquitto.log" 2>&1 &
PIDS+=($!)
BROKER=mqtt://127.0.0.1:18883
psql "$PG" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" -c "CREATE SCHEMA $SCHEMA" >/dev/null
DB="$PG?options=-c%20search_path%3D$SCHEMA"
sql() { psql "$PG" -Atqc "SET search_path = $SCHEMA; $1" | tail -1; }

start() { # node index, demo devices
  local i=$1 port=$((18100 + $1))
  mkdir -p "$DATA/node$i"
  WANXIANG__SENSING__DEMO_DEVICES=$2 WANXIANG__SENSING__DEMO_SIMULATOR_RATE=0 \
  WANXIANG__EVENTS__DEMO_CASES=0 WANXIANG__AUTH__LOGIN_PER_MINUTE=100000 \
  WANXIANG__SENSING__MQTT_LISTEN=off WANXIANG__SENSING__MQTT_BROKER=$BROKER \
  WANXIANG__SENSING__MQTT_CLIENT_ID="$PREFIX-node$i" WANXIANG__SENSING__MQTT_GROUP="$PREFIX" \
  WANXIANG__BUS__URL="$NATS" WANXIANG__BUS__SUBJECT_PREFIX="$PREFIX" \
    "$BIN" serve --demo --database "$DB" --data-dir "$DATA/node$i" --listen "127.0.0.1:$port" \
    >"$DATA/node$i.log" 2>&1 &
  PIDS+=($!)
  NODE_PIDS+=($!)
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.2; done
  echo "node $i did not become ready; its log:" >&2; tail -20 "$DATA/node$i.log" >&2; exit 1
}
# The first node migrates and registers the demo devices; the others join it.
start 0 "$DEVICES"
for i in $(seq 1 $((NODES - 1))); do start "$i" 0; done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pg_ticks() { local t=0; for p in $(pgrep -x postgres || pgrep postgres); do t=$((t + $(ticks "$p" 2>/dev/null || echo 0))); done; echo $t; }
HZ=$(getconf CLK_TCK)
snapshot() { for p in "${NODE_PIDS[@]}"; do ticks "$p"; done; pg_ticks; }
costs() { # before-file after-file events -> "node0 node1 … postgres" CPU ms per 1,000 events
  paste "$1" "$2" | awk -v hz="$HZ" -v n="$3" '{ printf "%.0f ", ($2 - $1) * 1000 / hz * 1000 / (n > 0 ? n : 1) }'
}

TOKEN=$(curl -s -X POST "http://127.0.0.1:18100/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"district.dispatcher","password":"wanxiang-demo"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export TOKEN

# 1. Intake.
CONNS=$((32 / NODES))
snapshot >"$DATA/cpu0"
for i in $(seq 0 $((NODES - 1))); do
  OFFSET=$((i * 10000000)) wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s bench/intake/intake.lua \
    "http://127.0.0.1:$((18100 + i))" >"$DATA/wrk$i.txt" &
done
wait $(jobs -p | tail -n "$NODES")
snapshot >"$DATA/cpu1"
CASES=$(sql "SELECT COUNT(*) FROM cases")
RPS=$(cat "$DATA"/wrk*.txt | awk '/Requests\/sec/ {s += $2} END {printf "%.0f", s}')
P99=$(cat "$DATA"/wrk*.txt | awk '$1 == "99%" {print $2}' | sort -h | tail -1)
echo "intake, $NODES node(s): $RPS requests/s answered (all wrk processes), $CASES cases stored, $(awk -v c="$CASES" -v s="$SECS" 'BEGIN {printf "%.0f", c / s}') cases/s, worst p99 $P99"
echo "  CPU ms per 1,000 cases — nodes then PostgreSQL: $(costs "$DATA/cpu0" "$DATA/cpu1" "$CASES")"

# 2. Telemetry through Mosquitto.
BEFORE=$(sql "SELECT COUNT(*) FROM readings")
snapshot >"$DATA/cpu2"
"$BIN" simulate --mode broker --broker "$BROKER" --devices "$DEVICES" --rate "$RATE" \
  --connections 4 --no-incidents --seconds "$SECS" 2>"$DATA/simulate.log" | tail -3
# Let the nodes drain what the broker still holds for them.
LAST=-1
for _ in $(seq 1 120); do
  NOW=$(sql "SELECT COUNT(*) FROM readings")
  [ "$NOW" = "$LAST" ] && break
  LAST=$NOW; sleep 2
done
snapshot >"$DATA/cpu3"
STORED=$((LAST - BEFORE))
echo "telemetry, $NODES node(s): offered $RATE readings/s for ${SECS}s; $STORED stored ($(awk -v c="$STORED" -v s="$SECS" 'BEGIN {printf "%.0f", c / s}')/s)"
echo "  CPU ms per 1,000 readings — nodes then PostgreSQL: $(costs "$DATA/cpu2" "$DATA/cpu3" "$STORED")"
for i in $(seq 0 $((NODES - 1))); do
  echo "  node $i: $(curl -s "http://127.0.0.1:$((18100 + i))/metrics" | awk '/^wanxiang_telemetry_readings_total|^wanxiang_bus_(relayed|received)_total|^wanxiang_sensing_(stale_batches|state_catch_ups)_total/ {printf "%s=%s ", $1, $2}')"
done

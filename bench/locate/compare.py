#!/usr/bin/env python3
"""Compare per-point results of several implementations and print the Markdown report.

For each NAME given, reads WORK/NAME.csv (`lon,lat,match`) and WORK/NAME.stats (the
implementation's last stdout line `points=N matched=M seconds=S points_per_s=R`).
Checks: same row count as points.csv, lon/lat parse to the same doubles as the input row
(so row order is the input order), and `match` identical to the reference (the first NAME
that has a CSV). Mismatches are counted and a few examples printed with feature names,
flagging points inside an overlapping pair of features (see dataset.json).
Exit status 1 if any output is missing or disagrees, so run.sh can fail loudly.
"""
import argparse
import json
import os
import sys

LABELS = {
    "ours": "wanxiang geo locate (cell grid, default)",
    "ours-rtree": "wanxiang geo locate --strategy rtree (R-tree + band test)",
    "shapely-query": "shapely STRtree.query(predicate='within')",
    "shapely-grouped": "shapely STRtree bbox + prepared contains_xy",
    "postgis-poly": "PostGIS ST_Contains join, GiST on polygons",
    "postgis-points": "PostGIS ST_Contains join, GiST on polygons + points",
}


def read_points(path):
    with open(path, encoding="ascii") as f:
        assert f.readline().strip() == "lon,lat"
        return [tuple(map(float, l.split(","))) for l in f]


def read_result(path):
    with open(path, encoding="utf-8") as f:
        head = f.readline().strip()
        if head != "lon,lat,match":
            raise ValueError(f"{path}: header {head!r}, want 'lon,lat,match'")
        xy, match = [], []
        for l in f:
            lon, lat, m = l.rstrip("\r\n").split(",")
            xy.append((float(lon), float(lat)))
            match.append(int(m) if m else -1)
    return xy, match


def read_stats(path):
    with open(path) as f:
        line = f.read().strip().splitlines()[-1]
    kv = dict(tok.split("=", 1) for tok in line.split())
    return {"points": int(kv["points"]), "matched": int(kv["matched"]),
            "seconds": float(kv["seconds"]), "pps": float(kv["points_per_s"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--examples", type=int, default=5)
    ap.add_argument("names", nargs="+")
    args = ap.parse_args()
    W = args.work

    desc = json.load(open(os.path.join(W, "dataset.json"), encoding="utf-8"))
    names_by_idx = None
    pts = read_points(os.path.join(W, "points.csv"))
    n = len(pts)
    overlap_feats = {o["a"] for o in desc["overlapping_pairs"]} | {o["b"] for o in desc["overlapping_pairs"]}

    ok = True
    results, stats = {}, {}
    for name in args.names:
        csvp, stp = os.path.join(W, f"{name}.csv"), os.path.join(W, f"{name}.stats")
        if not (os.path.exists(csvp) and os.path.exists(stp)):
            print(f"- {name}: no output (skipped or failed)")
            ok = False
            continue
        xy, match = read_result(csvp)
        stats[name] = read_stats(stp)
        if len(match) != n:
            print(f"- {name}: {len(match)} rows, expected {n}")
            ok = False
            continue
        bad_xy = sum(a != b for a, b in zip(xy, pts))
        if bad_xy:
            print(f"- {name}: {bad_xy} rows whose lon/lat differ from the input row")
            ok = False
        if sum(m >= 0 for m in match) != stats[name]["matched"]:
            print(f"- {name}: CSV has {sum(m >= 0 for m in match)} matches, stats line says {stats[name]['matched']}")
            ok = False
        results[name] = match

    print()
    print("## Agreement")
    print()
    ref = next(iter(results), None)
    for name, match in results.items():
        if name == ref:
            continue
        diff = [i for i in range(n) if match[i] != results[ref][i]]
        print(f"- {name} vs {ref}: {len(diff)} mismatching points of {n}")
        if diff:
            ok = False
            if names_by_idx is None:
                fc = json.load(open(os.path.join(W, "boundaries.geojson"), encoding="utf-8"))
                names_by_idx = [f["properties"]["name"] for f in fc["features"]]
            nm = lambda k: "none" if k < 0 else f"{k} {names_by_idx[k]}"
            for i in diff[:args.examples]:
                flag = " (feature of an overlapping pair)" if {match[i], results[ref][i]} & overlap_feats else ""
                print(f"  - point {i} ({pts[i][0]!r}, {pts[i][1]!r}): {name}={nm(match[i])}, "
                      f"{ref}={nm(results[ref][i])}{flag}")

    print()
    print("## Data")
    print()
    print(f"- boundaries: {desc['source_package']} {desc['source_version']} district.geojson "
          f"(CRS {desc['source_crs']}, treated as WGS-84): {desc['features']} county-level features "
          f"({desc['dropped_non_area_features']} non-area line features dropped), {desc['polygons']} polygons, "
          f"{desc['holes']} holes, {desc['vertices']:,} vertices (max {desc['max_vertices_per_feature']:,} per feature)")
    print(f"- points: {desc['points']:,}, seed {desc['seed']}, "
          f"{desc['country_share']:.0%} uniform over the country bbox, rest uniform over a random feature's bbox, "
          f"{desc.get('overlap_points', 0)} placed inside overlapping features")
    for o in desc["overlapping_pairs"]:
        print(f"- overlapping features: {o['a']} {o['a_name']} / {o['b']} {o['b_name']} "
              f"({o['overlap_deg2']:.2e} deg²); lowest index wins")
    for i, nm_, why in desc["invalid_features"]:
        print(f"- invalid geometry kept as is: {i} {nm_}: {why}")

    print()
    print("## Locate phase (index built beforehand, single core)")
    print()
    base = [s["pps"] for k, s in stats.items() if not k.startswith("ours")]
    best = max(base) if base else None
    print("| implementation | points | matched | seconds | points/s | speed-up vs fastest baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, s in stats.items():
        sp = f"{s['pps'] / best:.2f}×" if best else "n/a"
        print(f"| {LABELS.get(name, name)} | {s['points']:,} | {s['matched']:,} | {s['seconds']:.3f} | "
              f"{s['pps']:,.0f} | {sp} |")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Baseline 2: shapely 2.x STRtree point-in-polygon, single thread.

Same contract as `wanxiang geo locate`: reads boundaries.geojson + points.csv, writes
`lon,lat,match` (match = lowest containing feature index, empty if none) and prints
`points=N matched=M seconds=S points_per_s=R` as its last stdout line, where S covers only
the locate phase. Parsing, geometry construction and STRtree build are timed separately
(`build_seconds=` on stderr) and excluded.

--method query   (default) tree.query(points, predicate="within"): for query geometry q and
                 tree geometry t GEOS evaluates within(q, t), i.e. point-within-polygon,
                 and returns [point_idx, feature_idx] pairs. Verified against the
                 per-point definition in --self-check. Boundary points do not match
                 (same as ST_Contains / shapely.contains).
--method grouped tree.query(points) for bbox candidates, then per candidate feature one
                 vectorised shapely.contains_xy over its candidate points with the polygon
                 prepared once. Usually faster: prepares the polygon, not the point.
Both are single-threaded (shapely/GEOS do not parallelise these calls); run.sh also pins
the process with taskset.
"""
import argparse
import json
import sys
import time

import numpy as np
import shapely
from shapely.geometry import shape


def lowest_per_point(n: int, pidx: np.ndarray, fidx: np.ndarray) -> np.ndarray:
    """Reduce (point, feature) hit pairs to the lowest feature index per point (-1 = none)."""
    global HITS
    HITS = pidx  # kept to report points inside several features (after timing)
    best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, pidx, fidx)
    best[best == np.iinfo(np.int64).max] = -1
    return best


def locate_query(tree, pts, n):
    pidx, fidx = tree.query(pts, predicate="within")
    return lowest_per_point(n, pidx, fidx.astype(np.int64))


def locate_grouped(tree, geoms, pts, x, y, n):
    pidx, fidx = tree.query(pts)  # bbox-intersection candidates only
    order = np.lexsort((pidx, fidx))  # group candidates by feature
    pidx, fidx = pidx[order], fidx[order]
    cuts = np.flatnonzero(np.diff(fidx)) + 1
    hit_p, hit_f = [], []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(fidx)]):
        if lo == hi:
            continue
        p = pidx[lo:hi]
        inside = shapely.contains_xy(geoms[fidx[lo]], x[p], y[p])
        hit_p.append(p[inside])
        hit_f.append(np.full(int(inside.sum()), fidx[lo], dtype=np.int64))
    empty = np.empty(0, dtype=np.int64)  # keeps np.concatenate happy when nothing is near
    return lowest_per_point(n, np.concatenate([empty, *hit_p]), np.concatenate([empty, *hit_f]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boundaries", required=True)
    ap.add_argument("--points", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--method", choices=["query", "grouped"], default="query")
    ap.add_argument("--self-check", type=int, default=0, metavar="K",
                    help="also verify K random points against a brute-force per-point loop")
    args = ap.parse_args()

    t0 = time.perf_counter()
    with open(args.boundaries, encoding="utf-8") as f:
        fc = json.load(f)
    geoms = np.array([shape(ft["geometry"]) for ft in fc["features"]], dtype=object)
    with open(args.points, encoding="ascii") as f:
        lines = f.read().splitlines()
    assert lines[0] == "lon,lat", lines[0]
    xy = np.loadtxt(lines[1:], delimiter=",", dtype=np.float64, ndmin=2)
    x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
    n = len(x)
    pts = shapely.points(x, y)
    t1 = time.perf_counter()
    tree = shapely.STRtree(geoms)
    tree.query(pts[:1])  # STRtree is built lazily on first query; force it here
    if args.method == "grouped":
        shapely.prepare(geoms)  # part of index build, like ours
    t2 = time.perf_counter()

    if args.method == "query":
        match = locate_query(tree, pts, n)
    else:
        match = locate_grouped(tree, geoms, pts, x, y, n)
    t3 = time.perf_counter()

    if args.self_check:
        rng = np.random.default_rng(1)
        for i in rng.choice(n, size=min(args.self_check, n), replace=False):
            exp = next((j for j, g in enumerate(geoms) if g.contains(pts[i])), -1)
            assert exp == match[i], (i, exp, match[i])
        print(f"self-check: {min(args.self_check, n)} points agree with brute force", file=sys.stderr)

    with open(args.out, "w", encoding="ascii") as f:
        f.write("lon,lat,match\n")
        f.writelines(f"{l},{'' if m < 0 else m}\n" for l, m in zip(lines[1:], match.tolist()))

    multi = int((np.bincount(HITS, minlength=n) > 1).sum())
    secs = t3 - t2
    matched = int((match >= 0).sum())
    print(f"shapely {shapely.__version__} (GEOS {shapely.geos_version_string}) method={args.method} "
          f"load_seconds={t1 - t0:.3f} build_seconds={t2 - t1:.3f} "
          f"points_in_several_features={multi}", file=sys.stderr)
    print(f"points={n} matched={matched} seconds={secs:.6f} points_per_s={n / secs:.1f}")


if __name__ == "__main__":
    main()

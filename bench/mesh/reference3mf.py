#!/usr/bin/env python3
"""Independent reference figures for 3MF files (Python stdlib only).

For every build item: triangles, signed volume (divergence theorem, winding
reversed under mirroring transforms), surface area and bounding box, in
millimetres, after composing component and item transforms. Used to check
pkg/mesh against a second implementation; prints one JSON line per file.

    python3 bench/mesh/reference3mf.py file.3mf ...
"""
import json
import math
import posixpath
import sys
import xml.etree.ElementTree as ET
import zipfile

CORE = "{http://schemas.microsoft.com/3dmanufacturing/core/2015/02}"
PROD = "{http://schemas.microsoft.com/3dmanufacturing/production/2015/06}"
RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
SCALE = {"micron": 0.001, "millimeter": 1.0, "centimeter": 10.0, "inch": 25.4, "foot": 304.8, "meter": 1000.0}
IDENT = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]


def mul(a, b):  # a then b, row vectors
    r = [0.0] * 12
    for i in range(4):
        for j in range(3):
            s = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j]
            if i == 3:
                s += b[9 + j]
            r[3 * i + j] = s
    return r


def det(m):
    return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6])


def apply(m, p):
    x, y, z = p
    return (x * m[0] + y * m[3] + z * m[6] + m[9], x * m[1] + y * m[4] + z * m[7] + m[10], x * m[2] + y * m[5] + z * m[8] + m[11])


def transform(e):
    t = e.get("transform")
    return [float(v) for v in t.split()] if t else IDENT


def main():
    for path in sys.argv[1:]:
        z = zipfile.ZipFile(path)
        names = {n.lower(): n for n in z.namelist()}
        rels = ET.fromstring(z.read(names["_rels/.rels"]))
        start = [r.get("Target") for r in rels.iter(RELS + "Relationship")
                 if r.get("Type") == "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"][0]
        parts = {}

        def load(part):
            key = part.lstrip("/").lower()
            if key not in parts:
                root = ET.fromstring(z.read(names[key]))
                objs = {}
                for o in root.iter(CORE + "object"):
                    mesh = o.find(CORE + "mesh")
                    comps = o.find(CORE + "components")
                    objs[o.get("id")] = {
                        "v": [(float(v.get("x")), float(v.get("y")), float(v.get("z")))
                              for v in mesh.iter(CORE + "vertex")] if mesh is not None else [],
                        "t": [(int(t.get("v1")), int(t.get("v2")), int(t.get("v3")))
                              for t in mesh.iter(CORE + "triangle")] if mesh is not None else [],
                        "c": [(c.get("objectid"), c.get(PROD + "path"), transform(c))
                              for c in comps.iter(CORE + "component")] if comps is not None else [],
                    }
                parts[key] = (root, objs)
            return parts[key]

        root, _ = load(start)
        scale = SCALE[root.get("unit", "millimeter")]
        items = []
        for it in root.find(CORE + "build").iter(CORE + "item"):
            acc = {"triangles": 0, "vol": 0.0, "area": 0.0, "min": [math.inf] * 3, "max": [-math.inf] * 3}

            def place(part, oid, m):
                _, objs = load(part)
                o = objs[oid]
                sign = -1.0 if det(m) < 0 else 1.0
                pts = [apply(m, p) for p in o["v"]]
                for a, b, c in o["t"]:
                    pa, pb, pc = pts[a], pts[b], pts[c]
                    u = [pb[k] - pa[k] for k in range(3)]
                    v = [pc[k] - pa[k] for k in range(3)]
                    n = (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])
                    acc["area"] += 0.5 * math.sqrt(n[0] ** 2 + n[1] ** 2 + n[2] ** 2)
                    acc["vol"] += sign * (pa[0] * n[0] + pa[1] * n[1] + pa[2] * n[2]) / 6
                    acc["triangles"] += 1
                    for p in (pa, pb, pc):
                        for k in range(3):
                            acc["min"][k] = min(acc["min"][k], p[k])
                            acc["max"][k] = max(acc["max"][k], p[k])
                for cid, cpath, cm in o["c"]:
                    place(cpath or part, cid, mul(cm, m))

            place(it.get(PROD + "path") or start, it.get("objectid"), transform(it))
            s = scale
            items.append({"triangles": acc["triangles"], "signed_volume_mm3": acc["vol"] * s ** 3,
                          "surface_area_mm2": acc["area"] * s ** 2,
                          "bbox_min": [x * s for x in acc["min"]] if acc["triangles"] else None,
                          "bbox_max": [x * s for x in acc["max"]] if acc["triangles"] else None})
        print(json.dumps({"file": path, "items": items}))


if __name__ == "__main__":
    main()

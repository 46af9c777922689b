#!/usr/bin/python3
"""Computes, with pydicom (Debian python3-pydicom 2.3.1) and numpy, the facts
printreg's extraction tests compare against: slice spacing from
ImagePositionPatient projected on the slice normal, slice thickness, segment
numbers/labels/algorithms/codes and RT Structure Set ROI names. The output,
expected_facts.json, is committed; rerun this script after adding test files:

    /usr/bin/python3 testdata/dicom/tools/independent_facts.py testdata/dicom > testdata/dicom/expected_facts.json
"""
import json, os, sys
import numpy as np
import pydicom

root = sys.argv[1]
out = {"series": {}, "files": {}}

def code(seq):
    if not seq:
        return None
    it = seq[0]
    return {"code": str(it.get("CodeValue", "")), "scheme": str(it.get("CodingSchemeDesignator", "")),
            "meaning": str(it.get("CodeMeaning", ""))}

series = {}
for dirpath, _, names in sorted(os.walk(root)):
    for n in sorted(names):
        if not n.endswith(".dcm"):
            continue
        p = os.path.join(dirpath, n)
        rel = os.path.relpath(p, root)
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
        except Exception as e:  # damaged on purpose
            continue
        f = {}
        if "SegmentSequence" in ds:
            f["segments"] = [{
                "number": int(s.SegmentNumber), "label": str(s.get("SegmentLabel", "")),
                "algorithm_type": str(s.get("SegmentAlgorithmType", "")),
                "algorithm_name": str(s.get("SegmentAlgorithmName", "")),
                "category": code(s.get("SegmentedPropertyCategoryCodeSequence")),
                "type": code(s.get("SegmentedPropertyTypeCodeSequence")),
            } for s in ds.SegmentSequence]
            f["segmentation_type"] = str(ds.get("SegmentationType", ""))
        if "StructureSetROISequence" in ds:
            f["rois"] = [{"number": int(r.ROINumber), "name": str(r.get("ROIName", "")),
                          "algorithm": str(r.get("ROIGenerationAlgorithm", ""))}
                         for r in ds.StructureSetROISequence]
        if f:
            out["files"][rel] = f
        if "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds and len(ds.ImageOrientationPatient) == 6:
            series.setdefault(os.path.dirname(rel), []).append(ds)

for folder, dss in series.items():
    if not folder.startswith("series_"):
        continue
    iop = np.array([float(v) for v in dss[0].ImageOrientationPatient])
    nrm = np.cross(iop[:3], iop[3:])
    d = sorted(float(np.dot(nrm, [float(v) for v in x.ImagePositionPatient])) for x in dss)
    sp = np.diff(d)
    out["series"][folder] = {"slices": len(dss), "spacing_min": round(float(sp.min()), 6),
                             "spacing_max": round(float(sp.max()), 6),
                             "spacing_median": round(float(np.median(sp)), 6),
                             "slice_thickness": float(dss[0].SliceThickness) if "SliceThickness" in dss[0] else None}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
print()

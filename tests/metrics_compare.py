"""Comparing two runs' metrics: canonical JSON text without what legitimately varies, and the first
difference by path (shared by the determinism test and the reference-metrics guard)."""

import json
import math

VOLATILE = ("timings", "environment")


def _jsonable(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def comparable(metrics: dict) -> str:
    """The metrics as canonical JSON text, without the fields that legitimately vary."""
    kept = {k: v for k, v in metrics.items() if k not in VOLATILE}
    return json.dumps(kept, sort_keys=True, default=_jsonable)


def _first_difference(a, b, path="metrics"):
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}.{k}: present in one run only"
            d = _first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    same = a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
    return None if same else f"{path}: {a!r} vs {b!r}"

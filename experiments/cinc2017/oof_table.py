"""The committed out-of-fold table of the CinC 2017 AF levers (issue 18): where it lies and the one reader of it.

``oof_from_preset.py`` writes it (the shipped preset's fold members' probabilities); ``af_lever.py``, ``rr_lever.py``,
``af_specialist.py``, ``af_errors.py`` and ``label_noise.py`` read it. A module of its own so that the writer, which
runs ``af_lever``'s ``Lever`` for its checks, and the readers do not import each other.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FAMILIES = {"ecgsl": "model.keras", "resnet": "resnet1d.keras"}   # table key -> the preset file of its fold members
DEFAULT_NPZ = HERE / "oof" / "deep_oof.npz"
DEFAULT_FEATURES_NPZ = HERE / "oof" / "features118.npz"


def load_deep_oof(path) -> dict:
    """The committed out-of-fold table as ``hybrid.py``'s ``deep_oof.npz`` per family plus the folds:
    ``{"ecgsl": {split_record_id, split_targets, split_probabilities}, "resnet": {...}, "fold_of": {id: fold}}``
    (``_aligned`` reads the family tables). A clear error naming the file when it lacks a key."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"error: {path}: no such file (write it with experiments/cinc2017/oof_from_preset.py)")
    data = np.load(path)
    missing = {"record_id", "split", "fold", "label", *FAMILIES} - set(data.files)
    if missing:
        raise SystemExit(f"error: {path}: not an oof_from_preset table (missing {sorted(missing)})")
    ids, split = data["record_id"].astype(str), data["split"].astype(str)
    out = {"fold_of": {r: int(f) for r, f, s in zip(ids, data["fold"], split) if s == "train"}}
    for family in FAMILIES:
        table = {}
        for s in ("train", "validation"):
            rows = split == s
            table[f"{s}_record_id"] = ids[rows]
            table[f"{s}_targets"] = data["label"][rows].astype(int)
            table[f"{s}_probabilities"] = data[family][rows].astype(np.float64)
        out[family] = table
    return out

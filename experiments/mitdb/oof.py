"""The committed left-out ECG-SL probabilities of the 2-fold MIT-BIH protocol (issue 18, run s36), so that a lever on
``mitdb-beats`` no longer needs ``run.py``'s work folder (its prepared folds and the six ECG-SL runs, lost twice).

``oof/left_out_k2.npz`` (written by ``beats_preset.py --steps export``; ``left_out_k4.npz`` the same for
``run.py --folds 4``, ``default_path``) holds, per labelled beat of
``beats_preset.py``'s table (every labelled beat of the 22 DS1 records through the preset's own R-peaks):

* ``record`` (str), ``time_s`` (float32, the beat's R-peak time in the record), ``y`` (int8, AAMI class index of
  ``labels``): which beat, to align with a table built again;
* ``outer`` (float16, beats x classes): the ECG-SL probabilities of the model that left the beat's fold out
  (``scratch_focal_heldout<h>``), NaN for the few beats without a prepared beat within 150 ms;
* ``inner_heldout<h>`` (float16): for the training records of outer fold ``h``, the probabilities of the inner ECG-SL
  model (``run.py --steps inner``) that left the beat's inner group out; NaN elsewhere;
* ``folds_json``: ``folds.json`` of that run (folds, beats per record), so ``run.inner_groups`` gives the same groups;
  ``meta_json``: the commands, the commit and what float16 changes.

``oof/inner4_k2.npz`` (``v_side.py --steps export_inner``, ``inner_k_path``): the same beats' probabilities from the
inner models of ``run.py --steps inner --inner-folds 4`` (each trained on three of four groups of the training
records, about 75% of them, and scored on the fourth), rows of ``left_out_k2.npz`` (its ``y`` and ``labels`` kept to
check that), array ``inner4_heldout<h>`` (float16, NaN off the training records of fold ``h``); ``folds_json`` holds
the inner groups (``inner_groups``). ``CommittedPredictions.add_inner`` joins it to the main file, ``inner_k`` reads it.

``beats_preset.py --from-committed [PATH]`` and ``v_side.py --from-committed [PATH]`` read the probabilities from
here instead of WORK's runs (WORK then only caches the table; its ``folds.json`` is written from the file). Beats
are matched to the table by record and R-peak time (``TIME_TOL``); a table beat with no committed beat gets NaN
(left out of every row, as a beat without a prepared beat was), and a matched beat of another class is an error.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT = HERE / "oof" / "left_out_k2.npz"


def default_path(n_folds: int = 2, af: bool = False) -> Path:
    """The committed file of ``run.py --folds n_folds [--balance-af]``: ``oof/left_out_k<K>[_af].npz``."""
    return HERE / "oof" / f"left_out_k{n_folds}{'_af' if af else ''}.npz"
def inner_k_path(k: int, n_folds: int = 2) -> Path:
    """The committed file of the inner models of ``run.py --steps inner --inner-folds k``: ``oof/inner<k>_k<K>.npz``."""
    return HERE / "oof" / f"inner{k}_k{n_folds}.npz"


def inner_k_path_for(left_out, k: int) -> Path:
    """The committed inner-K file beside the committed left-out file ``left_out`` (``oof/left_out_k<K><rest>.npz``):
    ``oof/inner<k>_k<K><rest>.npz``, so each left-out file (e.g. v37's ``left_out_k2_median``) has its own inner
    models' file (run v39) and ``left_out_k2`` keeps ``inner_k_path``'s name."""
    left_out = Path(left_out)
    m = re.match(r"^left_out_k(\d+)(.*)$", left_out.stem)
    if not m:
        raise SystemExit(f"{left_out}: not a committed left-out file name (left_out_k<K>[...].npz)")
    return left_out.resolve().parent / f"inner{k}_k{m.group(1)}{m.group(2)}.npz"


TIME_TOL = 0.002      # s: the table's R-peak times are multiples of 10 ms (100 Hz); float32 keeps them to ~0.1 ms
REQUIRED = ("record", "time_s", "y", "outer", "labels", "folds_json")
FOLDS_KEYS = ("folds", "beats_per_record", "balance", "af_beats_per_record")   # folds.json's split, kept
_RUN = re.compile(r"^scratch_focal_heldout(\d+)(?:_inner(\d+))?$")


class CommittedPredictions:
    """The committed probabilities of one protocol, aligned to a table on first use."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise SystemExit(f"{self.path}: no committed left-out predictions here (beats_preset.py --steps export "
                             "writes them)")
        with np.load(self.path, allow_pickle=False) as z:
            missing = [k for k in REQUIRED if k not in z.files]
            if missing:
                raise SystemExit(f"{self.path}: not a committed left-out file, missing {missing}")
            self.arrays = {k: z[k] for k in z.files}
        saved = json.loads(str(self.arrays["folds_json"]))
        self.folds = saved["folds"]
        self.saved_folds = saved
        n, c = self.arrays["outer"].shape
        for h in range(len(self.folds)):
            inner = self.arrays.get(f"inner_heldout{h}")
            if inner is not None and inner.shape != (n, c):
                raise SystemExit(f"{self.path}: inner_heldout{h} has shape {inner.shape}, outer {(n, c)}")
        if any(len(self.arrays[k]) != n for k in ("record", "time_s", "y")):
            raise SystemExit(f"{self.path}: record / time_s / y / outer lengths differ")
        self._rows = None     # table beat -> committed row (-1: none), set by align()
        self.inner_k_groups = None   # {held_out: K inner groups} of a joined inner-K file (add_inner)
        self._table_id = None

    @property
    def labels(self) -> list:
        return [str(x) for x in self.arrays["labels"]]

    def has_inner(self) -> bool:
        return all(f"inner_heldout{h}" in self.arrays for h in range(len(self.folds)))

    def write_folds(self, work: Path) -> None:
        """WORK's ``folds.json`` from the file (created if absent); another split there is an error."""
        path = Path(work) / "folds.json"
        if path.is_file():
            have = json.loads(path.read_text(encoding="utf-8"))["folds"]
            if have != self.folds:
                raise SystemExit(f"{path}: its folds are not those of {self.path}; use another --work")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.saved_folds, indent=2), encoding="utf-8")

    def align(self, table: dict) -> np.ndarray:
        """(n_table,) the committed row of each table beat (same record, R-peak time within ``TIME_TOL``), -1 where
        none; a matched beat of another class: SystemExit naming the file."""
        if self._table_id == id(table) and self._rows is not None:
            return self._rows
        rec_c, t_c, y_c = (self.arrays[k] for k in ("record", "time_s", "y"))
        rows = np.full(len(table["y"]), -1, np.int64)
        for rid in np.unique(table["record"]):
            mine = np.flatnonzero(table["record"] == rid)
            theirs = np.flatnonzero(rec_c == rid)
            if not len(theirs):
                continue
            t = t_c[theirs].astype(np.float64)
            order = np.argsort(t, kind="stable")
            t, theirs = t[order], theirs[order]
            tt = np.asarray(table["time_s"][mine], np.float64)
            if len(t) == 1:
                near = np.zeros(len(tt), np.int64)
            else:
                pos = np.clip(np.searchsorted(t, tt), 1, len(t) - 1)
                near = np.where(np.abs(t[pos - 1] - tt) <= np.abs(t[pos] - tt), pos - 1, pos)
            close = np.abs(t[near] - tt) <= TIME_TOL
            rows[mine[close]] = theirs[near[close]]
        hit = rows >= 0
        wrong = hit & (np.asarray(table["y"]) != y_c[np.clip(rows, 0, None)])
        if wrong.any():
            k = int(np.flatnonzero(wrong)[0])
            raise SystemExit(f"{self.path}: {int(wrong.sum())} beats at the same time have another class than the "
                             f"table's (first: record {table['record'][k]} at {float(table['time_s'][k]):.2f} s); "
                             "the file was written from another table")
        self._rows, self._table_id = rows, id(table)
        return rows

    def _take(self, name: str, table: dict) -> np.ndarray:
        rows = self.align(table)
        src = self.arrays[name]
        out = np.full((len(rows), src.shape[1]), np.nan)
        out[rows >= 0] = src[rows[rows >= 0]].astype(np.float64)
        return out

    def outer(self, held_out: int, table: dict) -> tuple:
        """(probabilities (n_table, C), NaN rows; matched (n_table,) bool) of the outer model that left out fold
        ``held_out``: its fold's beats only, as ``beats_preset._deep_by_time`` gives them."""
        p = self._take("outer", table)
        p[~np.isin(table["record"], self.folds[held_out])] = np.nan
        return p, np.isfinite(p).all(axis=1)

    def inner(self, held_out: int, table: dict) -> np.ndarray:
        """(n_table, C): the inner models' left-out probabilities on the training records of fold ``held_out``."""
        name = f"inner_heldout{held_out}"
        if name not in self.arrays:
            raise SystemExit(f"{self.path}: no {name} (the file was written without run.py --steps inner)")
        return self._take(name, table)

    def add_inner(self, path) -> int:
        """Join a committed inner-K file (``inner_k_path``) to this one; returns its K. Its rows must be this file's
        (same length, classes and labels): else SystemExit naming it."""
        path = Path(path)
        if not path.is_file():
            raise SystemExit(f"{path}: no committed inner probabilities here (v_side.py --steps export_inner writes "
                             "them)")
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        names = [k for k in arrays if re.match(r"^inner\d+_heldout\d+$", k)]
        if "y" not in arrays or "labels" not in arrays or not names:
            raise SystemExit(f"{path}: not a committed inner-K file (needs y, labels and inner<K>_heldout<h>)")
        ks = {int(re.match(r"^inner(\d+)_", k).group(1)) for k in names}
        if len(ks) != 1:
            raise SystemExit(f"{path}: holds several inner K {sorted(ks)}")
        if len(arrays["y"]) != len(self.arrays["y"]) or not np.array_equal(arrays["y"], self.arrays["y"]):
            raise SystemExit(f"{path}: its beats are not the rows of {self.path} (y differs)")
        if [str(x) for x in arrays["labels"]] != self.labels:
            raise SystemExit(f"{path}: labels {list(arrays['labels'])}, {self.path} has {self.labels}")
        n, c = self.arrays["outer"].shape
        for name in names:
            if arrays[name].shape != (n, c):
                raise SystemExit(f"{path}: {name} has shape {arrays[name].shape}, outer {(n, c)}")
            self.arrays[name] = arrays[name]
        if "folds_json" in arrays:
            self.inner_k_groups = json.loads(str(arrays["folds_json"])).get("inner_groups")
        return ks.pop()

    def inner_k(self, held_out: int, table: dict, k: int) -> np.ndarray:
        """(n_table, C): the probabilities of the ``--inner-folds k`` inner models (``add_inner``) on the training
        records of fold ``held_out``."""
        name = f"inner{k}_heldout{held_out}"
        if name not in self.arrays:
            raise SystemExit(f"{self.path}: no {name} (join oof/inner{k}_k{len(self.folds)}.npz with add_inner)")
        return self._take(name, table)

    def deep_of_run(self, run: str, table: dict) -> tuple:
        """``beats_preset._deep_by_time``'s answer for ``run.py``'s run name ``run``."""
        m = _RUN.match(run)
        if not m:
            raise SystemExit(f"{self.path}: holds scratch_focal runs only, not {run!r}")
        held_out = int(m.group(1))
        if m.group(2) is None:
            return self.outer(held_out, table)
        p = self.inner(held_out, table)
        return p, np.isfinite(p).all(axis=1)


def write(path: Path, table: dict, labels, outer: np.ndarray, inner: dict, folds_saved: dict, meta: dict,
          dtype=np.float16) -> dict:
    """Write the committed file: ``outer`` (n_table, C), ``inner`` {held_out: (n_table, C)} (NaN rows where none),
    ``folds_saved`` (``folds.json``'s content, the split only), ``meta``. Returns its size and counts."""
    arrays = {"record": np.asarray(table["record"]).astype("U8"), "time_s": np.asarray(table["time_s"], np.float32),
              "y": np.asarray(table["y"], np.int8), "labels": np.array(labels), "outer": outer.astype(dtype),
              "folds_json": np.array(json.dumps({k: folds_saved[k] for k in FOLDS_KEYS if k in folds_saved})),
              "meta_json": np.array(json.dumps(meta))}
    for h, p in inner.items():
        arrays[f"inner_heldout{h}"] = p.astype(dtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return {"path": str(path), "bytes": path.stat().st_size, "beats": int(len(table["y"])),
            "dtype": np.dtype(dtype).name, "outer_beats": int(np.isfinite(outer).all(axis=1).sum()),
            "inner_beats": {str(h): int(np.isfinite(p).all(axis=1).sum()) for h, p in inner.items()}}


def write_inner(path: Path, committed: CommittedPredictions, table: dict, inner: dict, k: int, groups: dict,
                meta: dict, dtype=np.float16) -> dict:
    """Write the committed inner-K file: ``inner`` {held_out: (n_table, C)} (NaN where none) put on ``committed``'s
    rows (the table beats it matches), ``groups`` {held_out: the K inner groups}, ``meta``."""
    rows = committed.align(table)
    n, c = committed.arrays["outer"].shape
    arrays = {"y": committed.arrays["y"], "labels": committed.arrays["labels"],
              "folds_json": np.array(json.dumps({"inner_groups": {str(h): g for h, g in groups.items()}})),
              "meta_json": np.array(json.dumps(meta))}
    for h, p in inner.items():
        out = np.full((n, c), np.nan)
        out[rows[rows >= 0]] = p[rows >= 0]
        arrays[f"inner{k}_heldout{h}"] = out.astype(dtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return {"path": str(path), "bytes": path.stat().st_size, "dtype": np.dtype(dtype).name,
            "inner_beats": {str(h): int(np.isfinite(arrays[f"inner{k}_heldout{h}"]).all(axis=1).sum())
                            for h in inner}}

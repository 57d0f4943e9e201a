"""Run s42-g108 (issue 21, deliverable 2): why the graph's P-wave check (``EndToEnd.p_wave_check``) removes far fewer
of MIT-BIH 108's false peaks on D1's block21 than the Python check (``rpeak_guard.p_wave_like``), a look that chooses
nothing.

One build: record ``--record`` (108) as block21 on builder seed k (``--seed``, 0), run s58b's builder
(``graph_p_wave_d1.BUILDS``), at 100 Hz. Both sides at the end-to-end file's signal config (run s41-pport's
``on_post_wide`` + ``rpeak_guard_p_wave`` 1.0, ``rpeak_keep_first_beat`` off): the Python path on the whole record
(``rpeaks.find_rpeaks`` at 100 Hz, as ``detect_rate.detect_at_rate``), the graph on its 30 s windows (the float32
file, as ``graph_p_wave_d1`` runs it; the same graph run eagerly, ``EndToEnd.peaks``, to read the step's inputs, its
peaks checked equal to the file's window by window).

1. **Same inputs** (port fidelity): per window, the Python step's own inputs (its whole-record peaks in the window and
   its cleaned signal there, float32) fed to both steps; the windows where the kept peaks differ.
2. **Trace**: every false peak (150 ms from every annotated beat) the Python check drops on the whole record and the
   graph keeps (a graph peak within 50 ms after the check, in the beats the file can classify), put in one cause:
   ``a_not_proposed``: no graph peak within 50 ms at the step's input (the peaks before the check differ) and none
   added after it either; ``d_readded_after_step``: the graph's step dropped it, or never saw it, and a later step
   (the search back) put a peak there; ``c_port``: the graph's step saw it and kept it but ``p_wave_like`` on the
   graph's own inputs (its window's cleaned signal and peaks) drops it; ``b_window``: both steps keep it on the
   graph's inputs (the check's reference is the window's), split by why (the window's template gate closed: too few
   confident peaks / lag at an end / P wave too small / inconsistent; or the peak too far from the window's template /
   with a P wave of its own before it), and whether the whole record's template (lag, template, norm) on the same
   window's signal would have dropped it.
3. **Python per window**: the Python path run on each 30 s window alone (the graph's context) with the check off and
   on, counted on the same classifiable zones: does it reproduce the graph's small removal?
4. **Context** (block21 on ``--context-seeds``): the FN + FP the Python check removes with windows of
   ``CONTEXT_S`` seconds alone and on the whole record; and a what-if, 30 s windows with fewer confident peaks asked
   for (``MINIMA``; ``2 x GuardConstants.neighbours`` = 16 as it stands, shared with the amplitude guard).
5. **D1** (``--d1-records DS1``): the Python path whole-record and per 30 s window, check off / on, and the what-if at
   ``MINIMA[0]``, on every build of ``graph_p_wave_d1`` (classifiable zones), to see whether the per-window Python
   check reproduces the graph's D1 figure.
6. **The graph's context** (``--graph-context``, block21 on ``--context-seeds``): the graph's own detector
   (``EndToEnd.peaks``, no classifier) on windows of ``GRAPH_CONTEXT_S`` seconds, check off and on.
Parts 4 to 6 (and ``MINIMA``) were added after parts 1 to 3's figures on 108 (not blind); nothing is chosen or kept
from them. Prints one JSON object last.

    python experiments/rpeaks/graph_p_wave_108_look.py --data-dir /work/shared/data/mitdb --d1-records DS1 \
        --graph-context --d1-cache /work/runs/s42-g108/d1_rows.jsonl \
        --out benchmarks/results/rpeaks_graph_p_wave_108_look.json
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import sys
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "edge"))
import gap_port  # noqa: E402
import graph_points_look as G  # noqa: E402
from block21_seam import SEED_STEP  # noqa: E402
from cluster import match, rhythm_signals  # noqa: E402
from graph_p_wave_d1 import BUILDS, FILES  # noqa: E402

from ecgsl_keras.data import rpeak_guard, rpeaks  # noqa: E402
from ecgsl_keras.data import signal as signal_lib  # noqa: E402
from ecgsl_keras.data.filters import resample  # noqa: E402

log = logging.getLogger("experiments.rpeaks.graph_p_wave_108_look")
EXPERIMENT = "rpeaks_graph_p_wave_108_look"
KEEP_TOL = 5          # samples at 100 Hz: the graph's peak at a false peak, at the step's input or after (50 ms)


def p_wave_parts(peaks, x, fs, distance, const, reference=None) -> dict:
    """``rpeak_guard.p_wave_like``'s parts on ``peaks`` / ``x``: the gate that closed (None: open), lag, template,
    norm, and per peak the match distance over the norm and the own-P correlation; with ``reference`` = (lag,
    template, norm) those are used instead of this window's (the gates then open)."""
    x = np.asarray(x, np.float64)
    amplitude = signal_lib.qrs_amplitudes(x, peaks, fs)
    half = max(1, int(round(const.p_wave_half_width_s * fs)))
    shift = int(round(const.p_wave_shift_s * fs))
    size = 2 * half + 1
    gate = None
    if reference is None:
        confident = peaks[amplitude >= const.p_wave_confident * np.percentile(amplitude, const.percentile)]
        found = rpeak_guard._p_wave_waves(x, peaks, amplitude, fs, const)
        if found is None:
            return {"gate": "too_few_confident" if confident.size < 2 * const.neighbours else "lag_at_an_end"}
        lag, confident, waves = found
        template = np.median(waves, axis=0)
        norm = float(np.linalg.norm(template))
        qrs = np.median(signal_lib.qrs_amplitudes(x, confident, fs))
        if np.ptp(template) < const.p_wave_min_size * qrs or norm <= 0:
            gate = "p_wave_too_small"
        elif rpeak_guard._p_wave_consistency(waves, template, norm) < const.p_wave_consistency:
            gate = "inconsistent"
    else:
        lag, template, norm = reference

    def windows(at):
        w = x[np.clip(at[:, None] + np.arange(-half - shift, half + shift + 1)[None, :], 0, x.size - 1)]
        w = np.lib.stride_tricks.sliding_window_view(w, size, axis=1)
        return w - w.mean(axis=2, keepdims=True)

    match_ = np.linalg.norm(windows(peaks) - template, axis=2).min(axis=1) / norm
    w = windows(peaks - lag)
    own = ((w @ template) / np.maximum(np.linalg.norm(w, axis=2), 1e-12) / norm).max(axis=1)
    flagged = (match_ < distance) & (own < const.p_wave_own) & (gate is None)
    return {"gate": gate, "lag": int(lag), "template": template, "norm": norm, "match": match_, "own": own,
            "flagged": flagged}


def near(a, b, tol) -> np.ndarray:
    """For each of ``a``: a peak of ``b`` within ``tol`` samples."""
    b = np.sort(np.asarray(b, np.int64))
    if b.size == 0:
        return np.zeros(np.size(a), bool)
    j = np.clip(np.searchsorted(b, a), 1, b.size - 1)
    return np.minimum(np.abs(b[j] - a), np.abs(b[j - 1] - a)) <= tol


def spy_python(config, at):
    """Python path on ``at`` (100 Hz, float64): (peaks, [(step peaks, flags, cleaned)]) of each p_wave_like call."""
    calls, original = [], rpeak_guard.p_wave_like

    def spy(peaks, amplitude, cleaned, fs, distance, constants=None):
        flags = original(peaks, amplitude, cleaned, fs, distance, constants)
        calls.append((np.array(peaks), flags.copy(), np.array(cleaned)))
        return flags
    rpeak_guard.p_wave_like = spy
    try:
        return rpeaks.find_rpeaks(at, 100.0, config), calls
    finally:
        rpeak_guard.p_wave_like = original


def windowed_counts(built, fs, x64, zones, config, window, rate, lo, hi) -> list:
    """[tp, fn, fp] of the Python path run on each ``window``-sample window of ``x64`` alone (``edge.window_starts``,
    each window's peaks taken as the file's are, ``classifiable_zones`` with margins ``lo`` / ``hi``), counted on
    ``zones`` (the file's classifiable beats); ``window`` None: the whole record."""
    from ecgsl_keras.serving import edge

    if window is None:
        peaks = rpeaks.find_rpeaks(x64, rate, config)
    else:
        wins = [(start, len(x64[start:start + window]),
                 rpeaks.find_rpeaks(x64[start:start + window], rate, config).astype(np.int64) + start)
                for start in edge.window_starts(len(x64), window)]
        _, peaks = G.classifiable_zones(wins, lo, hi, fs, rate)
    return [int(v) for v in match(*G.in_zones(built, np.asarray(peaks, np.float64) * fs / rate, zones), fs)[:3]]


def with_confident_minimum(minimum):
    """A context in which ``p_wave_like`` asks for ``minimum`` confident peaks (``2 x GuardConstants.neighbours``, 16,
    as it stands) and nothing else changes (the amplitude guard keeps its own neighbours): a what-if of this look."""
    import contextlib

    @contextlib.contextmanager
    def patched():
        original = rpeak_guard.p_wave_like

        def lowered(peaks, amplitude, cleaned, fs, distance, constants=None):
            constants = dataclasses.replace(constants or rpeak_guard.GUARD, neighbours=max(1, minimum // 2))
            return original(peaks, amplitude, cleaned, fs, distance, constants)
        rpeak_guard.p_wave_like = lowered
        try:
            yield
        finally:
            rpeak_guard.p_wave_like = original
    return patched()


CONTEXT_S = (30, 60, 120, 300)      # the Python path's window (s); None: the whole record
MINIMA = (8, 4)                     # the confident peaks the what-if asks for per 30 s window (16 as it stands)


def context_look(args, on, off, zones, rate, lo, hi) -> dict:
    """Part 4: per seed of ``--context-seeds``, the FN + FP the Python check removes on the whole record and on windows
    of ``CONTEXT_S`` seconds alone, and (what-if) on 30 s windows with ``MINIMA`` confident peaks asked for; counted on
    the file's classifiable zones (the zones depend on the record's length only, the same on every seed)."""
    rows = {}
    for k in args.context_seeds:
        skip = {f"{args.record}|block21|today": []}
        _, built, fs, _, _ = next(rhythm_signals(args.data_dir, args.record, skip, seed_offset=SEED_STEP * k,
                                                 **BUILDS["block21"]))
        x64 = resample(np.asarray(built["signal"], np.float64), fs, rate)
        row = {}
        for seconds in (*CONTEXT_S, None):
            w = None if seconds is None else int(seconds * rate)
            c = {n: windowed_counts(built, fs, x64, zones, cfg, w, rate, lo, hi)
                 for n, cfg in (("off", off), ("on", on))}
            row["whole" if seconds is None else f"{seconds}s"] = {**c, "removed": sum(c["off"][1:]) - sum(c["on"][1:])}
        for minimum in MINIMA:
            with with_confident_minimum(minimum):
                c = windowed_counts(built, fs, x64, zones, on, int(30 * rate), rate, lo, hi)
            removed = sum(row["30s"]["off"][1:]) - sum(c[1:])
            row[f"30s_minimum_{minimum}"] = {"on": c, "removed": removed}
        rows[str(k)] = row
        log.info("context k%d: %s", k, {n: r["removed"] for n, r in row.items()})
    names = list(rows[str(args.context_seeds[0])])
    summary = {n: _mean_sd([rows[k][n]["removed"] for k in rows]) for n in names}
    return {"seeds": [f"record + {SEED_STEP} x {k}" for k in args.context_seeds], "removed_mean_sd": summary,
            "per_seed": rows}


GRAPH_CONTEXT_S = (30, 60, 120)     # part 6: the graph's detector on windows this long


def graph_context(args, on, off, zones, rate, lo, hi, edge_options) -> dict:
    """Part 6: per seed of ``--context-seeds``, the FN + FP the graph's own check removes when the graph's detector
    (``EndToEnd.peaks``, traced once per window length; no classifier) runs on windows of ``GRAPH_CONTEXT_S``
    seconds, ``max_beats`` scaled with the window (128 per 30 s), counted as the file's peaks on its classifiable
    zones. At 30 s it is the file's detector (part 2 checks their peaks equal)."""
    import tensorflow as tf

    from ecgsl_keras.serving import edge

    runs = {}
    for seconds in GRAPH_CONTEXT_S:
        cfg = edge.EdgeConfig(**{**edge_options, "window_s": float(seconds)})
        for name, config in (("off", off), ("on", on)):
            # n_rr (3): the classifier's, unused by the detector
            runs[(seconds, name)] = tf.function(edge.EndToEnd(None, config, 128 * seconds // 30, 3, cfg).peaks)
    rows = {}
    for k in args.context_seeds:
        skip = {f"{args.record}|block21|today": []}
        _, built, fs, _, _ = next(rhythm_signals(args.data_dir, args.record, skip, seed_offset=SEED_STEP * k,
                                                 **BUILDS["block21"]))
        at = resample(np.asarray(built["signal"], np.float64), fs, rate).astype(np.float32)
        row = {}
        for seconds in GRAPH_CONTEXT_S:
            window = int(seconds * rate)
            c = {}
            for name in ("off", "on"):
                wins = []
                for start in edge.window_starts(len(at), window):
                    pos, ok = runs[(seconds, name)](tf.constant(at[start:start + window]))
                    wins.append((start, window, pos.numpy()[ok.numpy()].astype(np.int64) + start))
                _, peaks = G.classifiable_zones(wins, lo, hi, fs, rate)
                c[name] = [int(v) for v in match(*G.in_zones(built, np.asarray(peaks, np.float64) * fs / rate,
                                                             zones), fs)[:3]]
            row[f"{seconds}s"] = {**c, "removed": sum(c["off"][1:]) - sum(c["on"][1:])}
        rows[str(k)] = row
        log.info("graph context k%d: %s", k, {n: r["removed"] for n, r in row.items()})
    return {"removed_mean_sd": {n: _mean_sd([rows[k][n]["removed"] for k in rows]) for n in rows[next(iter(rows))]},
            "per_seed": rows}


D1_POINTS = ("whole_off", "whole_on", "30s_off", "30s_on", "30s_on_minimum_8")


def d1_rows(args, on, off, rate, window, lo, hi) -> dict:
    """Part 5: per record of ``--d1-records``, each build of ``graph_p_wave_d1`` (normal / bigeminy / pause, block21 on
    ``--context-seeds``): [tp, fn, fp] of the Python path on the whole record and on 30 s windows alone, check off and
    on (and on with ``MINIMA[0]`` confident peaks asked for, the what-if), on the file's classifiable zones. Cached per
    record in ``--d1-cache`` (JSON lines, resumable)."""
    from ecgsl_keras.serving import edge

    cache = Path(args.d1_cache)
    done = gap_port.read_rows(cache)
    for rid in args.d1_records:
        if rid in done:
            continue
        rows = {}
        builds = [(h, 0) for h in ("normal", "bigeminy", "pause")] + [("block21", k) for k in args.context_seeds]
        for rhythm, k in builds:
            skip = {f"{rid}|{rhythm}|today": []}
            for _, built, fs, _, _ in rhythm_signals(args.data_dir, rid, skip, seed_offset=SEED_STEP * k,
                                                     **BUILDS[rhythm]):
                x64 = resample(np.asarray(built["signal"], np.float64), fs, rate)
                empty = np.zeros(0, np.int64)
                zones, _ = G.classifiable_zones([(st, len(x64[st:st + window]), empty)
                                                 for st in edge.window_starts(len(x64), window)], lo, hi, fs, rate)
                count = functools.partial(windowed_counts, built, fs, x64, zones, rate=rate, lo=lo, hi=hi)
                row = {"whole_off": count(off, None), "whole_on": count(on, None),
                       "30s_off": count(off, window), "30s_on": count(on, window)}
                with with_confident_minimum(MINIMA[0]):
                    row[f"30s_on_minimum_{MINIMA[0]}"] = count(on, window)
                rows[f"{rhythm}|k{k}"] = row
                log.info("d1 %s %s k%d: %s", rid, rhythm, k, row)
        done[rid] = {"record": rid, "rows": rows}
        with cache.open("a") as f:
            f.write(json.dumps(done[rid]) + "\n")
    return {rid: done[rid]["rows"] for rid in args.d1_records}


def d1_figures(per_record, seeds) -> dict:
    """Part 5's totals: per point, FN + FP over the four rhythms (block21: mean, sd over ``seeds``), and the FN + FP the
    check removes (the on points against their off point), in all and on record 108; per rhythm FN and FP."""
    rhythms_ = ("normal", "bigeminy", "block21", "pause")

    def errors(point, k, records):
        return sum(sum(per_record[r][f"{h}|k{k if h == 'block21' else 0}"][point][1:])
                   for r in records for h in rhythms_)

    out = {}
    for scope, records in (("all", list(per_record)), ("108", [r for r in per_record if r == "108"])):
        if not records:
            continue
        out[scope] = {p: _mean_sd([errors(p, k, records) for k in seeds]) for p in D1_POINTS}
        out[scope]["check_removes"] = {
            p: _mean_sd([errors(base, k, records) - errors(p, k, records) for k in seeds])
            for p, base in (("whole_on", "whole_off"), ("30s_on", "30s_off"), ("30s_on_minimum_8", "30s_off"))}
    out["per_rhythm"] = {p: {h: {m: round(float(np.mean([sum(per_record[r][f"{h}|k{k if h == 'block21' else 0}"][p][i]
                                                            for r in per_record) for k in seeds])), 1)
                                 for m, i in (("FN", 1), ("FP", 2))} for h in rhythms_} for p in D1_POINTS}
    return out


def _mean_sd(values) -> dict:
    return {"mean": round(float(np.mean(values)), 1), "sd": round(float(np.std(values, ddof=1)), 1)
            if len(values) > 1 else 0.0}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--work", default="/work/runs/s41-pport/port", help="run s41-pport's export folders")
    parser.add_argument("--record", default="108")
    parser.add_argument("--seed", type=int, default=0, help="block21's builder seed k")
    parser.add_argument("--context-seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                        help="block21's builder seeds of part 4")
    parser.add_argument("--d1-records", nargs="*", default=[], help="part 5's records (DS1: the 22 DS1 records)")
    parser.add_argument("--d1-cache", default="/work/runs/s42-g108/d1_rows.jsonl")
    parser.add_argument("--graph-context", action="store_true", help="part 6 (the graph's detector, longer windows)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.d1_records == ["DS1"]:
        args.d1_records = list(G.tasks.MITDB_DS1)
    if not Path(args.data_dir).is_dir():
        parser.error(f"{args.data_dir}: no such data folder (--data-dir)")
    import tensorflow as tf

    from ecgsl_keras.serving import edge

    runners, meta = {}, None
    for name, folder in FILES.items():
        path = Path(args.work) / folder / edge.tflite_name("float32")
        if not path.is_file():
            parser.error(f"{path}: run s41-pport's float32 end-to-end file is missing (--work)")
        meta = json.loads((path.parent / edge.METADATA_NAME).read_text())
        runners[name] = edge.Runner(path, num_threads=1)
    rate, window = float(meta["input"]["rate_hz"]), int(meta["input"]["max_samples"])
    lo, hi = gap_port.classifiable_margins(types.SimpleNamespace(**meta["signal_config"]), rate)
    _, _, configs = gap_port._configs({"on": {**gap_port.POINTS["on_post_wide"], "rpeak_guard_p_wave": 1.0}})
    model_config = configs["on"]
    on = model_config.signal
    off = dataclasses.replace(on, rpeak_guard_p_wave=0.0)
    assert on.rpeak_keep_first_beat == bool(meta["signal_config"]["rpeak_keep_first_beat"])
    const = rpeak_guard.constants_for(on)
    distance = float(on.rpeak_guard_p_wave)

    skip = {f"{args.record}|block21|today": []}
    _, built, fs, _, _ = next(rhythm_signals(args.data_dir, args.record, skip, seed_offset=SEED_STEP * args.seed,
                                             **BUILDS["block21"]))
    x64 = resample(np.asarray(built["signal"], np.float64), fs, rate)
    at = x64.astype(np.float32)
    to_fs = lambda p: np.asarray(p, np.float64) * fs / rate  # noqa: E731

    # the file's windows and zones (graph_p_wave_d1's count)
    graph = {name: gap_port.graph_windows(run, at, window) for name, run in runners.items()}
    zones, _ = G.classifiable_zones(graph["p_wave"], lo, hi, fs, rate)
    counts = {}
    for name, wins in graph.items():
        _, peaks = G.classifiable_zones(wins, lo, hi, fs, rate)
        counts[{"off": "graph_off", "p_wave": "graph_on"}[name]] = match(*G.in_zones(built, to_fs(peaks), zones), fs)
    # the Python path, whole record
    python_off = rpeaks.find_rpeaks(x64, rate, off)
    python_on, calls = spy_python(on, x64)
    assert len(calls) == 1, "the P-wave check runs once on the whole record"
    py_step_peaks, py_flags, py_cleaned = calls[0]
    for name, peaks in (("python_off", python_off), ("python_on", python_on)):
        counts[name] = match(*G.in_zones(built, to_fs(peaks), zones), fs)
    table = {k: [int(v) for v in c[:3]] for k, c in counts.items()}
    log.info("counts %s", table)
    # false peaks (at 100 Hz) of the Python path without the check that its check drops
    false_off = np.array(sorted(counts["python_off"][4]), np.float64) * rate / fs
    dropped = py_step_peaks[py_flags]
    targets = np.array([p for p in python_off if near([p], dropped, 0)[0] and near([p], false_off, 1)[0]
                        and not near([p], python_on, 0)[0]], np.int64)
    zone100 = [(a * rate / fs, b * rate / fs) for a, b in zones]
    targets = targets[[any(a <= t < b for a, b in zone100) for t in targets]]

    # the graph eagerly, its step's inputs and outputs per window
    steps, original = [], edge.EndToEnd.p_wave_check

    def spy(self, cleaned, pos, ok):
        kept_pos, kept_ok = original(self, cleaned, pos, ok)
        steps.append({"cleaned": cleaned.numpy(), "in": pos.numpy()[ok.numpy()],
                      "out": kept_pos.numpy()[kept_ok.numpy()]})
        return kept_pos, kept_ok
    edge.EndToEnd.p_wave_check = spy
    eager = edge.EndToEnd(None, on, int(model_config.model.max_beats), int(model_config.model.n_rr_features),
                          edge.EdgeConfig(**{k: tuple(v) if isinstance(v, list) else v
                                             for k, v in meta["edge_config"].items()}))
    starts = edge.window_starts(len(at), window)
    file_same, all_eager = 0, []
    try:
        for (start, n, found), s in zip(graph["p_wave"], starts):
            pos, ok = eager.peaks(tf.constant(at[start:start + window]))
            mine = pos.numpy()[ok.numpy()].astype(np.int64) + start
            # the file reports the classified beats (its margins); compare inside them
            a, b = start + lo, start + n - hi
            inside = lambda p: np.sort(p[(p >= a) & (p < b)])  # noqa: E731
            file_same += int(np.array_equal(inside(mine), inside(found)))
            all_eager.append(mine)
    finally:
        edge.EndToEnd.p_wave_check = original
    assert len(steps) == len(starts)

    # part 1: the Python step's inputs fed to both steps, per window
    same_inputs = {"windows": len(starts), "windows_same_kept": 0, "python_dropped": 0, "graph_dropped": 0,
                   "windows_differing": []}
    for w, start in enumerate(starts):
        inside = (py_step_peaks >= start) & (py_step_peaks < start + window)
        peaks = py_step_peaks[inside] - start
        if peaks.size < 3:
            same_inputs["windows_same_kept"] += 1
            continue
        cleaned = py_cleaned[start:start + window].astype(np.float32)
        x = cleaned.astype(np.float64)
        flags = rpeak_guard.p_wave_like(peaks, signal_lib.qrs_amplitudes(x, peaks, rate), x, rate, distance, const)
        k = eager.max_beats
        pos = np.full(k, cleaned.size - 1, np.int32)
        pos[:peaks.size] = peaks[:k]
        kept, ok = eager.p_wave_check(tf.constant(np.pad(cleaned, (0, eager.n - cleaned.size), mode="edge")),
                                      tf.constant(pos), tf.constant(np.arange(k) < peaks.size))
        graph_kept = kept.numpy()[ok.numpy()]
        same = np.array_equal(np.sort(graph_kept), peaks[~flags])
        same_inputs["windows_same_kept"] += int(same)
        same_inputs["python_dropped"] += int(flags.sum())
        same_inputs["graph_dropped"] += int(peaks.size - graph_kept.size)
        if not same:
            same_inputs["windows_differing"].append({"window": w, "start": int(start), "python_flags": int(flags.sum()),
                                                     "graph_drops": int(peaks.size - graph_kept.size)})
    log.info("same inputs %s", same_inputs)

    # part 2: the trace
    amp_all = signal_lib.qrs_amplitudes(py_cleaned, py_step_peaks, rate)
    whole = p_wave_parts(py_step_peaks, py_cleaned, rate, distance, const)
    assert np.array_equal(whole["flagged"], py_flags), "p_wave_parts must be p_wave_like on the whole record"
    del amp_all
    reference = (whole["lag"], whole["template"], whole["norm"])
    graph_on_all = np.concatenate([f for _, _, f in graph["p_wave"]])
    causes = dict.fromkeys(("a_not_proposed", "b_window", "c_port", "d_readded_after_step"), 0)
    rows, per_window = [], {}
    for t in targets:
        if not near([t], graph_on_all, KEEP_TOL)[0]:
            continue                                   # the graph drops it too (or does not report it)
        w = next(i for i, (a, b) in enumerate(zone100) if a <= t < b)
        start, step = starts[w], steps[w]
        local = t - start
        g_in, g_out = step["in"].astype(np.int64), step["out"].astype(np.int64)
        row = {"peak_100hz": int(t), "window": w}
        i = int(np.argmin(np.abs(g_in - local))) if g_in.size else -1
        if i < 0 or abs(int(g_in[i]) - local) > KEEP_TOL:
            cause = "d_readded_after_step" if near([t], all_eager[w], KEEP_TOL)[0] else "a_not_proposed"
        elif not np.isin(g_in[i], g_out):
            cause = "d_readded_after_step"
        else:
            row["graph_minus_python_samples"] = int(g_in[i]) - int(local)
            parts = p_wave_parts(g_in, step["cleaned"], rate, distance, const)
            x = step["cleaned"].astype(np.float64)
            py_on_graph = rpeak_guard.p_wave_like(g_in, signal_lib.qrs_amplitudes(x, g_in, rate), x, rate, distance,
                                                  const)
            assert parts["gate"] is not None or np.array_equal(parts["flagged"], py_on_graph)
            if py_on_graph[i]:
                cause = "c_port"
            else:
                cause = "b_window"
                if parts["gate"] is not None:
                    why = parts["gate"]
                else:
                    why = "far_from_template" if parts["match"][i] >= distance else "own_p_wave"
                    row |= {"match": round(float(parts["match"][i]), 3), "own": round(float(parts["own"][i]), 3)}
                with_whole = p_wave_parts(g_in, step["cleaned"], rate, distance, const, reference)
                row |= {"why": why, "whole_record_template_drops": bool(with_whole["flagged"][i]),
                        "window_lag": parts.get("lag"), "whole_lag": whole["lag"]}
        row["cause"] = cause
        causes[cause] += 1
        per_window[w] = per_window.get(w, 0) + 1
        rows.append(row)
    sub = {}
    for r in rows:
        if r["cause"] == "b_window":
            key = f"{r['why']}|whole_template_drops={r['whole_record_template_drops']}"
            sub[key] = sub.get(key, 0) + 1
    # the window gates, every window
    gates = {}
    for w, step in enumerate(steps):
        g_in = step["in"].astype(np.int64)
        gate = p_wave_parts(g_in, step["cleaned"], rate, distance, const)["gate"] if g_in.size >= 3 else "under_3"
        gates[str(gate)] = gates.get(str(gate), 0) + 1

    # part 3: the Python path on each window alone
    for name, config in (("off", off), ("on", on)):
        table[f"python_per_window_{name}"] = windowed_counts(built, fs, x64, zones, config, window, rate, lo, hi)

    removed = {side: (sum(table[f"{side}_off"][1:]) - sum(table[f"{side}_on"][1:]))
               for side in ("graph", "python", "python_per_window")}
    # part 4: the context the check sees, on every seed of --context-seeds
    context = context_look(args, on, off, zones, rate, lo, hi)
    edge_options = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["edge_config"].items()}
    graph_ctx = graph_context(args, on, off, zones, rate, lo, hi, edge_options) if args.graph_context else None
    # part 5: the Python path per 30 s window on D1's benchmark
    d1 = None
    if args.d1_records:
        per_record = d1_rows(args, on, off, rate, window, lo, hi)
        d1 = {"records": args.d1_records, "block21_seeds": [f"record + {SEED_STEP} x {k}" for k in args.context_seeds],
              **d1_figures(per_record, args.context_seeds), "per_record": per_record}
    out = {"experiment": EXPERIMENT, "command": " ".join(["python", "experiments/rpeaks/graph_p_wave_108_look.py",
                                                          *(argv if argv is not None else sys.argv[1:])]),
           "choice": "none (a look at one build)", "record": args.record, "rhythm": "block21",
           "builder_seed": f"record + {SEED_STEP} x {args.seed}", "rate_hz": rate, "window_samples": window,
           "files": {n: str(Path(args.work) / f) for n, f in FILES.items()},
           "counts_tp_fn_fp": table, "check_removes_errors": removed,
           "eager_graph_equals_file_windows": {"same": file_same, "of": len(starts)},
           "same_inputs": same_inputs, "context": context, "graph_context": graph_ctx,
           "d1_python_per_window": d1,
           "whole_record_reference": {"lag_samples": whole["lag"], "norm": round(whole["norm"], 5),
                                      "step_peaks": int(py_step_peaks.size), "flagged": int(py_flags.sum())},
           "trace": {"python_drops_false": int(targets.size), "graph_keeps": len(rows), "causes": causes,
                     "b_window_why": sub, "window_gates": gates,
                     "kept_per_window": {str(k): v for k, v in sorted(per_window.items())}},
           "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    shown = {k: v for k, v in out.items() if k != "rows"}
    if d1:
        shown["d1_python_per_window"] = {k: v for k, v in d1.items() if k != "per_record"}
    print(json.dumps(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run s63's look after its counts (issue 21; chooses nothing): why run s63's contrast test on the aligned wide rescue's
peaks (``SignalConfig.rpeak_rescue_wide_aligned_contrast``) kept run s62's false beats in 207 and 209 and refused true
beats in 106 and 201. At builder seed k = 0, on run s58b's builder, for each peak run s62's c = 0.9 point
(``minimum_gap.S62_POINT``) keeps that run s58's point does not: whether it matches a reference beat (150 ms), its
distance to the nearest reference beat, its QRS amplitude and the six surrounding windows' (``rpeak_guard.CONTRAST_OFFSETS_S``
each side, ``qrs_amplitudes``), their median (``surroundings_amplitude``) and the ratio the test compares with r; and
the coupling a test against the local RR would read (run s58's peaks before and after it, their local median RR).

    python experiments/rpeaks/s63_contrast_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s63_contrast_look.json
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from block21_seam import JOINS  # noqa: E402
from cluster import in_episodes, rhythm_signals  # noqa: E402
from look_cli import look_parser  # noqa: E402
from minimum_gap import S58_POINT, S62_POINT, S63_CONTRAST, final_peaks, points  # noqa: E402

from ecgsl_keras.data import rpeak_guard as G  # noqa: E402

log = logging.getLogger("experiments.rpeaks.s63_contrast_look")
RECORDS = ("106", "201", "207", "209", "223")   # run s63's counts: where its points and run s62's differ at k = 0


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv, parser = look_parser(argv, __doc__)
    args = parser.parse_args(argv)
    base = next(p for p in points("s63") if p[3] == S58_POINT)
    config58 = base[1]
    config62 = dataclasses.replace(config58, rpeak_rescue_wide_aligned=S62_POINT["rpeak_rescue_wide_aligned"])
    rows = []
    for rid in RECORDS:
        for rhythm, built, fs, cleaned, det in rhythm_signals(args.data_dir, rid, {}, t_end_s=None,
                                                              join_edge_s=JOINS["new"], seed_offset=0, artifacts=True,
                                                              own_onset=True):
            # run s58's / run s62's final peaks as minimum_gap.count makes them
            p58 = final_peaks(built, fs, cleaned, det, config58, None, S58_POINT)[2]
            p62 = final_peaks(built, fs, cleaned, det, config62, None, S62_POINT)[2]
            new = p62[np.min(np.abs(p62[:, None] - p58[None, :]), axis=1) > int(round(0.15 * fs))] if p58.size else p62
            new = new[~in_episodes(new, built["episodes"])]    # as the counts (match): VF episodes left out
            if new.size == 0:
                continue
            ref = np.asarray(built["beats"], np.int64)
            offsets = np.round(np.array(G.CONTRAST_OFFSETS_S) * fs).astype(np.int64)
            around = np.concatenate([-offsets[::-1], offsets])
            constants = G.constants_for(config62)
            half = constants.qrs_half_width_s
            for at in new:
                near = int(np.min(np.abs(ref - at))) if ref.size else 10 ** 9
                amp = float(G.qrs_amplitudes(cleaned, [at], fs, half)[0])
                windows = G.qrs_amplitudes(cleaned, np.clip(at + around, 0, cleaned.size - 1), fs, half)
                sur = float(G.surroundings_amplitude(cleaned, fs, [at], constants)[0])
                # the coupling a test against the local RR would read: run s58's peaks before and after it, and the
                # median of the 16 RR intervals of run s58's peaks around it (GuardConstants.neighbours each side)
                j = int(np.searchsorted(p58, at))
                rr = np.diff(p58[max(j - constants.neighbours, 0):j + constants.neighbours + 1])
                rows.append({"record": rid, "rhythm": rhythm, "sample": int(at),
                             "after_beat_s": round(float(at - p58[j - 1]) / fs, 3) if j > 0 else None,
                             "before_beat_s": round(float(p58[j] - at) / fs, 3) if j < p58.size else None,
                             "local_median_rr_s": round(float(np.median(rr)) / fs, 3) if rr.size else None,
                             "true_beat": near <= int(round(0.15 * fs)),
                             "nearest_beat_s": round(near / fs, 3), "amplitude": round(amp, 3),
                             "windows": [round(float(w), 3) for w in windows], "surroundings": round(sur, 3),
                             "ratio": round(amp / max(sur, 1e-12), 2),
                             "kept_at_r": [r for r in S63_CONTRAST if amp >= r * sur]})
                log.info("%s", rows[-1])
    summary = {kind: {"n": len(sel), "ratio": sorted(r["ratio"] for r in sel),
                      "nearest_beat_s": sorted(r["nearest_beat_s"] for r in sel)}
               for kind, sel in (("true", [r for r in rows if r["true_beat"]]),
                                 ("false", [r for r in rows if not r["true_beat"]]))}
    out = {"experiment": "rpeaks_s63_contrast_look", "command": " ".join(["python", "experiments/rpeaks/s63_contrast_look.py"] + argv),
           "what": "a look after run s63's counts (chooses nothing): the peaks run s62's c = 0.9 point adds to run "
                   "s58's at k = 0 on run s58b's builder, with the contrast run s63 tests",
           "records": list(RECORDS), "seed": "record + 0", "summary": summary, "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

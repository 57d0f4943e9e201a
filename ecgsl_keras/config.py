"""Every default of ecgsl-keras, in one place.

Three dataclasses (signal processing, model, training) and one ``ExperimentConfig`` holding all
three. Each can be saved as JSON and loaded back; unknown keys are an error, so a typo in a config
file is caught instead of silently ignored. The config used is saved beside every trained model.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ecgsl_keras.errors import ConfigError
from ecgsl_keras.fileio import write_text_atomic


class _JsonConfig:
    """Mixin: to_dict / from_dict / save / load for a (possibly nested) dataclass."""

    def to_dict(self) -> dict:
        # SignalConfig.rpeak_guard_constants' (name, value) pairs are written as a JSON object, nested or not
        return dataclasses.asdict(self, dict_factory=lambda items: {
            k: (dict(v) if k in _MAPPING_FIELDS else v) for k, v in items})

    @classmethod
    def from_dict(cls, values: dict):
        if values is None:
            return cls()
        if not isinstance(values, dict):
            raise ConfigError("<config>", "bad_config", f"{cls.__name__} expects a JSON object, got {type(values).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError("<config>", "bad_config", f"unknown {cls.__name__} keys: {unknown}")
        kwargs = {}
        for name, value in values.items():
            sub = _NESTED.get((cls.__name__, name))
            if sub is not None:
                value = sub.from_dict(value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        obj = cls(**kwargs)
        obj.validate()
        return obj

    def validate(self) -> None:  # overridden where there is something to check
        return None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, path) -> None:
        """Atomic write: a crash never leaves a half-written config."""
        write_text_atomic(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path):
        path = Path(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(path, "missing_file", "config file not found") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(path, "bad_config", f"not valid JSON ({exc})") from None
        try:
            return cls.from_dict(values)
        except ConfigError as exc:
            raise ConfigError(path, "bad_config", str(exc).split(": ", 1)[-1]) from None


# fields held as sorted (name, value) pairs and written as a JSON object (_JsonConfig.to_dict)
_MAPPING_FIELDS = frozenset({"rpeak_guard_constants"})


# the GuardConstants fields an override must keep in a range (inclusive); the others are checked by type only
_GUARD_CONSTANT_RANGES = {"sharpness_step_s": (0.0, 0.05), "t_wave_unlike_correlation": (0.0, 1.0),
                          "t_wave_unlike_amplitude": (0.0, 10.0), "t_wave_unlike_sharpness": (0.0, 10.0),
                          "searchback_p_wave": (0.0, 10.0), "templates_spacing": (0.0, 0.5)}


def guard_constant_overrides(values) -> tuple:
    """``SignalConfig.rpeak_guard_constants`` checked and normalised: sorted ``(name, value)`` pairs from a mapping
    (or such pairs) of ``GuardConstants`` field names to values of the field's type (a float field takes an int, a
    tuple field a list of as many numbers). ``ConfigError`` naming the field and the bad entry otherwise."""
    where = "rpeak_guard_constants"
    if isinstance(values, dict):
        items = list(values.items())
    else:
        try:
            items = [tuple(item) for item in values]
        except TypeError:
            items = None
        if items is None or any(len(item) != 2 for item in items):
            raise ConfigError("<config>", "bad_config", f"{where} must map GuardConstants field names to values, "
                                                        f"got {values!r}")
    defaults = {f.name: f.default for f in dataclasses.fields(GuardConstants)}
    out = {}
    for name, value in items:
        if name not in defaults:
            raise ConfigError("<config>", "bad_config", f"{where}: unknown GuardConstants field {name!r} (the fields "
                                                        "of ecgsl_keras.config.GuardConstants)")
        default = defaults[name]
        bad = ConfigError("<config>", "bad_config", f"{where}: GuardConstants.{name} must be of type "
                                                    f"{type(default).__name__} (default {default!r}), got {value!r}")
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise bad
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise bad
            value = float(value)
        elif isinstance(default, tuple):
            if (not isinstance(value, (list, tuple)) or len(value) != len(default)
                    or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)):
                raise bad
            value = tuple(float(v) for v in value)
        if name in _GUARD_CONSTANT_RANGES and not (_GUARD_CONSTANT_RANGES[name][0] <= value
                                                   <= _GUARD_CONSTANT_RANGES[name][1]):
            low, high = _GUARD_CONSTANT_RANGES[name]
            raise ConfigError("<config>", "bad_config", f"{where}: GuardConstants.{name} must be from {low} to {high}, "
                                                        f"got {value!r}")
        if name in out:
            raise ConfigError("<config>", "bad_config", f"{where}: GuardConstants.{name} given twice")
        out[name] = value
    return tuple(sorted(out.items()))


# SignalConfig.beat_reference -> channels of each stored beat
BEAT_REFERENCES = {"none": 1, "median": 2, "tq": 2, "tq_median": 3}


@dataclass(frozen=True)
class GuardConstants:
    """The R-peak guard's fixed constants (``data.rpeak_guard``), in one place for the Python detector
    (``guard_rpeaks``) and the in-graph one (``ecgsl_keras.serving.edge``). The tunable thresholds are ``SignalConfig``
    fields (``rpeak_guard_amplitude``, ``rpeak_searchback*``); a config changes any of these defaults with
    ``SignalConfig.rpeak_guard_constants`` (read through ``rpeak_guard.constants_for``)."""

    neighbours: int = 8             # peaks each side that make the reference amplitude
    percentile: float = 75.0        # of their QRS amplitudes (a QRS value while under 75% of them are false)
    qrs_half_width_s: float = 0.05  # QRS amplitude and slope: within +-50 ms of R (cleaned signal)
    shape_half_width_s: float = 0.15  # QRS width: samples within +-150 ms of R over half the largest deflection
    # > 0 (issue 21 run s40-slope2; Python path only, the graph refuses the override): the sharpness' largest slope is
    # taken as differences over this step in seconds on the cubic spline through the window's samples, not over one
    # sample, whose damping of a QRS grows as the rate falls; at the step's own rate it is the one-sample difference.
    # At most 0.05 s (the window is +-qrs_half_width_s). 0 = one sample (default).
    sharpness_step_s: float = 0.0
    # shape rescue (issue 21): a peak under rpeak_guard_amplitude x the reference is kept when it is
    # still over ``rescue_amplitude`` x the reference and shaped like the QRS complexes around it:
    # sharpness (largest slope / amplitude) at least ``rescue_sharpness`` x their median and width at
    # most ``rescue_width`` x their median ("their": the neighbours over the amplitude threshold).
    # Small normal beats between large ectopic ones (bigeminy, trigeminy) are such peaks; P waves
    # (2:1 AV block) are wider and blunter, noise is smaller.
    rescue_amplitude: float = 0.25
    rescue_sharpness: float = 0.85
    rescue_width: float = 1.5
    # deep rescue (SignalConfig.rpeak_rescue_deep > 0; off by default): down to that x the reference when
    # sharper (``deep_sharpness``) and narrower (``deep_width``) than the QRS complexes around it: the
    # normal beats of bigeminy where the ectopic ones are 4-5 times larger (their median width is a PVC's).
    # 1.0 / 0.8 (with rpeak_rescue_deep 0.2): chosen leave-one-record-out on DS1 (experiments/rpeaks/deep.py)
    deep_sharpness: float = 1.0
    deep_width: float = 0.8
    # wide rescue (SignalConfig.rpeak_rescue_wide > 0; off by default): down to that x the reference when wider than
    # ``rescue_width`` x the QRS complexes around it and at least ``wide_sharpness`` x their median sharpness
    wide_sharpness: float = 1.0
    # restrictions of the wide rescue (run s44; 0 = off, the default): run s43's wide rescue added its false beats in
    # the long gaps the block21 and pause builders make (blocked P waves, T waves, noise), while a PVC is premature and
    # shaped like other ventricular beats of its record. ``wide_premature`` f > 0: the peak lies at most f x the local
    # median RR (of the peaks over the amplitude threshold, ``neighbours`` each side) after the one before it
    # (``wide_restrict``). ``wide_like`` c > 0: its QRS window (``qrs_windows``, +-``cluster_window_s``) correlates at
    # least c with that of a wide peak (over ``rescue_width`` x the median width around it) the check keeps without the
    # wide rescue, anywhere in the record (run s44's look: against any kept peak, 74 of 80 false rescues reach 0.8).
    # Both on: both hold.
    wide_premature: float = 0.0
    wide_like: float = 0.0
    # ``wide_p_wave`` p > 0 (run s45; 0 = off, the default): a wide-rescue candidate shaped like the record's P wave
    # (``record_p_wave`` of the peaks the check sees; best correlation over +-``p_wave_shift_s`` at least p and
    # peak-to-peak within 1 / ``blocked_p_size`` .. ``blocked_p_size`` x the template's, ``p_wave_match``) is refused:
    # run s44's false rescues that pass f = 0.8, c = 0.9 lie up to 0.25 s before a blocked beat (its P wave) or in the
    # cut after it; a PVC's QRS is several times a P wave's size (``wide_p_wave_like``).
    wide_p_wave: float = 0.0
    searchback_rounds: int = 3      # a gap holding several missed beats gets one more per round
    # shape-checked search back (SignalConfig.rpeak_searchback_shape > 0; off by default): in an RR gap
    # longer than rpeak_searchback_shape x the local median RR, a candidate is also kept when its QRS
    # amplitude is at least ``searchback_shape_amplitude`` x the reference and it is as sharp (at least
    # ``searchback_shape_sharpness`` x) and no wider (at most ``searchback_shape_width`` x) than the
    # median of the kept peaks around it. For irregular fast rhythms (atrial fibrillation with multiform
    # PVCs, MIT-BIH 203), where a missed beat leaves a gap of only 1.1-1.4 x the local median; T waves,
    # the candidates of such short gaps in a regular rhythm, are blunter and wider than a QRS.
    searchback_shape_amplitude: float = 0.35
    searchback_shape_sharpness: float = 0.85
    searchback_shape_width: float = 1.5
    # search back in irregular rhythm (SignalConfig.rpeak_searchback_irregular > 0; off by default): where the
    # 9 RR intervals around a gap have an interquartile range of at least ``searchback_irregular_spread`` x
    # their median, gaps from rpeak_searchback_irregular x the local median are searched (same acceptance)
    searchback_irregular_spread: float = 0.2
    # > 0 (issue 21 run s41-block100; Python path only, the graph refuses the override): the search back's candidates
    # also pass the P-wave check (``rpeak_guard.p_wave_like`` at this distance, as the second proposer's candidates do
    # with SignalConfig.rpeak_guard_p_wave): at 100 Hz the search back adds the large P waves of MIT-BIH 108 about 0.2 s
    # before the next beat, which the P-wave check, run before it, never sees. 0 = off (default).
    searchback_p_wave: float = 0.0
    # P-wave check (SignalConfig.rpeak_guard_p_wave > 0; off by default): where the record's P waves are
    # large (the P template, the median of the windows ``p_wave_half_width_s`` around the apex found
    # ``p_wave_lag_s`` before the peaks over ``p_wave_confident`` x the record's 75th percentile, spans at least
    # ``p_wave_min_size`` of their QRS amplitude; MIT-BIH 108), a kept peak is dropped when it matches that
    # template in shape and size (distance under rpeak_guard_p_wave x the template's norm, best of shifts up
    # to ``p_wave_shift_s``) and has no P wave of its own a PR interval before it (correlation with the
    # template there under ``p_wave_own``): a non-conducted P wave of a 2:1 block. A small QRS (bigeminy)
    # has its own P wave before it; a QRS of atrial fibrillation has none, but then the template is flat.
    p_wave_lag_s: tuple = (0.08, 0.3)
    p_wave_half_width_s: float = 0.08
    p_wave_shift_s: float = 0.02
    p_wave_confident: float = 0.7
    p_wave_min_size: float = 0.15
    p_wave_own: float = 0.6         # (rpeak_guard_p_wave: leave-one-record-out chose 0.8 alone, 1.0 with the
    #                                   deep rescue and prominent_negative_last; experiments/rpeaks/deep.py)
    p_wave_template_beats: int = 200
    p_wave_consistency: float = 0.8  # median correlation of the confident beats' P windows with the template
    # second proposer (SignalConfig.rpeak_second_proposer > 0; off by default): candidates are the local maxima of
    # the smoothed |slope| (``slope_feature``, on a ~100 Hz grid), at least min_rr_s apart, whose value reaches
    # rpeak_second_proposer x the ``second_level_percentile``-th percentile at the kept peaks around them (the
    # median; a lower percentile is a small beat's slope where small and large beats alternate, as in bigeminy),
    # and lie between two kept peaks (at a record's edges the slope maxima of filter transients and cut beats
    # would be candidates: CinC's 30 s records). After the move to the R apex a candidate
    # is added when it lies at least ``second_spacing`` x the local median RR (and min_rr_s) from both kept
    # neighbours, its QRS amplitude is at least ``second_amplitude`` x the reference (the guard's 75th
    # percentile of the neighbours), its width (``qrs_shapes``) at most ``second_width`` x their median and,
    # when ``second_correlation`` > 0, its QRS (+-``second_window_s``, mean removed) correlates at least that much
    # with one of the ``neighbours`` kept QRS complexes on each side. Candidates are taken strongest first.
    # 25 / 0.2 / 0.5 / 0 (with rpeak_second_proposer 0.5): chosen leave-one-record-out on DS1 with run s27's
    # recommended settings (experiments/rpeaks/second.py); width 4.0 was not gridded
    second_level_percentile: float = 25.0
    second_amplitude: float = 0.2
    second_width: float = 4.0
    second_spacing: float = 0.5
    second_correlation: float = 0.0
    second_window_s: float = 0.1
    # wide-peak check (SignalConfig.rpeak_guard_wide > 0; off by default): the last step of guard_rpeaks drops a
    # kept peak whose QRS amplitude is under ``wide_amplitude`` x the reference (the 75th percentile of the
    # ``neighbours`` each side) and whose width (``qrs_shapes``) is over rpeak_guard_wide x their median width.
    # A PVC is wide but large; a small normal beat of bigeminy is small but no wider than its neighbours.
    # 0.4 (with rpeak_guard_wide 2.0): chosen by 21 of 22 folds on run s28's choice (experiments/rpeaks/block.py),
    # but held out it adds more errors than it removes: not recommended
    wide_amplitude: float = 0.4
    # cluster rescue (SignalConfig.rpeak_rescue_cluster > 0; off by default): a peak the amplitude check (and the
    # rescues) drop is kept when at least ``cluster_min`` of the kept peaks among the ``neighbours`` each side have a
    # QRS window (+-``cluster_window_s``, mean removed) that correlates at least rpeak_rescue_cluster with its own,
    # and its QRS amplitude is at least ``cluster_amplitude`` x the 75th percentile of theirs and ``cluster_floor``
    # x the reference of all neighbours. Bigeminy where the ectopic beats are several times larger (MIT-BIH 203 built):
    # the small normal beats are compared with the normal beats around them, not with the PVCs. 0.3 / 16 / 0 / off
    # (with rpeak_rescue_cluster 0.9): chosen by 20 of 22 folds on run s28's point (experiments/rpeaks/cluster.py, run
    # s29), but 203's fold turns it off and held out it does not reach 0.997 on bigeminy: not recommended yet
    cluster_amplitude: float = 0.3
    cluster_min: int = 2
    cluster_window_s: float = 0.06
    cluster_floor: float = 0.1
    cluster_rounds: int = 2         # a rescued peak joins the pool of the next round (runs of small beats)
    cluster_second: bool = False    # the second proposer's candidates too (under its slope level or amplitude)
    cluster_neighbours: int = 16    # kept peaks each side that may form the cluster (8: a PVC-rich stretch leaves too few)
    cluster_sharpness: float = 0.0  # > 0: and at least this x the cluster's median sharpness (qrs_shapes)
    cluster_spacing: float = 0.5    # with cluster_second: a candidate the cluster keeps may lie this x the local RR
    #                                 from a kept neighbour (second_spacing for the others)
    # the cluster rescue's P-tested low floor (issue 21 run s65b; off unless both are > 0, the default): a dropped peak
    # from ``cluster_low_amplitude`` up to ``cluster_amplitude`` x its cluster's 75th percentile (``cluster_like``'s
    # other tests unchanged; in ``guard_keep`` only, not for the second proposer's candidates) is kept too unless it is
    # shaped and sized like the record's P wave (``record_p_wave`` of the guard's input peaks; ``p_wave_match``
    # correlation at least ``cluster_p_wave``, peak-to-peak within 1 / ``blocked_p_size`` .. ``blocked_p_size`` x the
    # template's; ``p_wave_shaped``). Run s65a lowered ``cluster_amplitude`` alone: the small true beats whose shape
    # repeats came in (0.12-0.3 x their cluster), but so did blocked P waves, which repeat a shape too (MIT-BIH 108).
    cluster_low_amplitude: float = 0.0
    cluster_p_wave: float = 0.0
    # T-wave veto (SignalConfig.rpeak_guard_t_wave > 0; off by default): a peak the second proposer would add that lies
    # ``t_wave_lag_s`` after the kept beat before it (and under ``t_wave_rr`` x the local median RR) is dropped when
    # its wave (+-``t_wave_window_s``, mean removed) correlates at least rpeak_guard_t_wave with that beat's T-wave
    # template and spans at most ``t_wave_size`` x the template: the median of the same stretch (same lag) after the
    # kept beats among the ``cluster_neighbours`` each side whose QRS (+-``cluster_window_s``) correlates at least
    # ``t_wave_cluster`` with that beat's and whose next kept beat comes over ``t_wave_clear_s`` after it (at least
    # ``cluster_min`` of them). A PVC's T wave (MIT-BIH 208) repeats after every PVC of its shape at the same lag; a
    # small normal beat in atrial fibrillation (203 built bigeminy) does not. ``t_wave_all``: every kept peak too, last.
    # 0.9 / all / size 4 (with the cluster rescue on the second proposer's candidates): chosen by 19 of 22 folds on run
    # s28's point (experiments/rpeaks/t_wave.py, run s30): fewer false beats, but 203's fold keeps the cluster rescue
    # off, so bigeminy Se held out does not reach 0.997: not recommended yet
    t_wave_lag_s: tuple = (0.15, 0.45)
    t_wave_rr: float = 0.6
    t_wave_window_s: float = 0.1
    t_wave_size: float = 2.0
    t_wave_cluster: float = 0.9
    t_wave_clear_s: float = 0.1
    t_wave_all: bool = False
    # QRS-unlike T-wave veto (issue 21 run s41-t201; Python path only, the graph refuses the override): > 0, a peak the
    # T-wave veto reaches (a template, a span within ``t_wave_size`` x it) is also dropped at a correlation with the
    # template of at least this (under rpeak_guard_t_wave) when it is smaller and blunter than the kept beat before it,
    # whose T wave it would be: QRS amplitude under ``t_wave_unlike_amplitude`` x that beat's and sharpness
    # (``qrs_shapes``) under ``t_wave_unlike_sharpness`` x its. At 100 Hz MIT-BIH 201's block21 T waves correlate only
    # 0.60-0.89 with the template; they are 0.51-0.77 x as tall and 0.45-0.65 x as sharp as the beat before, not wider
    # than it (run s41-t201's look). 0.6 / 0.8 / 0.8 on run s40-slope2's kept point: chosen leaving one record out
    # (experiments/rpeaks/region_rate.py --run s41-t201), 35 fewer errors at 100 Hz held out (813.8 -> 778.8, all 22
    # DS1 records x four built rhythms), 8 fewer natively, no true beat lost: kept. 0 = off (default).
    t_wave_unlike_correlation: float = 0.0
    t_wave_unlike_amplitude: float = 0.8
    t_wave_unlike_sharpness: float = 0.8
    # QRS residual (SignalConfig.rpeak_guard_residual > 0; off by default): a candidate the cluster rescue keeps closer
    # than second_spacing x the local RR to the kept beat before it (cluster_spacing) is added when the peak-to-peak of
    # its window (+-cluster_window_s, mean removed) minus the template (the median of the same windows at the same lag
    # after the kept beats around that beat shaped like it, chosen as for the T-wave template) is at least
    # rpeak_guard_residual x its own peak-to-peak. Without a template (fewer than cluster_min such beats):
    # ``residual_strict`` drops the candidate, otherwise it is added. 0.3 / strict with cluster_close_min 4,
    # cluster_loose_only and cluster_floor 0.15, at cluster_spacing 0.4 (T-wave veto 0.9 / all / 4): chosen by 20 of
    # 22 folds (experiments/rpeaks/residual.py, run s31), the fewest errors on all 22, but more held out than run s30
    # and 203's fold still keeps the cluster rescue off: not recommended yet. The residual alone is a no-op after the veto.
    residual_strict: bool = False
    # with cluster_second: a candidate the cluster keeps only at the closer spacing (under second_spacing x the local
    # RR from a kept neighbour) needs at least this many beats of its shape around it (cluster_min for the others;
    # <= cluster_min: the same). Run s31 chose 4 (of 4 / 6 / 8) with the two options around it
    cluster_close_min: int = 0
    # with cluster_second and cluster_spacing < second_spacing: a candidate only the closer spacing lets in (before
    # its move to the R apex) is added through the cluster rescue only, and counts as closer for cluster_close_min and
    # the residual (False: the move can carry it past second_spacing, and the usual size check then adds it;
    # run s31 found a T wave after a PVC of 208 added that way)
    cluster_loose_only: bool = False
    # noise check (SignalConfig.rpeak_guard_noise > 0; off by default): the last step of guard_rpeaks drops a kept peak
    # whose QRS amplitude is under ``noise_amplitude`` x the reference (the 75th percentile of the ``neighbours`` each
    # side) and whose count of slope-sign changes of the cleaned signal within +-``noise_window_s`` is over
    # rpeak_guard_noise x the median count at the kept peaks (run s32: block21's false beats are mostly peaks in the
    # noise put in place of the blocked beats, 108's and 203's; ``small_noisy``)
    noise_amplitude: float = 0.6
    noise_window_s: float = 0.3
    noise_typical_beats: int = 200  # the record's median count from at most this many kept peaks spread over it
    # > 0: a peak the noise check flags stays when at least cluster_min of the cluster_neighbours kept peaks each side
    # have QRS windows (+-cluster_window_s) correlating this much with its own (the small beats of bigeminy, scaled
    # down in a noisy stretch, repeat their shape; a peak of noise does not). 0: no such exception
    noise_correlation: float = 0.0
    # own T-wave check (SignalConfig.rpeak_guard_own_t > 0; off by default): the last step of guard_rpeaks drops a kept
    # peak under ``own_t_amplitude`` x the reference whose stretch ``own_t_window_s`` after it (mean removed)
    # correlates rpeak_guard_own_t with the same stretch after fewer than cluster_min of the cluster_neighbours kept
    # peaks each side (``without_own_t_wave``)
    own_t_amplitude: float = 0.6
    own_t_window_s: tuple = (0.12, 0.4)
    # PVC-run spacing (SignalConfig.rpeak_second_run > 0; off by default): a second-proposer candidate at least
    # ``run_spacing`` x the local median RR (and min_rr_s) from both kept neighbours but under the usual spacing is
    # added when it passes the slope level, amplitude and width checks and its QRS (+-second_window_s, mean removed)
    # correlates at least rpeak_second_run with at least ``run_min`` of the ``neighbours`` kept peaks each side that are
    # wide (width, ``qrs_shapes``, at least ``run_wide`` x their median): a PVC inside a run of PVCs (run s33: block21's
    # missed PVCs of 203 and 205 sit 0.3-0.5 x the local RR from a kept beat)
    run_spacing: float = 0.35
    run_min: int = 2
    run_wide: float = 1.3
    # runs of wide beats for the primary detector's lowered region rules (SignalConfig.rpeak_run_threshold > 0; off by
    # default; rpeaks.wide_run_spans): a peak ``run_wide`` x the record's median width with a wide neighbour under
    # ``run_rr_s`` away (0: every wide peak), +-``run_pad_s`` around it
    run_rr_s: float = 0.5
    run_pad_s: float = 1.0
    # the shape check of an added peak (SignalConfig.rpeak_run_add_like > 0; rpeaks._like_wide_beats): its QRS window is
    # compared at shifts up to +-run_add_shift_s (a negative wide beat's first-pass peak can sit ~70 ms after its
    # trough, on the overshoot, where a second-pass peak sits on the trough)
    run_add_shift_s: float = 0.08
    # blocked-P-wave check (SignalConfig.rpeak_guard_blocked_p > 0; off by default): the last step of guard_rpeaks drops
    # a kept peak (not the first or last) whose QRS amplitude is under ``blocked_p_amplitude`` x the reference (the 75th
    # percentile of the ``neighbours`` each side) in a gap between its kept neighbours of at most ``blocked_p_gap`` x
    # their local median RR (one beat is expected in it, not two as around a small beat of bigeminy), one PR interval
    # before the gap's middle (peak + the record's R-to-P lag within ``blocked_p_mid`` x the gap of the middle, where
    # the blocked beat's QRS would be), shaped like the record's P wave (template as in ``p_wave_like``, without its
    # size gate: ``record_p_wave``; correlation at least rpeak_guard_blocked_p within +-p_wave_shift_s, peak-to-peak
    # within 1 / ``blocked_p_size`` .. ``blocked_p_size`` x the template's), with no P wave of its own a lag before it
    # (correlation under ``blocked_p_own``) and no sharper than ``blocked_p_sharpness`` x the neighbours' median
    # (a QRS's slope). Records without consistent P windows (atrial fibrillation) are left alone. Run s34: of
    # block21's 121 false beats at run s33's point 20 lie within 60 ms of the blocked beat's P-wave position; in 108
    # they match the P template (distance 0.07-0.4 x its norm) but the T wave before them looks like a P wave
    # (correlation 0.57-0.89), so p_wave_like's own-P test (0.6) keeps them (experiments/rpeaks/blocked_p_diag.py).
    # Leave one record out on run s33's point (experiments/rpeaks/blocked_p.py): 0.8 / 0.95 / 0.06 alone changes only
    # 108 (block21 FP -11); with blocked_p_unlike 0.9 / blocked_p_after 0.5 (second grid) 875 errors held out against
    # 895, but Se falls by 1-5 beats per rhythm: not recommended
    blocked_p_amplitude: float = 0.6
    blocked_p_gap: float = 1.5
    blocked_p_mid: float = 0.06
    blocked_p_size: float = 2.0
    blocked_p_own: float = 0.95
    blocked_p_sharpness: float = 1.5
    # > 0: also a small peak anywhere in such a gap whose QRS window (+-cluster_window_s) correlates this much with
    # fewer than cluster_min of the cluster_neighbours kept peaks each side (the noise left in a blocked beat's cut
    # span: 51 of the 121; but an isolated small PVC between two conducted beats is such a peak too). 0: no such branch
    blocked_p_unlike: float = 0.0
    # with blocked_p_unlike: only peaks at least this fraction of the gap after the kept peak before them (0: anywhere).
    # The noise of a cut span lies where the blocked beat's QRS-T was, after the gap's middle (run s34: 0.45-0.75 of
    # the gap); a premature beat between two conducted ones (the small PVCs of 223 the branch dropped) lies before it.
    # Added after run s34's first grid's held-out figures were seen
    blocked_p_after: float = 0.0
    # P-wave check's gap exception (SignalConfig.rpeak_guard_p_wave_gap): True takes the neighbours and the local RR from
    # the peaks the check keeps (splits_two_beats ``beats``); False from every peak, where the blocked P waves of 2:1
    # block, proposed in numbers (108), make the local RR short and pass as beats (run s34: block21 FP 121 -> 664).
    # Added after that grid's figures were seen
    p_wave_gap_kept: bool = False
    # record templates (SignalConfig.rpeak_rescue_templates > 0, with rpeak_rescue_cluster > 0; off by default): where
    # the cluster rescue looks at a dropped peak (or, with cluster_second and ``templates_second``, a second-proposer
    # candidate), it is also kept when its QRS window (+-cluster_window_s, mean removed) correlates at least
    # rpeak_rescue_templates with one of the record's QRS morphologies and its amplitude (sharpness) reaches
    # ``templates_amplitude`` (``templates_sharpness``) x that morphology's 75th percentile (median). Morphologies
    # (``record_templates``): of at most ``templates_sample`` kept peaks spread evenly over the record, greedily the one
    # whose window correlates that much with the most peaks not yet taken leads a template of them (their mean window)
    # when they are at least ``templates_min``; at most ``templates_count``. Run s36: of the beats run s33's point misses,
    # 27 of block21's 116 and 28 of bigeminy's 155 have fewer than cluster_min beats of their shape (0.9) among the
    # cluster_neighbours kept peaks each side but at least 5 in the record (21 and 23 of them in MIT-BIH 203, whose
    # PVCs and normal beats are multiform). Leave one record out on run s33's point (experiments/rpeaks/templates.py):
    # 0.95 / 8 / 0.3 with templates_second (20 of 22 folds): bigeminy meets 0.997 held out (152 misses), but +P falls by
    # 1-5 false beats on every rhythm and block21 stays short: not recommended
    templates_count: int = 8
    templates_min: int = 4
    templates_sample: int = 512
    templates_amplitude: float = 0.3
    templates_sharpness: float = 0.8
    # aligned wide rescue (SignalConfig.rpeak_rescue_wide_aligned > 0; off by default, issue 21 run s62): a dropped wide
    # candidate is compared with the record's wide morphologies at every shift within +-``wide_align_s`` of it, half
    # of a wide QRS (some 160 ms), since the primary detector's extremum of a small wide beat can sit on either lobe
    wide_align_s: float = 0.08
    templates_second: bool = True
    # template spacing (issue 21 run s67; 0 = off, the default): a second-proposer candidate that reaches its slope
    # level, amplitude and width but lies closer than second_spacing x the local RR to a kept neighbour (and at least
    # ``templates_spacing`` x it), which no other rule added, is added when it matches one of the record's templates
    # (``template_like`` at SignalConfig.rpeak_rescue_templates, templates_amplitude, templates_sharpness): a short-
    # coupled beat of a multiform record (MIT-BIH 203) is like one of its QRS shapes, the T or P wave at that spacing
    # is not (run s67's look, rpeaks_s67_template_look.json). Needs rpeak_rescue_templates > 0. Run s67 (leave one record
    # out at run s41-combo's point, minimum_gap.py --run s67): 0.25 and 0.4 count alike, +10 block21 beats on all 22
    # records, almost all in 203, whose own fold does not choose it; block21 one beat lower on two seeds: not recommended
    templates_spacing: float = 0.0
    # post-wide-beat check (SignalConfig.rpeak_guard_post_wide > 0; off by default): the last step of guard_rpeaks drops
    # a kept peak under ``post_wide_lag_s`` after the kept peak before it when that peak is wide (width, ``qrs_shapes``,
    # at least ``post_wide_width`` x the median of the ``neighbours`` each side) and the later peak is under
    # rpeak_guard_post_wide x its QRS amplitude and under ``post_wide_sharpness`` x its sharpness: the T wave of a PVC
    # (run s37: 3-4 of each rhythm's false beats at the templates + blocked-P point, 203's multiform PVCs whose T waves
    # the T-wave veto's template misses). Leave one record out (experiments/rpeaks/post_wide.py): all 22 folds chose
    # 0.4 / 0.3 s on the templates + blocked-P point, 847 errors held out against run s33's point's 895, no true beat
    # dropped on any base; but block21 stays short of 0.997 (119 misses) and Se falls 1-3 beats: not recommended
    post_wide_lag_s: float = 0.3
    post_wide_width: float = 1.5
    post_wide_sharpness: float = 1.2
    # template proposer (SignalConfig.rpeak_propose_templates > 0; off by default): candidates are the local maxima and
    # minima of the cleaned signal at least ``propose_gap_s`` from every kept peak (and from each other); one is added
    # when it matches a record morphology (``template_like``) with at least ``propose_amplitude`` x its amplitude --
    # stricter than templates_amplitude, as no kept neighbour vouches for it
    propose_gap_s: float = 0.2
    propose_amplitude: float = 0.5


@dataclass(frozen=True)
class SignalConfig(_JsonConfig):
    """Preprocessing: records -> cleaned, resampled signal -> fixed-length beats + RR features."""

    target_fs: float = 100.0            # one rate for every data set, so one beat encoder serves all
    clean_method: str = "neurokit"      # neurokit2 ecg_clean method
    # R-peaks: chosen with `python -m ecgsl_keras.bench rpeaks` on MIT-BIH DS1 (Se 0.9953, +P 0.9980):
    # the neurokit detector on a Pan-Tompkins band-passed copy, then each peak moved to the R apex
    # of the clean_method signal. khamis2016 scores a little higher on MIT-BIH but takes T waves
    # for beats in ~5% of CinC 2017 (lead I) records and is 9x slower.
    rpeak_method: str = "neurokit"      # neurokit2 ecg_peaks method
    rpeak_clean_method: str = "pantompkins1985"  # ecg_clean method of the copy the detector runs on ("" = clean_method)
    rpeak_refine_s: float = 0.08        # move each peak to the R apex within this radius (wfdb correct_peaks); 0 = off
    rpeak_correct_artifacts: bool = False  # neurokit2 correct_artifacts (Lipponen & Tarvainen 2019): lowers Se and +P here
    detect_at_native_rate: bool = True  # detect R-peaks before resampling: more precise peak times
    # Guard against rhythms DS1 barely has (2:1 AV block, sinus pauses; rpeak_guard.guard_rpeaks), chosen
    # leave-one-record-out on DS1 and rhythms built from it (experiments/rpeaks/loro.py). 0 = off.
    # mindelay 0.2 s and search-back at 1.3 x RR win on DS1 but add peaks inside ordinary RR
    # intervals (T waves) on CinC 2017, so the choice was made with mindelay 0.3 and search-back 1.5.
    rpeak_mindelay_s: float = 0.3       # "neurokit" detector's minimum delay between peaks (neurokit2 default)
    # of two "neurokit" peaks closer than rpeak_mindelay_s: "first" (neurokit2) keeps the first; "prominent"
    # the more prominent (a large P wave no longer hides its QRS, MIT-BIH 108); "prominent_negative" also
    # takes the most prominent minimum of a QRS region with no maximum (negative PVCs, MIT-BIH 203);
    # "prominent_negative_last" too, but such a minimum never wins the refractory contest (no MIT-BIH 108 loss).
    # rpeaks._findpeaks_neurokit; issue 21. The end-to-end graph runs "first", "prominent" and "prominent_negative_last"
    # (EndToEnd.refine, EndToEnd.refractory_contest).
    rpeak_mindelay_keep: str = "first"
    # drop peaks whose QRS amplitude is under this x the neighbours' (75th pct), unless shaped like their
    # QRS complexes (bigeminy's small normal beats; the rescue's constants: rpeak_guard.GuardConstants)
    rpeak_guard_amplitude: float = 0.35
    # the guard's fixed constants (GuardConstants above) this config changes: GuardConstants field name -> value, in
    # JSON an object ({"cluster_floor": 0.15, ...}); kept as sorted (name, value) pairs so the config stays hashable.
    # Every reader takes them from rpeak_guard.constants_for(config). Empty (default) = the GuardConstants defaults.
    # The end-to-end graph honours those it runs (serving.edge.GRAPH_GUARD_CONSTANTS) and refuses the rest.
    rpeak_guard_constants: tuple = ()
    # deep rescue (issue 21; in the graph too, EndToEnd.guard): down to this x the reference for a peak sharper and narrower
    # than the QRS complexes around it (rpeak_guard.GuardConstants.deep_*). 0 = off (default).
    rpeak_rescue_deep: float = 0.0
    # wide rescue (issue 21 run s43; Python path only): down to this x the reference for a peak WIDER than the QRS
    # complexes around it (over GuardConstants.rescue_width x their median width) but as sharp (at least
    # GuardConstants.wide_sharpness x their median sharpness): a small PVC among larger beats, which the shape rescue
    # (width at most rescue_width x) refuses; T waves and P waves are blunt. Run s43's diagnosis: 24 of block21's 60
    # misses outside MIT-BIH 203 are dropped by the amplitude check, most of them small wide PVCs. 0 = off (default).
    rpeak_rescue_wide: float = 0.0
    # P-wave check (issue 21; in the graph too, EndToEnd.p_wave_check): where the record's P waves are large
    # (MIT-BIH 108), drop a kept peak within this x the P template's norm of it and with no P wave of its own before
    # it (a non-conducted P wave of a 2:1 block; rpeak_guard.p_wave_like, GuardConstants.p_wave_*). 0 = off
    # (default).
    rpeak_guard_p_wave: float = 0.0
    rpeak_searchback: float = 1.5       # search back in RR gaps longer than this x the local median RR
    rpeak_searchback_amplitude: float = 0.5  # a searched-back peak needs this x the neighbours' QRS amplitude
    # shape-checked search back (issue 21; Python path only, the end-to-end graph refuses it): also search
    # RR gaps longer than this x the local median RR and keep a candidate shaped like the QRS complexes
    # around it (constants rpeak_guard.GuardConstants.searchback_shape_*). For irregular rhythms (MIT-BIH 203).
    # 0 = off (default).
    rpeak_searchback_shape: float = 0.0
    # search back in irregular rhythm (issue 21; Python path only): where the local RR intervals spread
    # (rpeak_guard.GuardConstants.searchback_irregular_spread), search gaps from this x the local median RR
    # (atrial fibrillation: a missed beat leaves a gap of only 1.1-1.4 x). 0 = off (default).
    rpeak_searchback_irregular: float = 0.0
    # second proposer (issue 21; Python path only): after the guard, the local maxima of the detector's smoothed
    # |slope| that neurokit2's threshold logic never proposed (short QRS regions, negative QRS, small beats next to
    # large ones; MIT-BIH 203) are added when their slope reaches this x the median at the kept peaks around them,
    # they lie far enough from both neighbours and their QRS is sized and shaped like the neighbours'
    # (rpeak_guard.second_proposer, GuardConstants.second_*). 0 = off (default).
    rpeak_second_proposer: float = 0.0
    # wide-peak check (issue 21; Python path only): last, drop a peak whose QRS amplitude is under
    # GuardConstants.wide_amplitude x the neighbours' (75th pct) and whose width is over this x their median width:
    # a small, slow deflection alone between beats, not a QRS (MIT-BIH 108's built 2:1 block leaves the R upstroke
    # of each blocked beat, then a straight line; rpeak_guard.small_wide). 0 = off (default).
    rpeak_guard_wide: float = 0.0
    # cluster rescue (issue 21 run s29; Python path only): a peak the amplitude check drops is kept when at least
    # GuardConstants.cluster_min of the kept peaks around it have a QRS that correlates at least this much with its
    # own (its morphology cluster) and its amplitude reaches GuardConstants.cluster_amplitude x theirs (75th pct):
    # a small normal beat among large ectopic ones is compared with the normal beats (rpeak_guard.guard_keep). 0 = off.
    rpeak_rescue_cluster: float = 0.0
    # T-wave veto (issue 21 run s30; Python path only): a peak the second proposer would add (and, with
    # GuardConstants.t_wave_all, any kept peak) that lies GuardConstants.t_wave_lag_s after the kept beat before it
    # and whose wave (+-t_wave_window_s, mean removed) correlates at least this much with the T-wave template of that
    # beat's own morphology cluster (the same stretch after the kept beats shaped like it, with no beat there) is that
    # beat's T wave, not a QRS (rpeak_guard.t_wave_like). 0 = off (default).
    rpeak_guard_t_wave: float = 0.0
    # QRS residual (issue 21 run s31; Python path only): a peak the cluster rescue would add from the second proposer's
    # candidates closer than GuardConstants.second_spacing x the local RR to the kept beat before it (allowed by
    # GuardConstants.cluster_spacing) is added only when, after subtracting what follows the beats shaped like that beat
    # at the same lag (their median, +-cluster_window_s), at least this fraction of its peak-to-peak is left: a QRS on
    # top of a T wave leaves it, the T wave does not (rpeak_guard.qrs_residual). 0 = off (default).
    rpeak_guard_residual: float = 0.0
    # Noise check (issue 21 run s32; in the end-to-end graph too, EndToEnd.noise_check): the guard's last step drops a
    # kept peak that is small against the peaks around it (QRS amplitude under GuardConstants.noise_amplitude x the 75th
    # percentile of the neighbours') and sits in a noisy stretch: over this x the record's median count of slope-sign
    # changes of the cleaned signal within +-GuardConstants.noise_window_s of its kept peaks (rpeak_guard.small_noisy).
    # 0 = off (default).
    rpeak_guard_noise: float = 0.0
    # Own T-wave check (issue 21 run s32; Python path only): the guard's last step drops a kept peak that is small against
    # the peaks around it (GuardConstants.own_t_amplitude) when the stretch after it (GuardConstants.own_t_window_s)
    # correlates at least this much with the same stretch after fewer than cluster_min of the kept peaks around it: no
    # T wave of its own (a blocked P wave, noise in a cut span) (rpeak_guard.without_own_t_wave). 0 = off (default).
    rpeak_guard_own_t: float = 0.0
    # PVC-run spacing (issue 21 run s33; Python path only): the second proposer also adds a candidate only
    # GuardConstants.run_spacing x the local RR from a kept beat (under second_spacing) when its QRS correlates at least
    # this much with GuardConstants.run_min wide kept beats around it: a PVC inside a run (rpeak_guard.pvc_run_like). 0 = off.
    rpeak_second_run: float = 0.0
    # Blocked-P-wave check (issue 21 run s34; Python path only): the guard's last step drops a kept peak that is small
    # against the peaks around it, in a gap between its kept neighbours of about one local RR, one PR interval (the
    # record's R-to-P lag) before the gap's middle -- where a non-conducted beat's P wave lies in 2:1 AV block -- when it
    # correlates at least this much with the record's P wave, is sized like it and has no P wave of its own before it
    # (rpeak_guard.blocked_p_wave, GuardConstants.blocked_p_*). 0 = off (default).
    rpeak_guard_blocked_p: float = 0.0
    # P-wave check's gap exception (issue 21 run s34; Python path only): with rpeak_guard_p_wave > 0, a peak the P-wave
    # check flags stays when its two kept neighbours are over this x the local median RR apart -- a beat between two
    # others; a P wave taken for a beat lies a PR interval before its own QRS, in a gap of one RR
    # (rpeak_guard.splits_two_beats, GuardConstants.p_wave_gap_kept). 0 = off (default). Not recommended: every fold of
    # experiments/rpeaks/p_wave_gap.py keeps it off (108's blocked P waves of 2:1 block pass, or its beats are lost).
    rpeak_guard_p_wave_gap: float = 0.0
    # Record templates (issue 21 run s36; Python path only): with rpeak_rescue_cluster > 0, the cluster rescue (and, with
    # GuardConstants.cluster_second and templates_second, its second-proposer branch) also keeps a peak whose QRS window
    # correlates at least this much with one of the record's QRS morphologies -- templates built from the kept peaks of
    # the whole record, not only the cluster_neighbours around it -- and whose amplitude reaches
    # GuardConstants.templates_amplitude x that morphology's: a small beat of a multiform PVC record (MIT-BIH 203)
    # with too few beats of its shape nearby (rpeak_guard.record_templates, template_like). 0 = off (default).
    rpeak_rescue_templates: float = 0.0
    # Post-wide-beat check (issue 21 run s37; in the end-to-end graph too, EndToEnd.post_wide_check): the guard's last
    # step drops a kept peak shortly after a wide kept beat (GuardConstants.post_wide_lag_s, post_wide_width) that is
    # under this x that beat's QRS amplitude and no sharper than it -- the T wave of a PVC with no repeated shape for the
    # T-wave veto's template (rpeak_guard.after_wide_beat). 0 = off (default).
    rpeak_guard_post_wide: float = 0.0
    # Template proposer (issue 21 run s38; Python path only): after the second proposer, a local extreme of the cleaned
    # signal at least GuardConstants.propose_gap_s from every kept peak is added when its QRS window correlates at least
    # this much with one of the record's QRS morphologies (record_templates) and its amplitude and sharpness reach
    # GuardConstants.propose_amplitude and templates_sharpness x that morphology's: the early multiform PVCs the
    # primary detector never proposes (MIT-BIH 203); the later checks then decide (rpeak_guard.template_proposer).
    # 0 = off (default).
    rpeak_propose_templates: float = 0.0
    # Region rules of the primary detector (issue 21 run s39; Python path only; the "neurokit" method with
    # rpeak_mindelay_keep other than "first", rpeaks._findpeaks_neurokit): a QRS region is where the smoothed |slope|
    # exceeds rpeak_region_threshold x its 0.75 s running mean (0 = neurokit2's 1.5) and it is dropped when shorter
    # than rpeak_region_min_length x the mean region length (0 = neurokit2's 0.4). Lower values let the detector
    # propose the fast wide beats of ventricular runs (MIT-BIH 203: run s39's diagnosis, 26 of its 50 block21 misses
    # never made a region or made one under 0.4 x the mean); the guard then decides. 0 = off (default).
    rpeak_region_threshold: float = 0.0
    rpeak_region_min_length: float = 0.0
    # The running mean those region rules compare with, capped (issue 21 run s52; Python path only; the same detectors as
    # rpeak_region_threshold): > 0: the 0.75 s running mean of the smoothed |slope| is taken at most this x its median
    # over the signal. In a fast ventricular run the window is full of QRS slope, the mean rises and a beat there makes no
    # region or one too short (run s48's diagnosis: 26 of MIT-BIH 203's 48 block21 misses); a stretch of ordinary beats
    # sits near the median, so its T waves keep neurokit2's threshold (run s39 lowered it everywhere and made T waves
    # regions). 0 = off (default).
    rpeak_region_mean_cap: float = 0.0
    # Region rules that do not depend on the rate (issue 21 run s39-region; Python path only; the same detectors as
    # rpeak_region_threshold): rpeak_region_interpolated measures each region's length between the linearly
    # interpolated threshold crossings (sub-sample) instead of counting samples; rpeak_region_gradient_step_s > 0 (with
    # it or alone, run s40-slope) takes the slope as a central difference over that step in seconds on the cubic
    # spline through the samples instead of np.gradient's one-sample one. At 100 Hz the 10 ms sample grid and np.gradient's damping of the QRS
    # slope let T waves make regions long enough to pass the 0.4 x mean length rule (run s39-rate100's look at
    # MIT-BIH 201). False / 0 = neurokit2's rules (default).
    rpeak_region_interpolated: bool = False
    rpeak_region_gradient_step_s: float = 0.0
    # The same fixed-step slope for the guard's slope feature (issue 21 run s40-slope2; Python path only): > 0, the
    # search back and the second proposer pick their candidates on the smoothed |slope| taken as a central difference
    # over this step in seconds on the cubic spline through the samples (rpeak_guard.fixed_step_slope, the region rule's)
    # instead of np.gradient's one-sample one, whose response to a QRS falls with the rate (run s40-slope's look: 108's
    # large P waves from the search back at 100 Hz). At the step's own rate it is np.gradient's slope. At most 0.05 s (the
    # feature sums 0.1 s). 0 = np.gradient (default).
    rpeak_guard_slope_step_s: float = 0.0
    # Record start of the "neurokit" detector (issue 21 run s40; Python path and graph): neurokit2 starts its refractory
    # contest with a dummy peak at sample 0 that wins every contest, so a beat in the first rpeak_mindelay_s of a signal
    # is always lost (run s39's diagnosis: 9 of block21's misses; a 30 s window can lose its first beat). True: the
    # first region's peak is accepted under the normal rules (rpeaks._findpeaks_neurokit, EndToEnd.refine). False =
    # neurokit2's start (default).
    rpeak_keep_first_beat: bool = False
    # Refractory of a negative region (issue 21 run s48; in the graph too; the "neurokit" method with rpeak_mindelay_keep
    # "prominent_negative_last"): that rule drops a region's minimum (a region with no local maximum: a negative QRS)
    # anywhere within rpeak_mindelay_s of a kept peak, so in a run of fast negative PVCs (MIT-BIH 203, RR 0.25-0.35 s,
    # the previous beat's peak sitting late on its wide QRS) the next PVC is lost (run s48's diagnosis: 7 of 203's 48
    # block21 misses, the same beats in the unchanged record). > 0: such a minimum at least this many seconds after the
    # last kept peak is kept as a new peak instead (rpeaks._findpeaks_neurokit's minimum_gap); the guard then decides.
    # 0 = off (default).
    rpeak_minimum_gap_s: float = 0.0
    # Conditions on that minimum (issue 21 run s49; Python path only; with rpeak_minimum_gap_s > 0): when either is > 0
    # the minimum is kept only when (i) the kept peak before it is wide -- its QRS width (rpeak_guard.qrs_shapes) at
    # least rpeak_minimum_gap_wide x the median width of the peaks the detector keeps without the gap -- or (ii) its QRS
    # amplitude is at least rpeak_minimum_gap_amplitude x the guard's reference (rpeak_guard.amplitude_reference over
    # those peaks). Read from run s48's held-out look: the beats the option found followed a wide beat (median 2.1x)
    # and were as large as their neighbours (median 1.33x); its false beats were at most 0.45x after a beat of normal
    # width (at the final peaks; measured here, in the detector, run s49's look finds them 0.54-0.64x after a peak
    # 1.6-2.1x wide, so the condition keeps them and run s49's keep rule refused it). 0 = that condition off (default;
    # both 0: run s48's unconditioned option).
    rpeak_minimum_gap_wide: float = 0.0
    rpeak_minimum_gap_amplitude: float = 0.0
    # The same test at the final peaks (issue 21 run s50; Python path only; with rpeak_minimum_gap_s > 0): a final peak
    # (after the apex move and the guard) that came from a minimum the gap kept is dropped when its QRS amplitude is under
    # rpeak_minimum_gap_final x the guard's reference (rpeak_guard.amplitude_reference over the other final peaks). Read
    # from run s49's held-out look: 7 of run s48's 12 false beats are such peaks at <= 0.45x, its found beats 0.92-2.11x.
    # 0 = off (default).
    rpeak_minimum_gap_final: float = 0.0
    # The gap's minima held out of the guard (issue 21 run s51; Python path only; with rpeak_minimum_gap_final > 0): the
    # guard runs on the detector's peaks without the minima the gap kept, and those minima join after it, each kept when
    # at least min_rr_s from every guarded peak and not dropped by rpeak_minimum_gap_final's test (over the guarded
    # peaks). Why (run s51's held-out look at run s50's extra false beats, bigeminy 205 and 207): the gap's minima moved
    # the guard's statistics, not their own decisions -- in 205 they complete a PVC run before the second proposer, whose
    # local RR then lets in a T wave 0.28 s after a PVC; in 207 five more peaks move the noise check's record-wide sample
    # (noise_typical_beats spread over the kept peaks) and a peak it dropped stays. False = off (default).
    rpeak_minimum_gap_after_guard: bool = False
    # Only the minima the gap adds count as its own (issue 21 run s53; Python path only; with rpeak_minimum_gap_final >
    # 0): a peak the gap's contest keeps inside rpeak_mindelay_s of a gap minimum, but which the contest without the gap
    # keeps too, is an ordinary peak -- guarded and never tested as a gap peak (rpeaks._findpeaks_neurokit's
    # gap_new_only). Why (run s53's held-out look at MIT-BIH 207's block21, seed 0): one such peak, held out of the guard
    # by rpeak_minimum_gap_after_guard, changed the record's templates and two small wide peaks stayed. False = off.
    rpeak_minimum_gap_new_only: bool = False
    # Large pairs inside the refractory period (issue 21 run s54; Python path only; with rpeak_minimum_gap_s > 0): a
    # region maximum at least rpeak_minimum_gap_s after a kept maximum, inside rpeak_mindelay_s, whose prominence is at
    # least this x that peak's, is kept too -- a gap peak like the gap's minima (tested, and with
    # rpeak_minimum_gap_after_guard held out of the guard, the same way) -- instead of replacing it or losing to it
    # (rpeaks._findpeaks_neurokit's gap_pair). Why (run s54's held-out look at run s51's block21 misses): MIT-BIH 215's
    # ventricular couplets and 203's fast runs lose a large beat to a true beat 283-294 ms away. 0 = off (default).
    rpeak_minimum_gap_pair: float = 0.0
    # rpeak_minimum_gap_pair's peaks pass through the guard with the others (issue 21 run s55; Python path only; with
    # rpeak_minimum_gap_pair > 0): a pair's maximum is an ordinary peak, not a gap peak held out of the guard and tested
    # after it (rpeaks._findpeaks_neurokit's gap_pair_guarded). Why (run s54's held-out look at MIT-BIH 108,
    # rpeaks_s54_108_look.json): held out, 7 of 108's large P waves (0.73-1.02x the guard's reference, too large for an
    # amplitude test) stayed as false beats 261-286 ms before a true beat that the pair kept too. False = off.
    rpeak_minimum_gap_pair_guarded: bool = False
    # rpeak_minimum_gap_pair's pairs tested by shape (issue 21 run s56; Python path only; with rpeak_minimum_gap_pair >
    # 0): a pair is kept only when the earlier peak's steepest slope (rpeak_guard.qrs_shapes' amplitude x sharpness, on
    # the guard's signal) is at least this x the later peak's; refused, the refractory contest runs as without the pair
    # (rpeaks._findpeaks_neurokit's gap_pair_slope). Why (run s54's held-out look at MIT-BIH 108,
    # rpeaks_s54_108_look.json): its large P waves, as large as the QRS 261-286 ms after them, became pairs; a P wave is
    # a slow atrial dome, a couplet's first beat a ventricular depolarisation as steep as the second. 0 = off (default).
    rpeak_minimum_gap_pair_slope: float = 0.0
    # rpeak_minimum_gap_pair's pairs tested by morphology (issue 21 run s57; Python path only; with
    # rpeak_minimum_gap_pair > 0): a pair is kept only when the earlier peak's QRS window (rpeak_guard.qrs_windows,
    # +-GuardConstants.cluster_window_s, mean removed, on the guard's signal) correlates at least this much with the
    # later peak's -- one morphology, as the guard's cluster rescue and templates measure it; refused, the refractory
    # contest runs as without the pair (rpeaks._findpeaks_neurokit's gap_pair_correlation). Why (run s56's held-out look,
    # rpeaks_s56_pair_shape_look.json, not blind): MIT-BIH 108's P-wave pairs correlate little with the QRS after them,
    # a couplet's two beats of one focus closely. 0 = off (default).
    rpeak_minimum_gap_pair_correlation: float = 0.0
    # rpeak_minimum_gap_pair_correlation's refused pairs kept when the earlier peak is one of the record's QRS
    # morphologies (issue 21 run s59; Python path only; with rpeak_minimum_gap_pair_correlation > 0): its QRS window
    # correlates at least this much with one of rpeak_guard.record_templates of the peaks the refractory contest keeps
    # without the pair, and its amplitude reaches GuardConstants.templates_amplitude x that template's
    # (rpeak_guard.template_like; rpeaks._findpeaks_neurokit's gap_pair_templates). Why (run s57's held-out look,
    # rpeaks_s57_gap_pair_correlation.json, not blind): the correlation test refuses MIT-BIH 203's couplets of two shapes
    # (a beat, then a PVC of another focus), whose first beat is a morphology of the record; a P wave is not. 0 = off.
    rpeak_minimum_gap_pair_templates: float = 0.0
    # Small final peaks must stand out of their surroundings (issue 21 run s60; Python path only): a final peak whose QRS
    # amplitude is under rpeak_guard_amplitude x the guard's reference over the final peaks (one only a shape rescue,
    # search back, a proposer or the gap's join kept) is dropped when that amplitude is under this x the median QRS
    # amplitude of the windows rpeak_guard.CONTRAST_OFFSETS_S before and after it (rpeaks.drop_low_contrast): a bump of
    # the noise does not stand out of the noise around it, a QRS stands out of its own P, ST and T waves whatever its
    # size. Why (run s60's held-out look, rpeaks_s60_block21_look.json, not blind): block21's largest group of false
    # beats lies inside the blocked beats' spans, in the record's own noise. 0 = off (default).
    rpeak_guard_contrast: float = 0.0
    # Small wide beats kept as one of the record's wide morphologies (issue 21 run s61; Python path only): in each pass
    # of the amplitude check, after the cluster rescue, a dropped peak still over GuardConstants.rescue_amplitude x the
    # reference and wider than rescue_width x the median width of the kept peaks around it is kept when its QRS window
    # (+-cluster_window_s) correlates at least this much with one of rpeak_guard.record_templates built from the WIDE
    # kept peaks only, its amplitude (sharpness) reaches templates_amplitude (templates_sharpness) x that morphology's,
    # and it comes early: the kept peak before it is closer than the one after it (a PVC's coupling, then its pause;
    # rpeak_guard.wide_template_like). Why (run s61's held-out look, rpeaks_s61_block21_look.json, not blind): small
    # wide PVCs at 0.2-0.5 x the reference, several times the median width, are block21's largest group of misses
    # outside 203 that a detector can reach; the shape rescue refuses them as too wide. 0 = off (default).
    rpeak_rescue_wide_template: float = 0.0
    # Small wide beats compared with the record's wide morphologies where they align (issue 21 run s62; Python path
    # only): in each pass of the amplitude check, after the cluster rescue, a dropped peak over
    # GuardConstants.cluster_floor x the reference (under run s61's rescue_amplitude floor), wider than rescue_width x
    # the median width of the kept peaks around it and early (the kept peak before it closer than the one after it) is
    # moved to the shift within +-GuardConstants.wide_align_s where its QRS window (+-cluster_window_s) correlates best
    # with one of rpeak_guard.record_templates of the WIDE kept peaks, and kept there when that correlation is at least
    # this much, its QRS amplitude there reaches rescue_amplitude x the reference and its sharpness templates_sharpness
    # x that morphology's (rpeak_guard.wide_aligned_like). Why (not blind: run s61's held-out look and counts,
    # rpeaks_s61_block21_look.json, and run s62's probe of the dropped wide candidates): most small wide misses sit at
    # 0.16-0.24 x the reference at their candidate, under run s61's 0.25 floor, some on the wide QRS's other lobe,
    # where the window does not line up with the record's wide beats. 0 = off (default).
    rpeak_rescue_wide_aligned: float = 0.0
    # The aligned wide rescue's peaks must stand out of their surroundings (issue 21 run s63; Python path only; with
    # rpeak_rescue_wide_aligned > 0): a peak that rescue would keep is kept only when its QRS amplitude where it lines up
    # is at least this x the median QRS amplitude of the windows rpeak_guard.CONTRAST_OFFSETS_S before and after that
    # position (rpeak_guard.surroundings_amplitude; run s60's contrast test, on the rescued peaks only). Why (not blind:
    # run s62's held-out look at its false beats): the rescue added bumps of the record's noise inside the builders'
    # pauses and blocked spans, 0.5-2.2 s from any beat, where the best of 59 shifts lets noise reach 0.9 against a wide
    # morphology; a bump of the noise does not stand out of the noise around it, a QRS stands out of its own ST-T and of
    # the beat before it whatever its size. 0 = off (default).
    rpeak_rescue_wide_aligned_contrast: float = 0.0
    # Region rules inside runs of wide beats (issue 21 run s40; Python path only; as rpeak_region_*): where the primary
    # detector's peaks hold wide beats (rpeaks.wide_run_spans: width at least GuardConstants.run_wide x the record's
    # median, a wide neighbour under GuardConstants.run_rr_s away; +-run_pad_s around each), the peaks come from a second pass with
    # the slope threshold rpeak_run_threshold x the running mean and regions of at least rpeak_run_min_length x the mean
    # length (0 = the rules outside). Aimed at MIT-BIH 203's fast ventricular runs without the T waves a global lowering
    # admits (run s39). 0 = off (default).
    rpeak_run_threshold: float = 0.0
    rpeak_run_min_length: float = 0.0
    # How the second pass's peaks enter the spans (issue 21 run s41): "replace" (run s40, default): the spans hold the
    # second pass's peaks only (run s40 lost more beats than it found: the lowered rules can merge neighbouring QRS
    # regions); "add": every first-pass peak stays and a second-pass peak in a span is added when it is at least
    # min_rr_s from every first-pass peak; the guard then judges all peaks as usual.
    rpeak_run_mode: str = "replace"
    # Shape check of an added peak (issue 21 run s42; Python path only; with rpeak_run_mode "add"): > 0: a second-pass
    # peak is added only when it looks like the record's wide beats -- its QRS window (+-GuardConstants.cluster_window_s,
    # mean removed) correlates at least this with the median window of the first pass's wide peaks (width at least
    # GuardConstants.run_wide x the median) or with one of their morphologies (rpeak_guard.record_templates at this
    # correlation), and its width is at least run_wide x the median. Run s41: spans around every wide peak find 34-47 of
    # 203's missed beats but add 214-434 false beats in 201 (T waves after wide beats, unlike a QRS). 0 = off (default).
    rpeak_run_add_like: float = 0.0
    # Width and sharpness check of an added peak (issue 21 run s43; Python path only; with rpeak_run_mode "add"): a
    # second-pass peak is not added when its QRS width (rpeak_guard.qrs_shapes) is over rpeak_run_add_width x the median
    # width of the wide beats the guard keeps on the first pass alone, or its sharpness (largest slope / amplitude) under
    # rpeak_run_add_sharpness x their median (rpeaks.added_unlike_kept_wide; the guard runs twice). Run s42's diagnosis: 201's
    # added false peaks (T waves after wide beats) are ~1.5x as wide and ~0.56x as sharp as its wide beats; 203's found
    # beats ~1.25x and ~0.85x. 0 = that half of the check off (default).
    rpeak_run_add_width: float = 0.0
    rpeak_run_add_sharpness: float = 0.0
    segment_mode: str = "window"        # "window": fixed window around R; "rr": bounded at RR midpoints, zero-padded
    beat_len: int = 96                  # samples per beat at target_fs
    # "median" (issue 18, run v37): each beat also carries itself minus the record's median beat, laid after it as a
    # second channel (beat_width = 2 x beat_len), so a record whose every beat is wide (bundle branch block) is
    # seen relative to its own usual beat, the inter-patient remedy; "tq" (issue 18, run af40): the second channel is
    # the stretch before the beat's QRS instead, from the previous beat's estimated T end to this QRS onset on the
    # record's own time scale (signal.tq_stretch), so the beat encoder sees the atrial activity (P wave, f waves)
    # beyond the beat window's 0.32 s; "tq_median": a third channel too, the stretch minus the record's median
    # stretch (signal.tq_against_median: a steady P wave cancels, f waves do not); "none" (default): the beat alone.
    beat_reference: str = "none"
    r_offset: int = 32                  # index of the R-peak inside a beat (0.32 s of P wave / PR at 100 Hz)
    normalize: str = "robust"           # "robust": per-record (x - median) / IQR; "none"
    rr_features: bool = True            # previous RR, next RR, local mean RR (seconds) per beat
    rr_local_window: int = 9            # beats in the local mean RR
    min_beats: int = 3
    min_duration_s: float = 2.0         # shorter signals are rejected (reason "too_short")
    min_rr_s: float = 0.2               # physiological bounds used to reject spurious peaks
    max_rr_s: float = 3.0
    flat_std_mv: float = 1e-3           # std below this (mV) = flat line
    clip_fraction: float = 0.2          # fraction of samples at the extreme values above which a record is clipped
    supported_fs: tuple = (50.0, 2000.0)  # inclusive range of accepted native rates

    def __post_init__(self):
        # checked and normalised on every construction (dataclasses.replace too): a JSON object, a dict or pairs in,
        # sorted pairs held
        object.__setattr__(self, "rpeak_guard_constants", guard_constant_overrides(self.rpeak_guard_constants))

    def validate(self) -> None:
        if self.segment_mode not in ("window", "rr"):
            raise ConfigError("<config>", "bad_config", f"segment_mode must be 'window' or 'rr', got {self.segment_mode!r}")
        if self.normalize not in ("robust", "none"):
            raise ConfigError("<config>", "bad_config", f"normalize must be 'robust' or 'none', got {self.normalize!r}")
        if not 0 <= self.r_offset < self.beat_len:
            raise ConfigError("<config>", "bad_config", f"r_offset {self.r_offset} outside beat_len {self.beat_len}")
        if self.beat_reference not in BEAT_REFERENCES:
            raise ConfigError("<config>", "bad_config",
                              f"beat_reference must be one of {tuple(BEAT_REFERENCES)}, got {self.beat_reference!r}")
        if self.target_fs <= 0:
            raise ConfigError("<config>", "bad_config", f"target_fs must be positive, got {self.target_fs}")
        if self.rpeak_mindelay_keep not in ("first", "prominent", "prominent_negative", "prominent_negative_last"):
            raise ConfigError("<config>", "bad_config", "rpeak_mindelay_keep must be 'first', 'prominent', "
                                                        "'prominent_negative' or 'prominent_negative_last', "
                                                        f"got {self.rpeak_mindelay_keep!r}")
        if self.rpeak_region_threshold < 0 or self.rpeak_region_min_length < 0:
            raise ConfigError("<config>", "bad_config", "rpeak_region_threshold and rpeak_region_min_length must be "
                                                        f"0 (off) or positive, got {self.rpeak_region_threshold} and "
                                                        f"{self.rpeak_region_min_length}")
        if self.rpeak_keep_first_beat and self.rpeak_method != "neurokit":
            raise ConfigError("<config>", "bad_config", "rpeak_keep_first_beat applies to the 'neurokit' method only, "
                                                        f"got {self.rpeak_method!r}")
        if self.rpeak_minimum_gap_s < 0 or (self.rpeak_minimum_gap_s > 0 and (
                self.rpeak_method != "neurokit" or self.rpeak_mindelay_keep != "prominent_negative_last"
                or self.rpeak_minimum_gap_s >= self.rpeak_mindelay_s)):
            raise ConfigError("<config>", "bad_config", "rpeak_minimum_gap_s must be 0 (off) or positive and under "
                                                        "rpeak_mindelay_s, with the 'neurokit' method and "
                                                        "rpeak_mindelay_keep 'prominent_negative_last' (got "
                                                        f"{self.rpeak_minimum_gap_s}, {self.rpeak_method!r}, "
                                                        f"{self.rpeak_mindelay_keep!r}, {self.rpeak_mindelay_s})")
        if (self.rpeak_minimum_gap_wide < 0 or self.rpeak_minimum_gap_amplitude < 0
                or ((self.rpeak_minimum_gap_wide > 0 or self.rpeak_minimum_gap_amplitude > 0)
                    and self.rpeak_minimum_gap_s <= 0)):
            raise ConfigError("<config>", "bad_config", "rpeak_minimum_gap_wide and rpeak_minimum_gap_amplitude must be "
                                                        "0 (off) or positive, and positive only with "
                                                        f"rpeak_minimum_gap_s > 0 (got {self.rpeak_minimum_gap_wide}, "
                                                        f"{self.rpeak_minimum_gap_amplitude}, "
                                                        f"{self.rpeak_minimum_gap_s})")
        if self.rpeak_minimum_gap_final < 0 or (self.rpeak_minimum_gap_final > 0 and self.rpeak_minimum_gap_s <= 0):
            raise ConfigError("<config>", "bad_config", "rpeak_minimum_gap_final must be 0 (off) or positive, and "
                                                        "positive only with rpeak_minimum_gap_s > 0 (got "
                                                        f"{self.rpeak_minimum_gap_final}, {self.rpeak_minimum_gap_s})")
        if self.rpeak_minimum_gap_after_guard and self.rpeak_minimum_gap_final <= 0:
            raise ConfigError("<config>", "bad_config", "rpeak_minimum_gap_after_guard needs rpeak_minimum_gap_final > 0 "
                                                        "(the test its minima pass after the guard; got "
                                                        f"{self.rpeak_minimum_gap_final})")
        if self.rpeak_minimum_gap_pair < 0 or (self.rpeak_minimum_gap_pair > 0 and self.rpeak_minimum_gap_s <= 0):
            raise ConfigError("<config>", "bad_config", "rpeak_minimum_gap_pair must be 0 (off) or positive, and "
                                                        "positive only with rpeak_minimum_gap_s > 0 (got "
                                                        f"{self.rpeak_minimum_gap_pair}, {self.rpeak_minimum_gap_s})")
        if self.rpeak_minimum_gap_pair_guarded and self.rpeak_minimum_gap_pair <= 0:
            raise ConfigError("<config>", "bad_config", "rpeak_minimum_gap_pair_guarded needs rpeak_minimum_gap_pair > 0 "
                                                        f"(got {self.rpeak_minimum_gap_pair})")
        if self.rpeak_minimum_gap_pair_slope < 0 or (self.rpeak_minimum_gap_pair_slope > 0
                                                     and self.rpeak_minimum_gap_pair <= 0):
            raise ConfigError("<config>", "bad_config", "rpeak_minimum_gap_pair_slope must be 0 (off) or positive, and "
                                                        "positive only with rpeak_minimum_gap_pair > 0 (got "
                                                        f"{self.rpeak_minimum_gap_pair_slope}, "
                                                        f"{self.rpeak_minimum_gap_pair})")
        if not 0 <= self.rpeak_minimum_gap_pair_correlation <= 1 or (self.rpeak_minimum_gap_pair_correlation > 0
                                                                      and self.rpeak_minimum_gap_pair <= 0):
            raise ConfigError("<config>", "bad_config", "rpeak_minimum_gap_pair_correlation must be 0 (off) or in "
                                                        "(0, 1], and positive only with rpeak_minimum_gap_pair > 0 "
                                                        f"(got {self.rpeak_minimum_gap_pair_correlation}, "
                                                        f"{self.rpeak_minimum_gap_pair})")
        if not 0 <= self.rpeak_minimum_gap_pair_templates <= 1 or (self.rpeak_minimum_gap_pair_templates > 0
                                                                    and self.rpeak_minimum_gap_pair_correlation <= 0):
            raise ConfigError("<config>", "bad_config", "rpeak_minimum_gap_pair_templates must be 0 (off) or in (0, 1], "
                                                        "and positive only with rpeak_minimum_gap_pair_correlation > 0 "
                                                        f"(got {self.rpeak_minimum_gap_pair_templates}, "
                                                        f"{self.rpeak_minimum_gap_pair_correlation})")
        if self.rpeak_rescue_wide_template < 0 or self.rpeak_rescue_wide_template > 1:
            raise ConfigError("<config>", "bad_config", "rpeak_rescue_wide_template must be 0 (off) or a correlation "
                                                        f"in (0, 1] (got {self.rpeak_rescue_wide_template})")
        if self.rpeak_rescue_wide_aligned < 0 or self.rpeak_rescue_wide_aligned > 1:
            raise ConfigError("<config>", "bad_config", "rpeak_rescue_wide_aligned must be 0 (off) or a correlation "
                                                        f"in (0, 1] (got {self.rpeak_rescue_wide_aligned})")
        if self.rpeak_rescue_wide_aligned_contrast < 0 or (self.rpeak_rescue_wide_aligned_contrast > 0
                                                           and self.rpeak_rescue_wide_aligned <= 0):
            raise ConfigError("<config>", "bad_config", "rpeak_rescue_wide_aligned_contrast must be 0 (off) or positive, "
                                                        "and positive only with rpeak_rescue_wide_aligned > 0 (got "
                                                        f"{self.rpeak_rescue_wide_aligned_contrast}, "
                                                        f"{self.rpeak_rescue_wide_aligned})")
        if self.rpeak_guard_contrast < 0:
            raise ConfigError("<config>", "bad_config", "rpeak_guard_contrast must be 0 (off) or positive "
                                                        f"(got {self.rpeak_guard_contrast})")
        if self.rpeak_minimum_gap_new_only and self.rpeak_minimum_gap_final <= 0:
            raise ConfigError("<config>", "bad_config", "rpeak_minimum_gap_new_only needs rpeak_minimum_gap_final > 0 "
                                                        "(the gap's minima are collected for its test; got "
                                                        f"{self.rpeak_minimum_gap_final})")
        if self.rpeak_run_threshold < 0 or self.rpeak_run_min_length < 0:
            raise ConfigError("<config>", "bad_config", "rpeak_run_threshold and rpeak_run_min_length must be 0 (off) or "
                                                        f"positive, got {self.rpeak_run_threshold} and "
                                                        f"{self.rpeak_run_min_length}")
        if self.rpeak_run_mode not in ("replace", "add"):
            raise ConfigError("<config>", "bad_config", "rpeak_run_mode must be 'replace' or 'add', "
                                                        f"got {self.rpeak_run_mode!r}")
        if not 0.0 <= self.rpeak_run_add_like <= 1.0 or (self.rpeak_run_add_like > 0 and self.rpeak_run_mode != "add"):
            raise ConfigError("<config>", "bad_config", "rpeak_run_add_like must be 0 (off) or in (0, 1] with "
                                                        f"rpeak_run_mode 'add', got {self.rpeak_run_add_like} and "
                                                        f"{self.rpeak_run_mode!r}")
        if self.rpeak_rescue_wide < 0:
            raise ConfigError("<config>", "bad_config", f"rpeak_rescue_wide must be 0 (off) or positive, got "
                                                        f"{self.rpeak_rescue_wide}")
        if (self.rpeak_run_add_width < 0 or self.rpeak_run_add_sharpness < 0
                or ((self.rpeak_run_add_width > 0 or self.rpeak_run_add_sharpness > 0) and self.rpeak_run_mode != "add")):
            raise ConfigError("<config>", "bad_config", "rpeak_run_add_width and rpeak_run_add_sharpness must be 0 (off) "
                                                        "or positive with rpeak_run_mode 'add', got "
                                                        f"{self.rpeak_run_add_width}, {self.rpeak_run_add_sharpness} and "
                                                        f"{self.rpeak_run_mode!r}")
        if ((self.rpeak_run_threshold > 0 or self.rpeak_run_min_length > 0)
                and (self.rpeak_method != "neurokit" or self.rpeak_mindelay_keep == "first")):
            raise ConfigError("<config>", "bad_config", "rpeak_run_threshold / rpeak_run_min_length apply to the "
                                                        "'neurokit' method with rpeak_mindelay_keep other than 'first' "
                                                        f"(got {self.rpeak_method!r}, {self.rpeak_mindelay_keep!r})")
        if self.rpeak_region_mean_cap < 0 or (self.rpeak_region_mean_cap > 0 and (
                self.rpeak_method != "neurokit" or self.rpeak_mindelay_keep == "first")):
            raise ConfigError("<config>", "bad_config", "rpeak_region_mean_cap must be 0 (off) or positive, and positive "
                                                        "only with the 'neurokit' method and rpeak_mindelay_keep other "
                                                        f"than 'first' (got {self.rpeak_region_mean_cap}, "
                                                        f"{self.rpeak_method!r}, {self.rpeak_mindelay_keep!r})")
        if not (0.0 <= self.rpeak_guard_slope_step_s <= 0.05):
            raise ConfigError("<config>", "bad_config", "rpeak_guard_slope_step_s must be 0 (off) or a step in seconds "
                                                        f"up to 0.05 (got {self.rpeak_guard_slope_step_s})")
        if self.rpeak_region_gradient_step_s < 0:
            raise ConfigError("<config>", "bad_config", "rpeak_region_gradient_step_s must be 0 (off) or positive "
                                                        f"(got {self.rpeak_region_gradient_step_s})")
        if ((self.rpeak_region_threshold > 0 or self.rpeak_region_min_length > 0 or self.rpeak_region_interpolated
             or self.rpeak_region_gradient_step_s > 0)
                and (self.rpeak_method != "neurokit" or self.rpeak_mindelay_keep == "first")):
            raise ConfigError("<config>", "bad_config", "rpeak_region_threshold / rpeak_region_min_length / "
                                                        "rpeak_region_interpolated / rpeak_region_gradient_step_s "
                                                        "apply to the "
                                                        "'neurokit' method with rpeak_mindelay_keep other than 'first' "
                                                        f"(got {self.rpeak_method!r}, {self.rpeak_mindelay_keep!r})")

    @property
    def n_rr_features(self) -> int:
        return 3 if self.rr_features else 0

    @property
    def beat_channels(self) -> int:
        """Channels of each stored beat: 2 with ``beat_reference="median"`` (the beat, the beat minus the median) or
        ``"tq"`` (the beat, the stretch before its QRS), 3 with ``"tq_median"`` (and the stretch minus its median)."""
        return BEAT_REFERENCES[self.beat_reference]

    @property
    def beat_width(self) -> int:
        """Samples stored per beat: the channels laid end to end."""
        return self.beat_len * self.beat_channels


MASKED_TARGETS = ("latent", "beats")   # ModelConfig.masked_target


@dataclass(frozen=True)
class ModelConfig(_JsonConfig):
    """ECG-SL architecture (paper design, sized to train on a CPU)."""

    beat_len: int = 96
    beat_channels: int = 1              # SignalConfig.beat_channels: channels laid end to end in each beat input
    n_rr_features: int = 3
    embed_dim: int = 64                 # beat embedding from the autoencoder bottleneck
    conv_filters: tuple = (16, 32, 64)  # three conv layers down; mirrored three up
    conv_kernel: int = 7
    d_model: int = 64
    num_heads: int = 4
    ff_dim: int = 128
    num_layers: int = 2
    dropout: float = 0.1
    max_beats: int = 128
    # Training steps run the beat encoder on the real beats only (gathered by padding_mask, scattered
    # back; layers.FlattenBeats): the same outputs on real beats, less work on padded batches (issue 22).
    # Inference encodes every beat (static shapes for export). False: every beat (before issue 22).
    real_beats_only: bool = True
    # Stage 2. Masking 30% of the beats in spans of 2 makes the neighbours of a masked beat less
    # often both visible, so the task needs the sequence, not one copy of the neighbour.
    mask_ratio: float = 0.3
    mask_span: int = 2
    # "latent": predict the FROZEN stage-1 embedding of each masked beat, standardised per
    # dimension over the training beats (raw samples are mostly noise: the autoencoder's smooth
    # code is the structure worth predicting); "beats": the raw samples (the original ECG-SL loss).
    masked_target: str = "latent"
    masked_rr_weight: float = 0.5       # + this x MSE of the masked beats' standardised RR features (rhythm)
    pooling: str = "attention"          # "attention" | "mean" (ablation)
    attention_units: int = 64           # hidden units of the attention-pooling scorer
    rhythm_statistics: bool = True      # record-level RR statistics (layers.RhythmStatistics) beside the pooled beats
    positional_encoding: str = "learned"  # "learned" (pre-trained in stage 2) | "sinusoidal" (no weights)
    head_units: int = 64
    resnet_filters: int = 32            # baseline 1-D ResNet on the raw window
    resnet_blocks: int = 4
    raw_samples: int = 3000             # resnet1d on the continuous signal (prepare --raw-signal): 30 s at 100 Hz
    # Hybrid classifier (modeling.hybrid, train --stage hybrid; issue 18): > 0 = the model's second input
    # "record_features" (B, n_record_features) from data.record_features, joined with the pooled beats.
    n_record_features: int = 0
    record_feature_units: int = 32      # Dense units of the record-feature branch
    record_feature_clip: float = 8.0    # standardised features are clipped to +-this (outliers, unseen scales)

    def validate(self) -> None:
        if self.pooling not in ("attention", "mean"):
            raise ConfigError("<config>", "bad_config", f"pooling must be 'attention' or 'mean', got {self.pooling!r}")
        if self.positional_encoding not in ("learned", "sinusoidal"):
            raise ConfigError("<config>", "bad_config",
                              f"positional_encoding must be 'learned' or 'sinusoidal', got {self.positional_encoding!r}")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ConfigError("<config>", "bad_config", f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
        if self.masked_target not in MASKED_TARGETS:
            raise ConfigError("<config>", "bad_config",
                              f"masked_target must be one of {MASKED_TARGETS}, got {self.masked_target!r}")
        if self.masked_rr_weight < 0:
            raise ConfigError("<config>", "bad_config", f"masked_rr_weight must be >= 0, got {self.masked_rr_weight}")
        if self.d_model % self.num_heads:
            raise ConfigError("<config>", "bad_config", "d_model must be divisible by num_heads")
        if isinstance(self.beat_channels, bool) or not isinstance(self.beat_channels, int) or self.beat_channels < 1:
            raise ConfigError("<config>", "bad_config",
                              f"beat_channels must be a positive integer, got {self.beat_channels!r}")
        if isinstance(self.n_record_features, bool) or not isinstance(self.n_record_features, int) \
                or self.n_record_features < 0:
            raise ConfigError("<config>", "bad_config",
                              f"n_record_features must be a non-negative integer, got {self.n_record_features!r}")

    @property
    def beat_width(self) -> int:
        """Length of each beat input: ``beat_channels`` channels of ``beat_len`` samples laid end to end."""
        return self.beat_len * self.beat_channels


@dataclass(frozen=True)
class TrainConfig(_JsonConfig):
    batch_size: int = 32                # per replica
    epochs: int = 30
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    early_stopping_patience: int = 8
    shuffle_buffer: int = 2048
    seed: int = 42
    class_weights: bool = True
    eval_window_stride: int = 64        # beats between evaluation windows of long sequences
    # predict_signal only (record-level models): > 0 classifies a record longer than this many seconds as
    # signal windows of this length, each preprocessed on its own, probabilities averaged: the windows of
    # the end-to-end TFLite file (signal.record_window_starts at target_fs). 0: the whole record's beats.
    predict_window_s: float = 0.0
    # Training batches (tfrecords_tools make_dataset length_aware), issue 22. "sort" (the default):
    # length-sorted windows: sort_window_batches x batch_size shuffled examples sorted by length, cut
    # into batches, the batches shuffled; each batch padded to its longest (55 beats on average on CinC
    # 2017 against 128; with ModelConfig.real_beats_only 2.6-2.8x the examples/s of fixed batches, 2.3x per CPU s:
    # benchmarks/results/bench_train.json). "pad": random batches, each padded to its longest (~92 beats).
    # True / "bucket": bucket_by_sequence_length (narrow buckets: the class mix of a batch varies most;
    # experiments/cinc2017/length_aware_results.json). False: every batch padded to max_beats (before issue 22).
    length_aware: bool | str = "sort"
    sort_window_batches: int = 4        # length_aware "sort": batches per sorted window (1 = "pad")
    # Label-efficiency runs: fine-tune / supervised on this fraction of the training records, chosen
    # by a hash of the record id (the same records for every seed and model; ~stratified in expectation).
    label_fraction: float = 1.0
    validation_fraction: float = 0.2    # CinC 2017 stratified validation split
    lr_schedule: str = "cosine"         # "cosine": cosine decay over all steps; "plateau": ReduceLROnPlateau; "constant"
    lr_min_fraction: float = 0.05       # cosine: final learning rate as a fraction of the initial one
    backup_save_freq: str = "epoch"     # BackupAndRestore: "epoch", or a number of batches as a string ("50")
    keep_checkpoints: int = 3           # per-epoch weight checkpoints kept in the run's checkpoints/ folder
    # Fine-tuning / supervised ECG-SL only (ecgsl_keras.data.augment): small data sets overfit on a CPU budget.
    augment: bool = True                # training batches only; never pre-training or evaluation
    augment_prob: float = 0.5           # each operation is applied to a sequence with this probability
    augment_scale: float = 1.25         # amplitude factor log-uniform in [1/s, s] per sequence (1 = off)
    augment_noise: float = 0.05         # Gaussian noise, std uniform in [0, this] (normalised signal units)
    augment_wander: float = 0.1         # baseline-wander sinusoid (0.1-0.5 Hz), amplitude uniform in [0, this]
    augment_crop_min: float = 0.5       # beat crop keeps a contiguous run of >= this fraction of real beats (1 = off)
    augment_beat_dropout: float = 0.1   # each real beat dropped with this probability, >= 3 kept (0 = off)
    # Per-beat targets only: the shape of the beats of ONE class (index into the task's labels, e.g. V), so that rare
    # forms of that class the training records lack are seen in other widths / amplitudes / tilts / polarities
    # (issue 18: V forms of unseen records are lost). Off by default (-1).
    augment_class: int = -1             # per-beat target class whose beats are reshaped (-1 = off)
    augment_class_prob: float = 0.5     # each beat of that class reshaped with this probability
    augment_class_stretch: float = 1.0  # width factor log-uniform in [1/s, s] about the R peak (1 = off)
    augment_class_scale: float = 1.0    # amplitude factor log-uniform in [1/s, s] (1 = off)
    augment_class_tilt: float = 0.0     # linear baseline tilt, end-to-end change uniform in [-t, t] (0 = off)
    augment_class_flip: float = 0.0     # probability of a polarity flip (0 = off)
    # Per-beat targets only: a loss weight for the beats of ONE class that sit next to another beat of that class in
    # the sequence (a couplet or a run), so that ventricular runs, rare in the training records, weigh more (issue 18:
    # 223's lost V sit in runs). Off by default (-1); every other beat keeps its weight (1, or its class weight).
    run_weight_class: int = -1          # per-beat target class whose run beats are weighted (-1 = off)
    run_weight: float = 1.0             # their loss weight factor (1 = off)
    label_smoothing: float = 0.1        # multiclass classifiers: targets (1 - e) one-hot + e / classes
    encoder_lr_multiplier: float = 1.0  # finetune: learning-rate factor of the pre-trained temporal encoder
    encoder_warmup_epochs: int = 0      # finetune: epochs with the temporal encoder frozen (head trains alone)
    focal_gamma: float = 0.0            # per-beat / multiclass: focal loss with this gamma (0 = cross-entropy)
    class_weight_cap: float = 0.0       # > 0: upper bound of every balanced class weight (0 = none)

    def validate(self) -> None:
        if self.lr_schedule not in ("cosine", "plateau", "constant"):
            raise ConfigError("<config>", "bad_config",
                              f"lr_schedule must be 'cosine', 'plateau' or 'constant', got {self.lr_schedule!r}")
        if not 0.0 <= self.lr_min_fraction <= 1.0:
            raise ConfigError("<config>", "bad_config", f"lr_min_fraction must be in [0, 1], got {self.lr_min_fraction}")
        if self.backup_save_freq != "epoch" and not (str(self.backup_save_freq).isdigit()
                                                     and int(self.backup_save_freq) > 0):
            raise ConfigError("<config>", "bad_config",
                              f"backup_save_freq must be 'epoch' or a positive number of batches, got {self.backup_save_freq!r}")
        if not 0.0 < float(self.label_fraction) <= 1.0:
            raise ConfigError("<config>", "bad_config", f"label_fraction must be in (0, 1], got {self.label_fraction}")
        if int(self.batch_size) < 1 or int(self.epochs) < 1:
            raise ConfigError("<config>", "bad_config", "batch_size and epochs must be positive")
        ranges = {   # name: (low, high, high included)
            "augment_prob": (0.0, 1.0, True), "augment_noise": (0.0, math.inf, False),
            "augment_wander": (0.0, math.inf, False), "augment_beat_dropout": (0.0, 1.0, False),
            "label_smoothing": (0.0, 1.0, False), "encoder_lr_multiplier": (0.0, math.inf, False),
            "focal_gamma": (0.0, math.inf, False), "class_weight_cap": (0.0, math.inf, False),
            "augment_class_prob": (0.0, 1.0, True), "augment_class_tilt": (0.0, math.inf, False),
            "augment_class_flip": (0.0, 1.0, True)}
        for name, (low, high, closed) in ranges.items():
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
                    low <= value <= high if closed else low <= value < high):
                raise ConfigError("<config>", "bad_config",
                                  f"{name} must be in [{low}, {high}{']' if closed else ')'}, got {value!r}")
        if not isinstance(self.augment, bool):
            raise ConfigError("<config>", "bad_config", f"augment must be true or false, got {self.augment!r}")
        if self.length_aware not in (True, False, "pad", "bucket", "sort") or isinstance(self.length_aware, (int, float)) \
                and not isinstance(self.length_aware, bool):
            raise ConfigError("<config>", "bad_config",
                              f"length_aware must be true, false, \"pad\", \"bucket\" or \"sort\", got {self.length_aware!r}")
        if isinstance(self.sort_window_batches, bool) or not isinstance(self.sort_window_batches, int) \
                or self.sort_window_batches < 1:
            raise ConfigError("<config>", "bad_config",
                              f"sort_window_batches must be a positive integer, got {self.sort_window_batches!r}")
        if not (isinstance(self.augment_scale, (int, float)) and 1.0 <= self.augment_scale < math.inf):
            raise ConfigError("<config>", "bad_config", f"augment_scale must be >= 1 (1 = off), got {self.augment_scale!r}")
        for name in ("augment_class_stretch", "augment_class_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and 1.0 <= value < math.inf):
                raise ConfigError("<config>", "bad_config", f"{name} must be >= 1 (1 = off), got {value!r}")
        if isinstance(self.augment_class, bool) or not isinstance(self.augment_class, int) or self.augment_class < -1:
            raise ConfigError("<config>", "bad_config",
                              f"augment_class must be a class index >= 0 or -1 (off), got {self.augment_class!r}")
        if isinstance(self.run_weight_class, bool) or not isinstance(self.run_weight_class, int) \
                or self.run_weight_class < -1:
            raise ConfigError("<config>", "bad_config",
                              f"run_weight_class must be a class index >= 0 or -1 (off), got {self.run_weight_class!r}")
        if isinstance(self.run_weight, bool) or not (isinstance(self.run_weight, (int, float))
                                                     and 0.0 < self.run_weight < math.inf):
            raise ConfigError("<config>", "bad_config", f"run_weight must be a positive number, got {self.run_weight!r}")
        if not (isinstance(self.augment_crop_min, (int, float)) and 0.0 < self.augment_crop_min <= 1.0):
            raise ConfigError("<config>", "bad_config",
                              f"augment_crop_min must be in (0, 1] (1 = off), got {self.augment_crop_min!r}")
        if isinstance(self.predict_window_s, bool) or not isinstance(self.predict_window_s, (int, float)) \
                or not 0.0 <= self.predict_window_s < math.inf:
            raise ConfigError("<config>", "bad_config",
                              f"predict_window_s must be a non-negative number of seconds (0 = off), got {self.predict_window_s!r}")
        if isinstance(self.encoder_warmup_epochs, bool) or not isinstance(self.encoder_warmup_epochs, int) \
                or self.encoder_warmup_epochs < 0:
            raise ConfigError("<config>", "bad_config",
                              f"encoder_warmup_epochs must be a non-negative integer, got {self.encoder_warmup_epochs!r}")


@dataclass(frozen=True)
class ExperimentConfig(_JsonConfig):
    signal: SignalConfig = field(default_factory=SignalConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        if self.model.beat_len != self.signal.beat_len:
            raise ConfigError("<config>", "bad_config",
                              f"model.beat_len {self.model.beat_len} != signal.beat_len {self.signal.beat_len}")
        if self.model.beat_channels != self.signal.beat_channels:
            raise ConfigError("<config>", "bad_config", f"model.beat_channels {self.model.beat_channels} != "
                              f"{self.signal.beat_channels} of signal.beat_reference {self.signal.beat_reference!r}")
        if self.model.n_rr_features != self.signal.n_rr_features:
            raise ConfigError("<config>", "bad_config",
                              f"model.n_rr_features {self.model.n_rr_features} != signal rr features {self.signal.n_rr_features}")


@dataclass(frozen=True)
class QuickstartConfig(_JsonConfig):
    """``python -m ecgsl_keras.quickstart``: the whole method on the embedded 64-record CinC 2017 sample
    in a few CPU minutes (epochs per stage; everything else comes from ``ExperimentConfig``)."""

    autoencoder_epochs: int = 8
    masked_epochs: int = 10
    finetune_epochs: int = 30
    autoencoder_batch_size: int = 64    # beats per batch (stage 1 trains on single beats)
    batch_size: int = 16                # sequences per batch (stage 2 and fine-tuning)
    learning_rate: float = 1e-3
    early_stopping_patience: int = 30   # the sample's 13 validation records make the monitor noisy


@dataclass(frozen=True)
class ExportConfig(_JsonConfig):
    """SavedModel / TFLite export (``ecgsl_keras.serving.export``) and its benchmark (``bench inference``)."""

    tflite_formats: tuple = ("float32", "float16", "int8")
    # "dynamic": int8 weights, float activations; "full": int8 weights and activations (float in/out).
    # Full-integer breaks the transformer's LayerNorm (CinC model: 59% class agreement with Keras vs 99.7%).
    int8_mode: str = "dynamic"
    examples: int = 100                 # windows used for int8 calibration, and again for the parity check
    bench_latency_runs: int = 50        # batch-1 calls timed per format
    bench_batch_size: int = 32          # batch of the throughput measure

    def validate(self) -> None:
        unknown = sorted(set(self.tflite_formats) - {"float32", "float16", "int8"})
        if unknown:
            raise ConfigError("<config>", "bad_config", f"unknown TFLite formats {unknown} (known: float32, float16, int8)")
        if self.int8_mode not in ("full", "dynamic"):
            raise ConfigError("<config>", "bad_config", f"int8_mode must be 'full' or 'dynamic', got {self.int8_mode!r}")
        if self.examples < 1:
            raise ConfigError("<config>", "bad_config", f"examples must be positive, got {self.examples}")


_NESTED = {
    ("ExperimentConfig", "signal"): SignalConfig,
    ("ExperimentConfig", "model"): ModelConfig,
    ("ExperimentConfig", "train"): TrainConfig,
}


# SignalConfig fields that only decide which records are accepted (quality checks), not the beats
# a record gives; every other field (a new one too) changes the beats or RR features.
_SIGNAL_QUALITY_FIELDS = frozenset({"min_beats", "min_duration_s", "flat_std_mv", "clip_fraction", "supported_fs"})


def signal_mismatch(a, b) -> list[str]:
    """Fields of two signal configs (``SignalConfig`` or its dict) that differ and change the beats
    (target_fs, beat_len, r_offset, segment_mode, normalize, rr_features, clean_method, R-peak
    detection...), as ``"field: a != b"`` strings, sorted; ``[]`` when beats would be identical."""
    a = a.to_dict() if isinstance(a, SignalConfig) else SignalConfig.from_dict(a).to_dict()
    b = b.to_dict() if isinstance(b, SignalConfig) else SignalConfig.from_dict(b).to_dict()
    return [f"{key}: {a.get(key)!r} != {b.get(key)!r}" for key in sorted(set(a) | set(b))
            if key not in _SIGNAL_QUALITY_FIELDS and a.get(key) != b.get(key)]

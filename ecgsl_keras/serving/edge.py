"""One TFLite file from a raw ECG window to the diagnosis: the preprocessing inside the graph.

    python -m ecgsl_keras.export --model cinc2017 --out exports/cinc2017 --end-to-end [--window-s 30] [--input-rate 100]

The exported ``end_to_end`` signature runs, in builtin TFLite ops only (no Flex / SELECT_TF_OPS):

1. **Input checks** (``ecgsl_keras.data.signal.check_quality`` in tensor form): the window holds between
   ``SignalConfig.min_duration_s`` seconds and ``window_s`` seconds of samples; no NaN/inf; not flat
   (standard deviation under ``flat_std_mv``); not clipped (more than ``clip_fraction`` of the samples
   at the extremes). A failed check gives ``valid = 0``, a ``status`` code, no beats, zero
   probabilities and zero attention: never a guess.
2. **Decimation** to ``SignalConfig.target_fs`` when ``input_rate`` is an integer multiple of it
   (a linear-phase anti-aliasing FIR, strided convolution); otherwise the input rate must be the
   target rate.
3. **Cleaning**: a zero-phase FIR that reproduces ``signal.clean(method=SignalConfig.clean_method)``
   (its impulse response, measured at export time at ``clean_rate``, the rate the Python path cleans the
   records at (``resolve_edge_config``: cinc2017, 300 Hz), resampled to ``target_fs`` and truncated to
   ``EdgeConfig.clean_half_width_s`` (3 s) either side, with a Hann taper and zero DC gain).
4. **QRS detection**, two detectors in the spirit of Pan & Tompkins (1985) (``EdgeConfig.detector``):
   ``"neurokit"`` (default) mirrors the Python path's detector, neurokit2's ``"neurokit"`` method on the
   ``SignalConfig.rpeak_clean_method`` copy (that cleaning as an FIR, like step 3): derivative
   (|gradient|), moving-window integration (boxcar, 100 ms), an adaptive threshold (1.5 times its
   running mean over 750 ms), QRS regions above it (too-short regions dropped), the most prominent
   local maximum of each region, and a 300 ms refractory period (``SignalConfig.rpeak_mindelay_keep``
   ``"prominent"``: the more prominent of two peaks within it, one pass; ``"prominent_negative_last"``: also a
   region's most prominent minimum when it has no maximum, which never wins the contest, kept at least
   ``SignalConfig.rpeak_minimum_gap_s`` after the last kept peak when that is > 0, the Python path's sequential
   contest exactly (``EndToEnd.refractory_contest``, a WHILE loop); ``SignalConfig.rpeak_keep_first_beat``:
   without neurokit2's dummy peak at sample 0, which loses a beat in the first 300 ms), each step as neurokit2 computes it
   (on the same detection signal the two differ on about 2 peaks in 1,000, ``tests/test_edge.py``); so
   the beats match the ones the classifier was trained on. ``"levels"`` is Pan-Tompkins proper: a 5-15 Hz band-pass, the five-point
   derivative, squaring, 150 ms integration, local maxima outside the refractory period
   ``SignalConfig.min_rr_s``, and the threshold ``NPKI + f * (SPKI - NPKI)`` with the signal and noise
   peak levels averaged over +-``level_s`` (in parallel, not beat by beat).
5. **R-apex refinement** as ``wfdb.processing.correct_peaks(peak_dir="compare")`` in
   ``rpeaks.refine_rpeaks``: each peak moves to the extremum of (cleaned - its moving average) within
   ``SignalConfig.rpeak_refine_s``, the direction (up or down) chosen once per window; peaks that
   end up closer than ``min_rr_s`` keep the larger one.
6. **Top-k**: the ``max_beats`` (the model's) strongest beats, in time order, with a validity mask.
   **Guard** (``SignalConfig.rpeak_guard_amplitude`` > 0; ``EndToEnd.guard``): ``rpeak_guard.guard_keep``, the
   physiological check of ``rpeak_guard.guard_rpeaks`` with its shape rescue (constants ``rpeak_guard.constants_for``
   the signal config, shared with the Python detector): a peak far smaller than its 8 neighbours each side is dropped unless it is
   shaped like their QRS complexes (small normal beats between ectopic ones in bigeminy stay). Then its
   **search back** in long RR gaps (``EndToEnd.search_back``), ``EdgeConfig.searchback_rounds`` rounds (3,
   as the Python path; one copy of the round in the file, a WHILE loop). Then, when on (off by default), the guard's
   noise check (``SignalConfig.rpeak_guard_noise``, ``EndToEnd.noise_check``) and post-wide-beat check
   (``rpeak_guard_post_wide``, ``EndToEnd.post_wide_check``), as ``rpeak_guard.guard_rpeaks`` runs them last.
   The guard's **P-wave check** (``SignalConfig.rpeak_guard_p_wave``, off by default; ``EndToEnd.p_wave_check``)
   runs, when on, between the amplitude check and the search back, as in ``rpeak_guard.guard_rpeaks`` (its gap
   exception ``rpeak_guard_p_wave_gap`` stays in the Python path).
7. **RR features** (``signal.rr_features``: previous, next, local mean over ``rr_local_window`` beats,
   clipped at ``max_rr_s``) on all detected peaks; **median/IQR normalisation** of the cleaned
   window (``signal.normalize``); **segmentation** into ``beat_len``-sample beats with R at
   ``r_offset``, dropping the beats whose window does not fit (``segment_mode="window"``).
8. The trained classifier (``models.attention_model``: probabilities and attention weights).

Input contract (``ecg``): float32, 1-D, the samples of one lead in millivolts at ``input_rate`` Hz,
at most ``window_s * input_rate`` samples (a shorter window, down to ``min_duration_s``, is used as
it is; the graph pads internally). Resample other rates on the device before the call. Outputs:
``probabilities`` (C,), ``attention_weights`` (max_beats,), ``rpeaks`` (max_beats,) int32 sample
indices at ``input_rate`` (-1 on padding), ``rpeak_mask`` (max_beats,) bool, ``n_beats`` int32,
``valid`` int32 (1 or 0), ``status`` int32 (``STATUS`` names the codes).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import filters as filters_lib
from ecgsl_keras.data import rpeak_guard
from ecgsl_keras.data import signal as signal_lib
from ecgsl_keras.data.datasets.cinc2017 import cinc2017_sample_dir
from ecgsl_keras.data.readers import read_lead
from ecgsl_keras.data.rpeaks import match_peaks
from ecgsl_keras.errors import ConfigError, SignalQualityError
from ecgsl_keras.fileio import write_text_atomic
from ecgsl_keras.serving import tflite_file
from ecgsl_keras.serving.inference import Predictor, _KerasBackend
from tfrecords_tools import quiet

SIGNATURE = "end_to_end"
INPUT = "ecg"
OUTPUTS = ("probabilities", "attention_weights", "rpeaks", "rpeak_mask", "n_beats", "valid", "status")
# status codes of the "status" output (0: valid)
STATUS = {0: "ok", 1: "bad_length", 2: "nan", 3: "flat", 4: "clipped", 5: "too_few_beats"}
SAVED_MODEL_DIR = "saved_model_end_to_end"
METADATA_NAME = "end_to_end.json"


def tflite_name(fmt: str) -> str:
    return f"model_end_to_end_{fmt}.tflite"


# SignalConfig's R-peak options that run in the Python path only (issue 21): the graph refuses any of them above 0.
# rpeak_minimum_gap_s (run s48) runs in the graph too (EndToEnd.refractory_contest); the gap's conditions and its
# tests at the final peaks (runs s49-s55) do not. rpeak_rescue_deep (the first of s37_first's guard steps) runs in
# EndToEnd.guard; rpeak_guard_noise (the noise check) in EndToEnd.noise_check; rpeak_guard_post_wide (the post-wide-beat
# check) in EndToEnd.post_wide_check; rpeak_guard_p_wave (the P-wave check) in EndToEnd.p_wave_check, without its gap
# exception rpeak_guard_p_wave_gap.
PYTHON_ONLY_RPEAK_OPTIONS = ("rpeak_searchback_shape", "rpeak_searchback_irregular",
                             "rpeak_second_proposer", "rpeak_guard_wide", "rpeak_rescue_cluster",
                             "rpeak_guard_t_wave", "rpeak_guard_residual", "rpeak_guard_own_t",
                             "rpeak_second_run", "rpeak_guard_blocked_p", "rpeak_guard_p_wave_gap",
                             "rpeak_rescue_templates", "rpeak_propose_templates",
                             "rpeak_region_threshold", "rpeak_region_min_length", "rpeak_run_threshold",
                             "rpeak_run_min_length", "rpeak_run_add_like", "rpeak_run_add_width",
                             "rpeak_run_add_sharpness", "rpeak_rescue_wide",
                             "rpeak_minimum_gap_wide", "rpeak_minimum_gap_amplitude", "rpeak_minimum_gap_final",
                             "rpeak_minimum_gap_after_guard", "rpeak_region_mean_cap",
                             "rpeak_region_interpolated", "rpeak_region_gradient_step_s", "rpeak_guard_slope_step_s",
                             "rpeak_minimum_gap_new_only", "rpeak_minimum_gap_pair",
                             "rpeak_minimum_gap_pair_guarded", "rpeak_minimum_gap_pair_slope",
                             "rpeak_minimum_gap_pair_correlation", "rpeak_minimum_gap_pair_templates",
                             "rpeak_guard_contrast", "rpeak_rescue_wide_template", "rpeak_rescue_wide_aligned",
                             "rpeak_rescue_wide_aligned_contrast", "rpeak_correct_artifacts")

# SignalConfig's other R-peak fields, which the graph runs or checks (check_config, EndToEnd). Every ``rpeak_*`` field
# is in exactly one of the two tuples (tests/test_edge.py), so a new Python option cannot be ignored by the graph
# unnoticed. rpeak_method and rpeak_mindelay_s are mirrored by EdgeConfig.detector / min_delay_s; rpeak_run_mode is
# read only when rpeak_run_threshold > 0 (Python path only).
GRAPH_RPEAK_FIELDS = ("rpeak_method", "rpeak_clean_method", "rpeak_refine_s", "rpeak_mindelay_s", "rpeak_mindelay_keep",
                      "rpeak_guard_amplitude", "rpeak_guard_constants", "rpeak_rescue_deep", "rpeak_searchback",
                      "rpeak_searchback_amplitude", "rpeak_guard_noise", "rpeak_guard_post_wide", "rpeak_keep_first_beat",
                      "rpeak_minimum_gap_s", "rpeak_run_mode", "rpeak_guard_p_wave")

# GuardConstants the graph reads (EndToEnd.guard, EndToEnd.search_back, the late checks, EndToEnd.p_wave_check, from
# rpeak_guard.constants_for the signal config): SignalConfig.rpeak_guard_constants may override these; check_config
# refuses an override of any other (the graph does not run the steps that read them; searchback_rounds is
# EdgeConfig.searchback_rounds in the graph)
GRAPH_GUARD_CONSTANTS = ("neighbours", "percentile", "qrs_half_width_s", "shape_half_width_s", "rescue_amplitude",
                         "rescue_sharpness", "rescue_width", "deep_sharpness", "deep_width", "noise_amplitude",
                         "noise_window_s", "noise_typical_beats", "noise_correlation", "cluster_neighbours",
                         "cluster_window_s", "cluster_min", "post_wide_lag_s", "post_wide_width", "post_wide_sharpness",
                         "p_wave_lag_s", "p_wave_half_width_s", "p_wave_shift_s", "p_wave_confident", "p_wave_min_size",
                         "p_wave_own", "p_wave_template_beats", "p_wave_consistency")

# SignalConfig.rpeak_mindelay_keep values the graph runs (EndToEnd.refine; "prominent_negative_last" since issue 21's
# port, EndToEnd.refractory_contest)
GRAPH_MINDELAY_KEEP = ("first", "prominent", "prominent_negative_last")


@dataclass(frozen=True)
class EdgeConfig:
    """The in-graph detector's own constants (the rest comes from the model's ``SignalConfig``)."""

    window_s: float = 30.0              # input capacity in seconds
    input_rate: float | None = None     # Hz of the input: target_fs (None) or an integer multiple of it
    # rate at which signal.clean's response is measured: the rate the Python path cleans the records at
    # (their native rate). None: resolve_edge_config picks it (input_rate above target_fs, else the task's
    # native rate, NATIVE_RATES), target_fs where neither is known
    clean_rate: float | None = None
    clean_half_width_s: float = 3.0     # cleaning FIR: +- this many seconds of signal.clean's impulse response
    band_hz: tuple = (5.0, 15.0)        # Pan-Tompkins QRS band
    band_half_width_s: float = 0.25     # band-pass FIR half length
    integration_s: float = 0.15         # moving-window integration (Pan-Tompkins: 150 ms)
    envelope_s: float = 2.0             # running maximum (blocks of 0.2 s) of the integrated signal ("signal level")
    noise_s: float = 2.0                # running mean of the integrated signal ("noise level")
    threshold_fraction: float = 0.2     # threshold = noise + fraction * (signal - noise)
    global_fraction: float = 0.08       # and at least this fraction of the window's reference peak height
    global_quantile: float = 0.9        # reference peak height: this quantile of the candidates' heights
    # "neurokit": the Python path's detector (neurokit2 "neurokit": |gradient|, boxcar integration, threshold
    # on its running mean, refractory min_delay_s) on the rpeak_clean_method copy; "levels": Pan-Tompkins
    # (band-pass, derivative, squaring, integration, running SPKI/NPKI); "envelope": running max/mean.
    detector: str = "neurokit"
    smooth_s: float = 0.1               # neurokit: smoothwindow
    avg_s: float = 0.75                 # neurokit: avgwindow
    grad_weight: float = 1.5            # neurokit: gradthreshweight
    min_len_weight: float = 0.4         # neurokit: minlenweight
    min_delay_s: float = 0.3            # neurokit: mindelay (refractory period)
    prominence_s: float = 0.3           # neurokit: how far the peak prominences are searched each side
    searchback_rounds: int = rpeak_guard.GUARD.searchback_rounds  # rounds of the guard's search back (Python: 3)
    # neurokit, input_rate > target_fs: detect on the input before decimating, as the Python path detects at the
    # records' native rate (closer peaks; about 2x the front end's time, over the int8 goals: off by default)
    detect_at_input_rate: bool = False
    detect_half_width_s: float = 0.5    # FIR of the rpeak_clean_method cleaning: +- this many seconds
    level_s: float = 4.0                # "levels": half width of the window the peak levels are averaged over
    decimate_half_width_s: float = 0.1  # anti-aliasing FIR half length when input_rate = k * target_fs

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# native sampling rate of a task's records (Hz): the rate the Python path cleans and detects at
NATIVE_RATES = {"cinc2017": 300.0}


def resolve_edge_config(edge: EdgeConfig, signal_config: SignalConfig, task_name: str | None = None) -> EdgeConfig:
    """``edge`` with ``clean_rate`` filled in when None: the input rate when it is above ``target_fs``
    (the records arrive at it), else ``NATIVE_RATES[task_name]``; unchanged when neither applies."""
    if edge.clean_rate is not None:
        return edge
    target = float(signal_config.target_fs)
    if edge.input_rate and float(edge.input_rate) > target:
        return dataclasses.replace(edge, clean_rate=float(edge.input_rate))
    if task_name in NATIVE_RATES:
        return dataclasses.replace(edge, clean_rate=NATIVE_RATES[task_name])
    return edge


# --- filters (numpy, at export time) -------------------------------------------------------------

def clean_fir(signal_config: SignalConfig, edge: EdgeConfig, method: str | None = None, rate: float | None = None) -> np.ndarray:
    """FIR at ``target_fs`` (or ``rate``) reproducing ``signal.clean(method=...)`` (default ``clean_method``):
    its impulse response measured at ``clean_rate`` (resampled), +-``clean_half_width_s``,
    Hann taper, zero DC gain. Centred on the impulse, so a zero-phase cleaning stays zero-phase and a
    causal one keeps its delay."""

    target = float(rate or signal_config.target_fs)
    rate = float(edge.clean_rate or target)
    half = int(round(edge.clean_half_width_s * target))
    ratio = rate / target
    n_target = 2 * half + 1 + 2 * int(10 * target)         # room for the response to die out
    n = int(round(n_target * ratio))
    centre_target = n_target // 2
    impulse = np.zeros(n)
    impulse[int(round(centre_target * ratio))] = 1.0
    response = filters_lib.clean(impulse, rate, method or signal_config.clean_method)
    if rate != target:
        # an impulse of 1 at ``rate`` carries 1 / ratio of the area of one at ``target``
        response = filters_lib.resample(response, rate, target) * ratio
    h = response[centre_target - half: centre_target + half + 1].copy()
    taper = np.hanning(2 * half + 3)[1:-1]
    h *= taper
    # zero DC gain (a high-pass): remove the residual sum with the taper's shape
    h -= taper * (h.sum() / taper.sum())
    return h.astype(np.float32)


def bandpass_fir(fs: float, band, half_width_s: float) -> np.ndarray:
    import scipy.signal

    half = max(2, int(round(half_width_s * fs)))
    return scipy.signal.firwin(2 * half + 1, list(band), pass_zero=False, fs=fs).astype(np.float32)


def lowpass_fir(fs: float, cutoff: float, half_width_s: float) -> np.ndarray:
    import scipy.signal

    half = max(2, int(round(half_width_s * fs)))
    return scipy.signal.firwin(2 * half + 1, cutoff, fs=fs).astype(np.float32)


# --- the graph (TensorFlow) ----------------------------------------------------------------------

def _conv(x, kernel, stride=1):
    """'same' zero-phase convolution of a (N,) signal with an odd-length kernel (CONV_2D in TFLite)."""
    import tensorflow as tf

    k = np.asarray(kernel, np.float32)
    # tf.nn.conv1d is a cross-correlation: flip the kernel (the filters here are symmetric anyway)
    w = tf.constant(k[::-1].reshape(-1, 1, 1))
    half = (k.size - 1) // 2
    # explicit zero padding + VALID: output k is centred on input sample k * stride (SAME would be
    # off by one input sample for some strides)
    padded = tf.pad(tf.reshape(x, (-1,)), [[half, half]])
    y = tf.nn.conv1d(tf.reshape(padded, (1, -1, 1)), w, stride=stride, padding="VALID")
    return tf.reshape(y, (-1,))


def _arange(like, dtype=None):
    """0, 1, ..., n-1 computed at run time (CUMSUM of ones) rather than folded into a constant of n
    int32s by the converter: each such constant would add n * 4 bytes to the file. The ones come from
    the data (``x == x or x != x``: true for every value, NaN included) because the converter folds
    ``ones_like`` of a static shape, and then the CUMSUM, into that constant (12,000 bytes at 3000
    samples in the cinc2017-edge file, issue 21)."""
    import tensorflow as tf

    ones = tf.logical_or(tf.equal(like, like), tf.not_equal(like, like))
    return tf.cumsum(tf.cast(ones, dtype or tf.int32)) - 1


def _running(x, width: int, kind: str):
    """Centred running max (MAX_POOL_2D; keep ``width`` small) or mean (CUMSUM on the mirrored
    signal: any width, O(n), no per-sample constants)."""
    import tensorflow as tf

    width = max(1, int(width) | 1)   # odd: centred
    if kind == "max":
        return tf.reshape(tf.nn.max_pool1d(tf.reshape(x, (1, -1, 1)), width, 1, "SAME"), (-1,))
    n = x.shape[0]
    half = min(width // 2, n - 1)
    width = 2 * half + 1
    padded = tf.pad(x, [[half + 1, half]], mode="REFLECT")          # n + width
    cumulative = tf.cumsum(padded)
    return (cumulative[width:] - cumulative[:-width]) / float(width)


def _boxcar(x, size: int, count):
    """``neurokit2.signal_smooth(x[:count], kernel="boxcar", size=size)``: the mean over
    ``[i - size // 2, i + (size - 1) // 2]`` (np.convolve "same"), the signal extended with its first
    and last (``count - 1``) values; CUMSUM, any width. Samples from ``count`` on are meaningless."""
    import tensorflow as tf

    size = max(1, int(size))
    a, b = size // 2, (size - 1) // 2
    n = x.shape[0]
    last = tf.gather(x, tf.clip_by_value(count - 1, 0, n - 1))
    x = tf.where(_arange(x) < count, x, last)
    padded = tf.concat([tf.fill([a + 1], x[0]), x, tf.fill([b], last)], 0)
    cumulative = tf.cumsum(padded)
    return (cumulative[size:] - cumulative[:-size]) / float(size)


def _block_running_max(x, block: int, radius_blocks: int):
    """Running maximum over the blocks of ``block`` samples within +-``radius_blocks`` blocks (cheap
    for long windows: a strided max pool, then a short one over the block maxima)."""
    import tensorflow as tf

    n = x.shape[0]
    n_blocks = -(-n // block)
    padded = tf.pad(x, [[0, n_blocks * block - n]])
    blocks = tf.reshape(tf.nn.max_pool1d(tf.reshape(padded, (1, -1, 1)), block, block, "VALID"), (-1,))
    spread = tf.reshape(tf.nn.max_pool1d(tf.reshape(blocks, (1, -1, 1)), 2 * radius_blocks + 1, 1, "SAME"), (-1,))
    return tf.reshape(tf.tile(spread[:, None], [1, block]), (-1,))[:n]


def _clipped_windows(signal, centres, lo: int, hi: int):
    """(R, hi - lo + 1): ``signal`` (N,) at ``centres`` (R,) int32 + lo .. + hi, each index clipped to 0 .. N - 1 (a
    window past an end repeats the end sample). The centres as a column by tf.reshape, not [:, None]: that one adds a
    STRIDED_SLICE (about 300 bytes) to the file each time."""
    import tensorflow as tf

    rows, n = int(centres.shape[0]), int(signal.shape[0])
    return tf.gather(signal, tf.clip_by_value(tf.reshape(centres, (rows, 1)) + tf.range(lo, hi + 1)[None, :], 0, n - 1))


def _time_order(times, keep, k: int):
    """The indices of ``k`` rows: those where ``keep`` holds first, in increasing ``times`` (float32), the others after
    them; how each step packs its kept peaks so that index i is peak i (top_k of the negated times: sorted, ties in
    index order)."""
    import tensorflow as tf

    return tf.math.top_k(tf.where(keep, -times, -3.0e38), k=k, sorted=True).indices


def _sorted_quantiles(values, count, quantiles):
    """numpy-style (linear) quantiles of the first ``count`` entries of ``values`` (others ignored)."""
    import tensorflow as tf

    n = values.shape[0]
    valid = _arange(values) < count
    big = tf.constant(3.0e38, tf.float32)
    # top_k of the negated values: ascending order, padding (+big) last
    ascending = -tf.math.top_k(-tf.where(valid, values, big), k=n, sorted=True).values
    last = tf.cast(tf.maximum(count - 1, 0), tf.float32)
    out = []
    for q in quantiles:
        pos = q * last
        lo = tf.floor(pos)
        frac = pos - lo
        lo_i = tf.cast(lo, tf.int32)
        hi_i = tf.minimum(lo_i + 1, tf.maximum(count - 1, 0))
        a, b = tf.gather(ascending, lo_i), tf.gather(ascending, hi_i)
        out.append(a + frac * (b - a))
    return out


def check_config(signal_config: SignalConfig, edge: EdgeConfig = EdgeConfig()) -> None:
    """``ConfigError`` for a combination the graph cannot serve (before any heavy work)."""
    target = float(signal_config.target_fs)
    rate = float(edge.input_rate or target)
    if signal_config.segment_mode != "window":
        raise ConfigError("<config>", "bad_config", "the end-to-end graph cuts beats in 'window' segment mode only, "
                                                    f"the model uses {signal_config.segment_mode!r}")
    if rate < target or abs(rate / target - round(rate / target)) > 1e-9:
        raise ConfigError("<config>", "bad_config",
                          f"input rate {rate:g} Hz must be the model's {target:g} Hz or an integer multiple of it "
                          "(resample on the device first)")
    if edge.window_s * target < signal_config.beat_len or edge.window_s < signal_config.min_duration_s:
        raise ConfigError("<config>", "bad_config", f"window of {edge.window_s:g} s is too short")
    if edge.clean_rate is not None and not (np.isfinite(edge.clean_rate) and float(edge.clean_rate) >= target):
        raise ConfigError("<config>", "bad_config",
                          f"clean rate {edge.clean_rate:g} Hz must be at least the model's {target:g} Hz")
    if edge.detector not in ("neurokit", "levels", "envelope"):
        raise ConfigError("<config>", "bad_config", f"unknown detector {edge.detector!r}")
    if signal_config.beat_reference != "none":
        raise ConfigError("<config>", "bad_config", "the end-to-end graph cuts one-channel beats; beat_reference "
                                                    f"{signal_config.beat_reference!r} is the Python path's only")
    not_run = [name for name, _ in signal_config.rpeak_guard_constants if name not in GRAPH_GUARD_CONSTANTS]
    if not_run:
        raise ConfigError("<config>", "bad_config", "the end-to-end graph reads the GuardConstants "
                                                    + ", ".join(GRAPH_GUARD_CONSTANTS) + " only; rpeak_guard_constants "
                                                    f"overrides {', '.join(not_run)} (Python path only"
                                                    + ("; the graph's rounds are EdgeConfig.searchback_rounds"
                                                       if "searchback_rounds" in not_run else "") + ")")
    python_only = [name for name in PYTHON_ONLY_RPEAK_OPTIONS if getattr(signal_config, name) > 0]
    if signal_config.rpeak_mindelay_keep not in GRAPH_MINDELAY_KEEP or python_only:
        raise ConfigError("<config>", "bad_config", "the end-to-end graph runs the guard's search back without its "
                                                    "shape check or irregular-rhythm gaps, and no "
                                                    "negative-QRS fallback other than 'prominent_negative_last' "
                                                    "(Python path only): rpeak_mindelay_keep "
                                                    + " or ".join(repr(k) for k in GRAPH_MINDELAY_KEEP) + ", "
                                                    + ", ".join(PYTHON_ONLY_RPEAK_OPTIONS) + " 0 only")


class EndToEnd:
    """Builds the ``end_to_end`` function: raw window -> outputs (module docstring)."""

    def __init__(self, serving_model, signal_config: SignalConfig, max_beats: int, n_rr: int,
                 edge: EdgeConfig = EdgeConfig()):
        check_config(signal_config, edge)
        self.model = serving_model
        self.sc = signal_config
        self.edge = edge
        self.max_beats = int(max_beats)
        self.n_rr = int(n_rr)
        target = float(signal_config.target_fs)
        self.input_rate = float(edge.input_rate or target)
        ratio = self.input_rate / target
        self.factor = int(round(ratio))
        self.fs = target
        self.n_input = int(round(edge.window_s * self.input_rate))
        self.n = self.n_input // self.factor
        self.min_input = int(np.ceil(signal_config.min_duration_s * self.input_rate))
        self.clean_kernel = clean_fir(signal_config, edge)
        self.band_kernel = bandpass_fir(target, edge.band_hz, edge.band_half_width_s)
        self.detect_kernel = (clean_fir(signal_config, dataclasses.replace(edge, clean_half_width_s=edge.detect_half_width_s),
                                        signal_config.rpeak_clean_method or signal_config.clean_method)
                              if edge.detector == "neurokit" else None)
        self.decimate_kernel = (lowpass_fir(self.input_rate, 0.45 * target, edge.decimate_half_width_s)
                                if self.factor > 1 else None)
        # the Python path detects at the records' native rate: with an input above target_fs, so does the graph
        self.detect_at_input = bool(edge.detector == "neurokit" and self.factor > 1 and edge.detect_at_input_rate)
        self.detect_kernel_input = (clean_fir(signal_config, dataclasses.replace(
            edge, clean_half_width_s=edge.detect_half_width_s, clean_rate=edge.clean_rate or self.input_rate),
            signal_config.rpeak_clean_method or signal_config.clean_method, rate=self.input_rate)
            if self.detect_at_input else None)

    # -- pieces ---------------------------------------------------------------------------------

    def checks(self, x, length):
        """(status int32, finite input with zeros after ``length``)."""
        import tensorflow as tf

        sc = self.sc
        inside = _arange(x) < length
        finite = tf.equal(x * 0.0, 0.0)         # False for NaN and +-inf (TFLite: abs(NaN) <= c is True)
        bad_value = tf.reduce_any(tf.logical_and(inside, tf.logical_not(finite)))
        x = tf.where(tf.logical_and(inside, finite), x, 0.0)
        count = tf.maximum(tf.cast(length, tf.float32), 1.0)
        mean = tf.reduce_sum(x) / count
        var = tf.reduce_sum(tf.where(inside, tf.square(x - mean), 0.0)) / count
        flat = var < sc.flat_std_mv ** 2
        hi = tf.reduce_max(tf.where(inside, x, -3.0e38))
        lo = tf.reduce_min(tf.where(inside, x, 3.0e38))
        tol = 1e-6 * (hi - lo)
        extremes = tf.reduce_sum(tf.cast(tf.logical_and(inside, tf.logical_or(x >= hi - tol, x <= lo + tol)), tf.float32))
        clipped = extremes / count > sc.clip_fraction
        status = tf.where(bad_value, 2, tf.where(flat, 3, tf.where(clipped, 4, 0)))
        return tf.cast(status, tf.int32), x

    def detect(self, cleaned, count):
        """Pan-Tompkins-style detector on the cleaned window: (peak positions int32 (K,), valid (K,))."""
        import tensorflow as tf

        fs, sc, edge = self.fs, self.sc, self.edge
        n = self.n
        inside = _arange(cleaned) < count
        band = _conv(cleaned, self.band_kernel)
        deriv = _conv(band, np.array([1.0, 2.0, 0.0, -2.0, -1.0], np.float32) * (fs / 8.0))
        squared = tf.where(inside, tf.square(deriv), 0.0)
        integrated = _running(squared, int(round(edge.integration_s * fs)), "mean")
        refractory = int(round(sc.min_rr_s * fs))
        local_max = _running(integrated, 2 * refractory + 1, "max")
        previous = tf.concat([integrated[:1] + 1.0, integrated[:-1]], axis=0)
        candidate = tf.logical_and(tf.logical_and(integrated >= local_max, integrated > previous), inside)
        candidate = tf.logical_and(candidate, integrated > 0.0)
        block = max(1, int(round(0.2 * fs)))
        signal_level = _block_running_max(integrated, block, max(1, int(round(edge.envelope_s * fs / block))))
        noise_level = _running(integrated, int(round(edge.noise_s * fs)) * 2 + 1, "mean")
        threshold = noise_level + edge.threshold_fraction * (signal_level - noise_level)
        heights = tf.where(candidate, integrated, 0.0)
        n_candidates = tf.reduce_sum(tf.cast(candidate, tf.int32))
        # the window's reference peak height: a high quantile of the candidates' heights
        descending = tf.math.top_k(heights, k=n, sorted=True).values
        reference = _desc_quantile(descending, n_candidates, edge.global_quantile)
        floor = edge.global_fraction * reference
        if edge.detector == "levels":
            # Pan-Tompkins' running peak levels, in parallel: SPKI = mean height of the QRS-like
            # candidates (above the floor) within +-level_s, NPKI = mean height of the other
            # candidates there; threshold = NPKI + fraction * (SPKI - NPKI).
            width = int(round(edge.level_s * fs)) * 2 + 1
            qrs = tf.cast(tf.logical_and(candidate, integrated > floor), tf.float32)
            other = tf.cast(candidate, tf.float32) - qrs
            n_qrs = _running(qrs, width, "mean")
            n_other = _running(other, width, "mean")
            spki = tf.where(n_qrs > 0, _running(heights * qrs, width, "mean") / tf.maximum(n_qrs, 1e-12), reference)
            npki = tf.where(n_other > 0, _running(heights * other, width, "mean") / tf.maximum(n_other, 1e-12), 0.0)
            threshold = npki + edge.threshold_fraction * (spki - npki)
        threshold = tf.maximum(threshold, floor)
        beat = tf.logical_and(candidate, integrated > threshold)
        return beat, integrated

    def detect_neurokit(self, raw, count, fs=None, kernel=None):
        """The Python path's detector (``neurokit2`` ``ecg_findpeaks(method="neurokit")`` on the
        ``rpeak_clean_method`` copy) in tensor form, step by step as neurokit2 does it: |gradient|
        smoothed with a boxcar of ``smooth_s`` (``signal_smooth``: even widths centred half a sample
        early, the edges extended with the edge values); QRS regions where it exceeds ``grad_weight``
        times its boxcar mean over ``avg_s``; regions shorter than ``min_len_weight`` of the mean length
        dropped; in each region the most prominent local maximum (``scipy.signal.find_peaks`` on
        ``signal[beg:end]``, ``beg`` the sample before the region, ``end`` its last sample, prominences
        searched within ``prominence_s``); a peak within ``min_delay_s`` of the previous one dropped (the
        refractory period, ``refine``). ``raw`` at ``fs`` (default target_fs), filtered with ``kernel``
        (default ``detect_kernel``)."""
        import tensorflow as tf

        fs, edge = float(fs or self.fs), self.edge
        n = int(raw.shape[0])
        kernel = self.detect_kernel if kernel is None else kernel
        j = _arange(raw)
        inside = j < count
        det = tf.where(inside, _conv(raw, kernel), 0.0)
        grad = tf.abs(_conv(det, np.array([0.5, 0.0, -0.5], np.float32)))    # np.gradient (interior)
        smooth = _boxcar(grad, int(np.rint(edge.smooth_s * fs)), count)
        threshold = edge.grad_weight * _boxcar(smooth, int(np.rint(edge.avg_s * fs)), count)
        qrs = tf.logical_and(smooth > threshold, inside)
        qrs_i = tf.cast(qrs, tf.int32)
        # sample indices from a run-time tensor: the converter would fold _arange, and the (n, w) index
        # tables below built from it, into constants (megabytes in the file)
        j = tf.cumsum(qrs_i * 0 + 1) - 1
        previous = tf.concat([[1], qrs_i[:-1]], 0)            # a region running from sample 0 has no start
        rising = tf.cast(tf.logical_and(qrs, tf.equal(previous, 0)), tf.int32)
        region = tf.cumsum(rising) * qrs_i                    # 1, 2, ... inside regions with a start; 0 elsewhere
        nxt = tf.concat([qrs_i[1:], [1]], 0)
        # a region that runs to the last sample has no end (neurokit2 pairs starts with ends)
        falling = tf.logical_and(tf.logical_and(qrs, tf.equal(nxt, 0)), j + 1 < count)
        n_seg = n // 2 + 2
        complete = tf.math.unsorted_segment_max(tf.cast(falling, tf.int32), region, n_seg) > 0
        complete = tf.logical_and(complete, tf.range(n_seg) > 0)
        length = tf.math.unsorted_segment_sum(qrs_i, region, n_seg)
        completef = tf.cast(complete, tf.float32)
        mean_length = tf.reduce_sum(tf.cast(length, tf.float32) * completef) / tf.maximum(tf.reduce_sum(completef), 1.0)
        keep_region = tf.logical_and(complete, tf.cast(length, tf.float32) >= edge.min_len_weight * mean_length)
        # find_peaks on signal[beg:end]: beg = the sample before the region, end = its last sample
        # (excluded), so a peak lies from the region's first sample to its third-last one
        first = tf.math.unsorted_segment_min(tf.where(qrs, j, n), region, n_seg)
        last = tf.math.unsorted_segment_max(tf.where(qrs, j, -1), region, n_seg)
        beg, end = tf.gather(first, region) - 1, tf.gather(last, region)   # data window [beg, end)
        left = tf.concat([det[:1], det[:-1]], 0)
        right = tf.concat([det[1:], det[-1:]], 0)
        local = tf.logical_and(tf.logical_and(det > left, det >= right),
                               tf.logical_and(qrs, tf.logical_and(j > beg, j < end - 1)))
        local = tf.logical_and(local, tf.gather(keep_region, region))
        negative = self.sc.rpeak_mindelay_keep == "prominent_negative_last"
        if negative:
            # the negative-QRS fallback (rpeaks._findpeaks_neurokit): a kept region with no local maximum (a negative
            # QRS, MIT-BIH 203's PVCs) gives its most prominent local minimum, find_peaks on -signal[beg:end]
            has_max = tf.math.unsorted_segment_max(tf.cast(local, tf.int32), region, n_seg) > 0
            minimum = tf.logical_and(tf.logical_and(det < left, det <= right),
                                     tf.logical_and(qrs, tf.logical_and(j > beg, j < end - 1)))
            minimum = tf.logical_and(minimum, tf.logical_and(tf.gather(keep_region, region),
                                                             tf.logical_not(tf.gather(has_max, region))))
            local = tf.logical_or(local, minimum)
        # prominence (scipy.signal.peak_prominences within the data window): from each peak outwards
        # until a higher sample or the window's edge, the lowest sample; the higher of the two sides
        # is the base. Searched over at most prominence_s each side, for the first n // 8 local maxima
        # (a QRS region holds one to three; 375 in 30 s at 100 Hz).
        n_cand = max(1, n // 8)
        order = tf.math.top_k(tf.where(local, -tf.cast(j, tf.float32), -3.0e38), k=n_cand, sorted=True)
        cand, cand_ok = order.indices, order.values > -1.0e38
        c_det, c_beg, c_end = tf.gather(det, cand), tf.gather(beg, cand), tf.gather(end, cand)
        if negative:
            # a minimum's prominence is the one of -signal (its sign per candidate; only with the fallback, so the
            # default graph is the same ops as before)
            c_minimum = tf.gather(minimum, cand)
            c_sign = tf.where(c_minimum, -1.0, 1.0)
            c_det = c_det * c_sign
        w = max(1, int(round(edge.prominence_s * fs)))

        def base(sign):
            offsets = sign * tf.range(1, w + 1)
            index = cand[:, None] + offsets[None, :]
            values = tf.gather(det, tf.clip_by_value(index, 0, n - 1))
            if negative:
                values = values * tf.reshape(c_sign, (n_cand, 1))   # not [:, None]: one STRIDED_SLICE less in the file
            in_data = tf.logical_and(index >= c_beg[:, None], index < c_end[:, None])
            blocked = tf.logical_or(values > c_det[:, None], tf.logical_not(in_data))
            passed = tf.equal(tf.cumsum(tf.cast(blocked, tf.int32), axis=1), 0)
            return tf.minimum(c_det, tf.reduce_min(tf.where(passed, values, 3.0e38), axis=1))

        prominence = tf.where(cand_ok, c_det - tf.maximum(base(-1), base(1)), -1.0)
        c_region = tf.where(cand_ok, tf.gather(region, cand), 0)
        best = tf.math.unsorted_segment_max(prominence, c_region, n_seg)
        top = tf.logical_and(cand_ok, prominence >= tf.gather(best, c_region))
        # ties: the first (np.argmax); candidates are in time order
        first_top = tf.math.unsorted_segment_min(tf.where(top, cand, n), c_region, n_seg)
        chosen = tf.logical_and(top, tf.equal(cand, tf.gather(first_top, c_region)))
        peak = tf.scatter_nd(cand[:, None], tf.cast(chosen, tf.int32), [n]) > 0
        self.detect_signal = det      # for the search back (EndToEnd.search_back)
        # each peak's prominence, for the refractory rule rpeak_mindelay_keep="prominent" (refine)
        self.peak_prominence = tf.scatter_nd(cand[:, None], tf.where(chosen, prominence, 0.0), [n])
        if negative:
            # which peaks are a region's minimum (refractory_contest); their score (refine's top-k) is their depth
            self.peak_minimum = tf.scatter_nd(cand[:, None], tf.cast(tf.logical_and(chosen, c_minimum), tf.int32),
                                              [n]) > 0
            return peak, tf.where(peak, tf.where(self.peak_minimum, tf.reduce_max(det) - det, det - tf.reduce_min(det))
                                  + 1.0, 0.0)
        return peak, tf.where(peak, det - tf.reduce_min(det) + 1.0, 0.0)

    def refine(self, cleaned, beat, score):
        """Top-k beats, moved to the R apex; (positions int32 (K,) sorted, valid (K,) bool)."""
        import tensorflow as tf

        fs, sc = self.fs, self.sc
        n, k = self.n, self.max_beats
        # the K strongest beats
        top = tf.math.top_k(tf.where(beat, score, -1.0), k=k, sorted=True)
        pos = top.indices
        ok = top.values > 0.0
        radius = int(round(sc.rpeak_refine_s * fs))
        if radius >= 1:
            smooth = _running(cleaned, 2 * radius, "mean") if (2 * radius) % 2 else _moving_average_even(cleaned, 2 * radius)
            detrended = cleaned - smooth
            offsets = tf.range(-radius, radius, dtype=tf.int32)          # wfdb: [p - r, p + r)
            index = pos[:, None] + offsets[None, :]
            in_range = tf.logical_and(index >= 0, index < n)
            window = tf.gather(detrended, tf.clip_by_value(index, 0, n - 1))
            up_window = tf.where(in_range, window, -3.0e38)
            down_window = tf.where(in_range, -window, -3.0e38)
            up = tf.argmax(up_window, axis=1, output_type=tf.int32)
            down = tf.argmax(down_window, axis=1, output_type=tf.int32)
            up_pos = pos - radius + up
            down_pos = pos - radius + down
            okf = tf.cast(ok, tf.float32)
            n_ok = tf.maximum(tf.reduce_sum(okf), 1.0)
            up_dist = tf.reduce_sum(okf * tf.abs(tf.gather(detrended, tf.clip_by_value(up_pos, 0, n - 1)))) / n_ok
            down_dist = tf.reduce_sum(okf * tf.abs(tf.gather(detrended, tf.clip_by_value(down_pos, 0, n - 1)))) / n_ok
            pos = tf.clip_by_value(tf.where(up_dist >= down_dist, up_pos, down_pos), 0, n - 1)
            amplitude = tf.abs(tf.gather(detrended, pos))
        else:
            amplitude = tf.gather(score, pos)
        # time order, padding last
        order = _time_order(tf.cast(pos, tf.float32), ok, k)
        pos, ok, amplitude = tf.gather(pos, order), tf.gather(ok, order), tf.gather(amplitude, order)
        if self.edge.detector == "neurokit":
            # the refractory period of the neurokit detector, on the detected (unrefined) times
            raw_pos = tf.gather(top.indices, order)
            delay = int(round(self.edge.min_delay_s * fs))
            # the first peak is measured against sample 0 (neurokit2's dummy peak, which wins: a beat in the first
            # delay is lost) or, with rpeak_keep_first_beat (run s40), against no peak
            start = -(delay + 1) if self.sc.rpeak_keep_first_beat else 0
            before = tf.concat([[start], raw_pos[:-1]], 0)
            if self.sc.rpeak_mindelay_keep == "prominent":
                # of two peaks within the delay the more prominent (rpeaks._findpeaks_neurokit; one pass over
                # neighbours, as for min_rr_s below)
                prom = tf.gather(self.peak_prominence, raw_pos)
                prv_prom = tf.concat([[3.0e38], prom[:-1]], 0)
                nxt_prom = tf.concat([prom[1:], [0.0]], 0)
                nxt_raw = tf.concat([raw_pos[1:], [n + 10 * delay]], 0)
                nxt_ok = tf.concat([ok[1:], [False]], 0)
                lose_prev = tf.logical_and(raw_pos - before <= delay, prom <= prv_prom)
                lose_next = tf.logical_and(tf.logical_and(nxt_ok, nxt_raw - raw_pos <= delay), prom < nxt_prom)
                ok = tf.logical_and(ok, tf.logical_not(tf.logical_or(lose_prev, lose_next)))
            elif self.sc.rpeak_mindelay_keep == "prominent_negative_last":
                # the sequential contest of rpeaks._findpeaks_neurokit, on the detected times in their own order (the
                # apex move can swap two close peaks)
                by_time = _time_order(tf.cast(raw_pos, tf.float32), ok, k)
                kept = self.refractory_contest(tf.gather(raw_pos, by_time), tf.gather(ok, by_time),
                                               tf.gather(self.peak_prominence, tf.gather(raw_pos, by_time)),
                                               tf.gather(self.peak_minimum, tf.gather(raw_pos, by_time)))
                ok = tf.logical_and(ok, tf.scatter_nd(tf.reshape(by_time, (k, 1)), tf.cast(kept, tf.int32), [k]) > 0)
            else:
                ok = tf.logical_and(ok, raw_pos - before > delay)
        # peaks moved closer than min_rr_s: keep the larger (one pass over neighbours)
        min_distance = int(round(sc.min_rr_s * fs))
        nxt_pos = tf.concat([pos[1:], [n + 10 * min_distance]], 0)
        nxt_ok = tf.concat([ok[1:], [False]], 0)
        nxt_amp = tf.concat([amplitude[1:], [0.0]], 0)
        prv_pos = tf.concat([[-10 * min_distance], pos[:-1]], 0)
        prv_ok = tf.concat([[False], ok[:-1]], 0)
        prv_amp = tf.concat([[0.0], amplitude[:-1]], 0)
        lose_next = tf.logical_and(tf.logical_and(nxt_ok, nxt_pos - pos < min_distance), amplitude < nxt_amp)
        lose_prev = tf.logical_and(tf.logical_and(prv_ok, pos - prv_pos < min_distance), amplitude <= prv_amp)
        ok = tf.logical_and(ok, tf.logical_not(tf.logical_or(lose_next, lose_prev)))
        order = _time_order(tf.cast(pos, tf.float32), ok, k)
        return tf.gather(pos, order), tf.gather(ok, order)

    def refractory_contest(self, raw, ok, prominence, minimum):
        """``rpeaks._findpeaks_neurokit``'s refractory contest for ``rpeak_mindelay_keep="prominent_negative_last"``
        (with ``rpeak_minimum_gap_s``), exactly, on ``raw`` (detected peak times, int32 (K,), ascending, the ``ok``
        ones first) with their ``prominence`` and ``minimum`` flag (a region's minimum, the negative-QRS fallback):
        which peaks it keeps, bool (K,). A peak more than ``min_delay_s`` after the last kept one is kept; a minimum
        also when at least ``rpeak_minimum_gap_s`` after it (0: never inside ``min_delay_s``), and otherwise dropped
        (it never wins); a maximum inside replaces the last kept peak when more prominent than it, or when that
        one is a minimum, and more than ``min_delay_s`` after the peak before it. The first peak is measured against
        neurokit2's dummy peak at sample 0 (it never loses) or, with ``rpeak_keep_first_beat``, against none.

        A replacement changes what the next peak is measured against, so this is a loop over the peaks (a WHILE
        op, one copy of the step in the file; as many steps as valid peaks), not the one-pass comparison of
        neighbours of the ``"prominent"`` rule."""
        import tensorflow as tf

        fs, sc = self.fs, self.sc
        delay = int(round(self.edge.min_delay_s * fs))
        # 0 (off): a minimum inside the delay is always dropped (the same test as the delay's)
        gap = int(np.rint(float(sc.rpeak_minimum_gap_s) * fs)) if sc.rpeak_minimum_gap_s > 0 else delay + 1
        none = -(10 * self.n + 10 * delay)       # "no peak": every peak is more than the delay after it
        count = tf.reduce_sum(tf.cast(ok, tf.int32))
        slots = tf.cumsum(raw * 0 + 1) - 1      # from the input, so the converter cannot fold a constant

        # minimum flags and kept slots as bool (no casts in the loop's body): slot i is first written at step i (it
        # was not kept before) and may be unkept later, when a peak replaces it
        def step(i, last, last_prominence, last_minimum, last_slot, before, kept):
            p, q, is_min = tf.gather(raw, i), tf.gather(prominence, i), tf.gather(minimum, i)
            append = tf.logical_or(p - last > delay, tf.logical_and(is_min, p - last >= gap))
            replace = tf.logical_and(tf.logical_and(tf.logical_not(append), tf.logical_not(is_min)),
                                     tf.logical_and(tf.logical_or(q > last_prominence, last_minimum),
                                                    p - before > delay))
            take = tf.logical_or(append, replace)
            kept = tf.where(tf.equal(slots, i), take, kept)
            kept = tf.where(tf.logical_and(tf.equal(slots, last_slot), replace), False, kept)
            before = tf.where(append, last, before)
            return (i + 1, tf.where(take, p, last), tf.where(take, q, last_prominence), tf.where(take, is_min, last_minimum),
                    tf.where(take, i, last_slot), before, kept)

        # neurokit2's dummy peak at sample 0: never replaced (infinitely prominent, not a minimum), slot -1
        start = tf.constant(none if sc.rpeak_keep_first_beat else 0, tf.int32)
        state = (tf.constant(0), start, tf.constant(3.0e38), tf.constant(False), tf.constant(-1), tf.constant(none),
                 tf.zeros_like(ok))
        kept = tf.while_loop(lambda i, *_: i < count, step, state)[-1]
        return tf.logical_and(ok, kept)

    def guard(self, cleaned, pos, ok):
        """``rpeak_guard.guard_keep`` in tensor form (the physiological check with its shape rescue and, with
        ``SignalConfig.rpeak_rescue_deep``, the deep rescue; two passes, constants ``rpeak_guard.constants_for``) on the time-ordered ``pos`` / ``ok``; returns them re-packed
        (kept peaks first, in time order). The search back of ``rpeak_guard.guard_rpeaks`` is ``search_back``."""
        import tensorflow as tf

        fs, k = self.fs, self.max_beats
        const, guard = rpeak_guard.constants_for(self.sc), float(self.sc.rpeak_guard_amplitude)
        deep = float(self.sc.rpeak_rescue_deep)
        half = max(1, int(round(const.qrs_half_width_s * fs)))
        window = _clipped_windows(cleaned, pos, -half, half)
        amplitude = tf.reduce_max(window, axis=1) - tf.reduce_min(window, axis=1)
        slope = tf.reduce_max(tf.abs(window[:, 1:] - window[:, :-1]), axis=1) * fs
        sharpness = slope / tf.maximum(amplitude, 1e-12)
        wide = max(1, int(round(const.shape_half_width_s * fs)))
        around = _clipped_windows(cleaned, pos, -wide, wide)
        deviation = tf.abs(around - tf.reduce_mean(around, axis=1, keepdims=True))
        over = deviation > 0.5 * tf.reduce_max(deviation, axis=1, keepdims=True)
        width = tf.reduce_sum(tf.cast(over, tf.float32), axis=1) / fs
        posf = tf.cast(pos, tf.float32)

        def neighbour_percentile(values, mask, q):
            return _neighbour_percentile(posf, values, mask, posf, const.neighbours, q)

        keep = ok
        for _ in range(2):
            enough = tf.reduce_sum(tf.cast(keep, tf.int32)) >= 3
            reference = neighbour_percentile(amplitude, keep, const.percentile)
            large = tf.logical_and(ok, amplitude >= guard * reference)
            new = large
            if const.rescue_amplitude < guard:
                sharp_ref = neighbour_percentile(sharpness, large, 50.0)
                width_ref = neighbour_percentile(width, large, 50.0)
                qrs_like = tf.logical_and(
                    tf.logical_and(ok, amplitude >= const.rescue_amplitude * reference),
                    tf.logical_and(sharpness >= const.rescue_sharpness * sharp_ref, width <= const.rescue_width * width_ref))
                if 0 < deep < const.rescue_amplitude:
                    # the deep rescue (SignalConfig.rpeak_rescue_deep, rpeak_guard.guard_keep's deep): down to deep x
                    # the reference for a peak sharper and narrower than the QRS complexes around it
                    qrs_like = tf.logical_or(qrs_like, tf.logical_and(
                        tf.logical_and(ok, amplitude >= deep * reference),
                        tf.logical_and(sharpness >= const.deep_sharpness * sharp_ref, width <= const.deep_width * width_ref)))
                qrs_like = tf.logical_and(qrs_like, tf.reduce_sum(tf.cast(large, tf.int32)) >= 3)
                new = tf.logical_or(large, qrs_like)
            keep = tf.where(tf.logical_and(enough, tf.reduce_any(new)), new, keep)
        order = _time_order(posf, keep, k)
        return tf.gather(pos, order), tf.gather(keep, order)

    def p_wave_check(self, cleaned, pos, ok):
        """``rpeak_guard.p_wave_like`` in tensor form (``SignalConfig.rpeak_guard_p_wave`` = distance, constants
        ``rpeak_guard.constants_for``: ``p_wave_*``, ``percentile``, ``neighbours``, ``qrs_half_width_s``): where the
        window's P waves are large and consistent (the template: the median P window of the confident peaks, QRS
        amplitude at least ``p_wave_confident`` x the 75th percentile, at most ``p_wave_template_beats`` of them spread
        over the window, at the lag of the largest deviation within ``p_wave_lag_s`` before them), a peak within
        distance x the template's norm of it (best of the shifts up to ``p_wave_shift_s``) and with no P wave of its
        own one lag before it (best correlation under ``p_wave_own``) is dropped: a non-conducted P wave. ``pos`` /
        ``ok`` packed (kept peaks first, in time order, as ``guard`` returns them); returns them re-packed. The step of
        ``rpeak_guard.guard_rpeaks`` after the amplitude check, before the search back; its gap exception
        (``rpeak_guard_p_wave_gap``) runs in the Python path only. The Python step measures every peak only when its
        samples common to all shifts could lie that close (a bound that never changes the answer); the graph measures
        all of them (fixed shapes)."""
        import tensorflow as tf

        fs, k = self.fs, self.max_beats
        const = rpeak_guard.constants_for(self.sc)
        distance = float(self.sc.rpeak_guard_p_wave)
        c = tf.reduce_sum(tf.cast(ok, tf.int32))
        j = tf.cumsum(pos * 0 + 1) - 1   # from the input, so the converter cannot fold the index tables
        posf = tf.cast(pos, tf.float32)

        qrs_half = max(1, int(round(const.qrs_half_width_s * fs)))
        qrs = _clipped_windows(cleaned, pos, -qrs_half, qrs_half)
        amplitude = tf.reduce_max(qrs, axis=1) - tf.reduce_min(qrs, axis=1)
        (reference,) = _sorted_quantiles(amplitude, c, [const.percentile / 100.0])
        confident = tf.logical_and(ok, amplitude >= const.p_wave_confident * reference)
        n_confident = tf.reduce_sum(tf.cast(confident, tf.int32))
        # the confident peaks first, in time order; at most p_wave_template_beats spread as np.linspace(0, c - 1, m)
        # picks them (in integers; all of them when max_beats <= p_wave_template_beats, linspace's step then 1)
        order = _time_order(posf, confident, k)
        rows = min(k, int(const.p_wave_template_beats))
        m = tf.minimum(n_confident, int(const.p_wave_template_beats))
        if rows < k:
            order = tf.gather(order, tf.clip_by_value((j[:rows] * (n_confident - 1)) // tf.maximum(m - 1, 1), 0, k - 1))
        chosen = tf.gather(pos, order)
        in_template = j[:rows] < m if rows < k else j < m
        lo, hi = (int(round(v * fs)) for v in const.p_wave_lag_s)
        before = _masked_median(_clipped_windows(cleaned, chosen, -hi, -lo), in_template, m)
        centre = _masked_median(tf.reshape(before, (-1, 1)), tf.ones_like(before) > 0.0, hi - lo + 1)
        lag = hi - tf.argmax(tf.abs(before - centre), output_type=tf.int32)   # R apex to P apex (samples)
        half = max(1, int(round(const.p_wave_half_width_s * fs)))
        shift = int(round(const.p_wave_shift_s * fs))
        waves = _clipped_windows(cleaned, chosen - lag, -half, half)
        waves = waves - tf.reduce_mean(waves, axis=1, keepdims=True)
        template = _masked_median(waves, in_template, m)
        norm = tf.sqrt(tf.reduce_sum(tf.square(template)))
        qrs_median = _masked_median(tf.reshape(tf.gather(amplitude, order), (-1, 1)), in_template, m)[0]
        # the same wave before every beat (sinus rhythm), not the previous beat's T wave or fibrillation
        correlation = (tf.reduce_sum(waves * template[None, :], axis=1)
                       / tf.maximum(tf.sqrt(tf.reduce_sum(tf.square(waves), axis=1)), 1e-12) / tf.maximum(norm, 1e-30))
        consistency = _masked_median(tf.reshape(correlation, (-1, 1)), in_template, m)[0]
        large = tf.logical_and(tf.logical_and(n_confident >= 2 * int(const.neighbours), c >= 3),
                               tf.logical_and(tf.logical_and(lag > lo, lag < hi), norm > 0.0))
        large = tf.logical_and(large, tf.logical_and(
            tf.reduce_max(template) - tf.reduce_min(template) >= const.p_wave_min_size * qrs_median,
            consistency >= const.p_wave_consistency))
        size = 2 * half + 1

        def shifted(at):                # (K, 2 shift + 1, size): the mean-removed windows at each shift
            w = _clipped_windows(cleaned, at, -half - shift, half + shift)
            w = tf.stack([w[:, s:s + size] for s in range(2 * shift + 1)], axis=1)
            return w - tf.reduce_mean(w, axis=2, keepdims=True)

        match = tf.reduce_min(tf.sqrt(tf.reduce_sum(tf.square(shifted(pos) - template), axis=2)), axis=1)
        own = shifted(pos - lag)
        own = tf.reduce_max(tf.reduce_sum(own * template, axis=2)
                            / tf.maximum(tf.sqrt(tf.reduce_sum(tf.square(own), axis=2)), 1e-12)
                            / tf.maximum(norm, 1e-30), axis=1)
        flagged = tf.logical_and(tf.logical_and(match < distance * norm, own < const.p_wave_own), large)
        keep = tf.logical_and(ok, tf.logical_not(flagged))
        order = _time_order(posf, keep, k)
        return tf.gather(pos, order), tf.gather(keep, order)

    def noise_check(self, cleaned, pos, ok):
        """``rpeak_guard.small_noisy`` in tensor form (``SignalConfig.rpeak_guard_noise`` = ratio, constants
        ``rpeak_guard.constants_for``: ``noise_*``, with ``noise_correlation`` > 0 also ``cluster_neighbours``,
        ``cluster_window_s``, ``cluster_min``): a peak under ``noise_amplitude`` x the 75th percentile of the QRS
        amplitudes of the ``neighbours`` each side, with more slope-sign changes of ``cleaned`` within
        +-``noise_window_s`` than ratio x their median at (at most ``noise_typical_beats`` of) the peaks spread over
        the window, is dropped, unless (``noise_correlation`` > 0) at least ``cluster_min`` of the
        ``cluster_neighbours`` peaks each side have QRS windows correlating that much with its own. ``pos`` / ``ok`` in
        any order; returns them re-packed (kept peaks first, in time order), as ``guard``. The graph runs it where the
        Python path's ``guard_rpeaks`` does with the options the graph accepts: after the search back."""
        return self.late_checks(cleaned, pos, ok, noise=True, post_wide=False, packed=False)

    def post_wide_check(self, cleaned, pos, ok):
        """``rpeak_guard.after_wide_beat`` in tensor form (``SignalConfig.rpeak_guard_post_wide`` = ratio, constants
        ``rpeak_guard.constants_for``: ``post_wide_*``, ``neighbours``, ``qrs_half_width_s``, ``shape_half_width_s``):
        a kept peak under ``post_wide_lag_s`` after the kept peak before it is dropped when that peak is at least
        ``post_wide_width`` x as wide as the median of the ``neighbours`` each side of the later one and the later
        peak is under ratio x its QRS amplitude and ``post_wide_sharpness`` x its sharpness (``qrs_shapes``). ``pos`` /
        ``ok`` in any order; returns them re-packed (kept peaks first, in time order). The last step of
        ``rpeak_guard.guard_rpeaks``: after ``noise_check``."""
        return self.late_checks(cleaned, pos, ok, noise=False, post_wide=True, packed=False)

    def late_checks(self, cleaned, pos, ok, noise: bool, post_wide: bool, packed: bool = True):
        """``noise_check`` then ``post_wide_check`` (each when asked) sharing their work: one pack (none when
        ``packed``: ``pos`` / ``ok`` already kept-first in time order, as ``refine``, ``guard`` and ``search_back``
        return them), one gather of ``cleaned`` around the peaks that every window of both steps is a slice of, one
        index vector and one table of neighbour rows for both steps' order statistics, each peak's QRS amplitude,
        sharpness and width measured once (the post-wide check gathers them after the noise check's pack instead of
        the samples). Returns ``pos`` / ``ok`` re-packed (kept peaks first, in time order). The valid peaks must lie at
        distinct positions (the detector's always do): the neighbour rows are counted in the packed order, so two
        peaks at one sample would shift a neighbour window against the Python path's."""
        import tensorflow as tf

        fs, k = self.fs, self.max_beats
        const = rpeak_guard.constants_for(self.sc)
        if not packed:
            order = _time_order(tf.cast(pos, tf.float32), ok, k)
            pos, ok = tf.gather(pos, order), tf.gather(ok, order)   # valid first, in time order: index i is peak i
        halves = {"qrs": max(1, int(round(const.qrs_half_width_s * fs)))}
        if noise:
            halves["noise"] = max(1, int(round(const.noise_window_s * fs)))
            if const.noise_correlation > 0:
                halves["cluster"] = max(1, int(round(const.cluster_window_s * fs)))
        if post_wide:
            halves["shape"] = max(1, int(round(const.shape_half_width_s * fs)))
        # one gather of cleaned over the widest window (+1 sample for the noise check's slopes); each step's window
        # is a slice of it (the indices are clipped at the ends one by one, so a slice equals its own gather)
        widest = max(halves.values())
        samples = _clipped_windows(cleaned, pos, -widest, widest + 1)
        # the sample-to-sample steps once for both steps' slopes (a slice of the steps is the steps of the slice)
        steps = samples[:, 1:] - samples[:, :-1]

        def columns(x, lo, hi):         # x[:, lo:hi], no op when that is all of x
            return x if (lo, hi) == (0, int(x.shape[1])) else x[:, lo:hi]

        def around(name, extra=0):      # (K, 2 half + 1 + extra) samples of cleaned, clipped at the ends
            half = halves[name]
            return columns(samples, widest - half, widest + half + 1 + extra)

        def slopes(name, extra=0):      # the 2 half + extra steps of around(name, extra)
            half = halves[name]
            return columns(steps, widest - half, widest + half + extra)

        i = tf.cumsum(pos * 0 + 1) - 1   # from the input, so the converter cannot fold the index tables
        # both steps' neighbours (rpeak_guard._neighbour_percentile): rows i - m .. i + m - 1 of the packed peaks. The
        # kept positions strictly increase (refine keeps one of peaks closer than min_rr_s, the search back adds a
        # peak at least that far from both ends of its gap), so peak i has i kept peaks before it: np.searchsorted's
        # start without a (K, K) comparison
        m = int(const.neighbours)
        rows = tf.reshape(i, (k, 1)) + tf.range(-m, m)[None, :]
        rows = (rows, rows >= 0, tf.clip_by_value(rows, 0, k - 1))
        window = around("qrs")
        amplitude = tf.reduce_max(window, axis=1) - tf.reduce_min(window, axis=1)
        posf = tf.cast(pos, tf.float32)
        if noise:
            keep = self._noise_keep(ok, i, amplitude, rows, around, slopes, const)
            order = _time_order(posf, keep, k)
            pos, ok = tf.gather(pos, order), tf.gather(keep, order)
        if post_wide:
            # what the post-wide check reads of each peak, measured before the noise check's pack (a row's values do
            # not depend on the other rows) and gathered after it with the positions: one GATHER of (K, 4)
            sharpness = tf.reduce_max(tf.abs(slopes("qrs")), axis=1) * fs / tf.maximum(amplitude, 1e-12)
            shape = around("shape")
            deviation = tf.abs(shape - tf.reduce_mean(shape, axis=1, keepdims=True))
            over = deviation > 0.5 * tf.reduce_max(deviation, axis=1, keepdims=True)
            width = tf.reduce_sum(tf.cast(over, tf.float32), axis=1)     # in samples (exact in float32)
            stacked = tf.stack([posf, width, amplitude, sharpness], axis=1)
            values = (posf, width, amplitude, sharpness)
            if noise:
                stacked = tf.gather(stacked, order)
                values = tf.unstack(stacked, axis=1)
            # the peak before each (row i - 1; a row of zeros before the first, whose amplitude test fails)
            before = tf.unstack(tf.pad(stacked[:-1], [[1, 0], [0, 0]]), axis=1)
            keep = self._post_wide_keep(ok, values, before, rows, const)
            order = _time_order(values[0], keep, k)
            pos, ok = tf.gather(pos, order), tf.gather(keep, order)
        return pos, ok

    def _noise_keep(self, ok, i, amplitude, rows, around, slopes, const):
        """``noise_check``'s keep mask on packed peaks (``ok``, their row ``i``, QRS ``amplitude``; ``rows``: the
        neighbour rows of ``_packed_neighbour_order_statistics``; ``around(name, extra)``: the samples of cleaned around
        each peak; ``slopes(name, extra)``: the steps between them; ``late_checks``)."""
        import tensorflow as tf

        fs, k = self.fs, self.max_beats
        ratio = float(self.sc.rpeak_guard_noise)
        c = tf.reduce_sum(tf.cast(ok, tf.int32))
        ascending, last = _packed_neighbour_order_statistics(amplitude, rows, c)
        # the 75th percentile, interpolated as _neighbour_percentile does (a kept peak is its own neighbour: no empty
        # window; the rows after the kept ones are dropped by ok at the end)
        position = tf.cast(last, tf.float32) * (const.percentile / 100.0)
        low = tf.floor(position)
        low_i = tf.cast(low, tf.int32)
        a = tf.gather(ascending, low_i, batch_dims=1)
        b = tf.gather(ascending, tf.minimum(low_i + 1, last), batch_dims=1)
        reference = a + (position - low) * (b - a)
        flagged = amplitude < const.noise_amplitude * reference
        # slope-sign changes within (p - half, p + half] (rpeak_guard.sign_changes; a zero slope is no sign)
        half = max(1, int(round(const.noise_window_s * fs)))
        d = tf.sign(slopes("noise", extra=1))
        changes = tf.reduce_sum(tf.cast(d[:, 1:] * d[:, :-1] < 0.0, tf.int32), axis=1)
        # the typical count: the median at m = min(c, noise_typical_beats) peaks spread as np.linspace(0, c - 1, m)
        # picks them (all c when c <= noise_typical_beats: then linspace's step is exactly 1)
        spread = min(k, int(const.noise_typical_beats))
        m = tf.minimum(c, int(const.noise_typical_beats))
        j = i if spread == k else i[:spread]
        picked = tf.gather(changes, tf.clip_by_value((j * (c - 1)) // tf.maximum(m - 1, 1), 0, k - 1))
        ascending = -tf.math.top_k(-tf.where(j < m, picked, 2 ** 30), k=spread, sorted=True).values
        lo, hi = tf.maximum(m - 1, 0) // 2, m // 2
        twice_median = tf.gather(ascending, lo) + tf.gather(ascending, tf.clip_by_value(hi, 0, spread - 1))
        # count > ratio x max(median, 1) as numpy decides it in float64: the median is a multiple of 0.5 up to 2 half,
        # so the smallest count over each possible threshold is a table made here
        table = np.array([math.floor(ratio * max(v / 2.0, 1.0)) + 1 for v in range(8 * half + 1)], np.int32)
        least = _table_lookup(table, tf.clip_by_value(twice_median, 0, 8 * half))
        flagged = tf.logical_and(flagged, changes >= least)
        if const.noise_correlation > 0:
            nn = int(const.cluster_neighbours)
            index = tf.reshape(i, (k, 1)) + tf.constant(np.concatenate([np.arange(-nn, 0), np.arange(1, nn + 1)]),
                                                        tf.int32)[None, :]
            valid = tf.logical_and(index >= 0, index < c)
            qrs = around("cluster")
            qrs = qrs - tf.reduce_mean(qrs, axis=1, keepdims=True)
            qrs = qrs / tf.maximum(tf.sqrt(tf.reduce_sum(tf.square(qrs), axis=1, keepdims=True)), 1e-12)
            correlation = tf.reduce_sum(tf.reshape(qrs, (k, 1, -1)) * tf.gather(qrs, tf.clip_by_value(index, 0, k - 1)),
                                        axis=2)
            similar = tf.logical_and(valid, correlation >= const.noise_correlation)
            flagged = tf.logical_and(flagged, tf.reduce_sum(tf.cast(similar, tf.int32), axis=1) < int(const.cluster_min))
        return tf.logical_and(ok, tf.logical_not(tf.logical_and(flagged, c >= 3)))

    def _post_wide_keep(self, ok, values, before, rows, const):
        """``post_wide_check``'s keep mask on packed peaks (``ok``; ``values``: each peak's position, width in samples,
        QRS amplitude and sharpness; ``before``: those of the peak before it; ``rows``: as ``_noise_keep``;
        ``late_checks``)."""
        import tensorflow as tf

        fs = self.fs
        ratio = float(self.sc.rpeak_guard_post_wide)
        c = tf.reduce_sum(tf.cast(ok, tf.int32))
        posf, width, amplitude, sharpness = values
        pos_b, width_b, amplitude_b, sharpness_b = before
        # the neighbours' median width as two order statistics of sample counts: width >= post_wide_width x median
        # decided as numpy does in float64 on count / fs (a table made here), since widths are multiples of 1 / fs
        # and ties are common; the median's ranks in integers: last // 2 and (last + 1) // 2 (the same one for an
        # odd count of neighbours)
        ascending, last = _packed_neighbour_order_statistics(width, rows, c)
        a = tf.gather(ascending, last // 2, batch_dims=1)
        b = tf.gather(ascending, (last + 1) // 2, batch_dims=1)
        wide = max(1, int(round(const.shape_half_width_s * fs)))
        top = 2 * wide + 1
        table = np.array([[next((w for w in range(top + 2)
                                 if w / fs >= const.post_wide_width * (ca / fs + 0.5 * (cb / fs - ca / fs))), top + 1)
                           for cb in range(top + 1)] for ca in range(top + 1)], np.int32).ravel()
        ia = tf.clip_by_value(tf.cast(a, tf.int32), 0, top)
        ib = tf.clip_by_value(tf.cast(b, tf.int32), 0, top)
        least = _table_lookup(table, ia * (top + 1) + ib, "float32")    # counts, exact in float32
        # the gap to the peak before, in samples (d < post_wide_lag_s x fs as in float64; positions < 2^24: exact in
        # float32)
        max_gap = math.ceil(const.post_wide_lag_s * float(fs)) - 1
        flagged = tf.logical_and(tf.logical_and(posf - pos_b <= float(max_gap), width_b >= least),
                                 tf.logical_and(amplitude < ratio * amplitude_b,
                                                sharpness < const.post_wide_sharpness * sharpness_b))
        return tf.logical_and(ok, tf.logical_not(tf.logical_and(flagged, c >= 3)))

    def search_back(self, cleaned, det, pos, ok, prepared=None):
        """One round of ``rpeak_guard._search_back``: in every RR gap longer than ``rpeak_searchback`` x the
        local median RR (9 intervals) and ``2 * min_rr_s``, the strongest point of the detector's feature
        (|gradient| of ``det`` summed over 0.1 s) at least ``min_rr_s`` from both ends, moved to the R apex
        (direction: the one of the peaks), is added when its QRS amplitude reaches
        ``rpeak_searchback_amplitude`` x the reference of the peaks around it. The Python path runs up to
        ``GUARD.searchback_rounds`` rounds (a gap with several missed beats); so does ``front``
        (``EdgeConfig.searchback_rounds``). ``prepared``: ``search_back_prepare(cleaned, det)``, computed
        once for all rounds."""
        import tensorflow as tf

        fs, n, k, sc = self.fs, self.n, self.max_beats, self.sc
        const = rpeak_guard.constants_for(sc)
        big = 3.0e38
        min_d = max(1, int(round(sc.min_rr_s * fs)))
        c = tf.reduce_sum(tf.cast(ok, tf.int32))
        i = tf.cumsum(pos * 0 + 1) - 1   # from the input, so the converter cannot fold a (K, 9) index table
        nxt = tf.concat([pos[1:], pos[-1:]], 0)
        rr = tf.cast(nxt - pos, tf.float32)
        # local median of the 9 intervals around each (rpeak_guard._row_nanpercentile at 50)
        idx = i[:, None] + tf.range(-4, 5)[None, :]
        inside = tf.logical_and(idx >= 0, idx < c - 1)
        ascending = -tf.math.top_k(-tf.where(inside, tf.gather(rr, tf.clip_by_value(idx, 0, k - 1)), big), k=9).values
        count = tf.reduce_sum(tf.cast(inside, tf.int32), axis=1)
        last = tf.maximum(count - 1, 0)
        position = tf.cast(last, tf.float32) * 0.5
        low = tf.floor(position)
        low_i = tf.cast(low, tf.int32)
        a = tf.gather(ascending, low_i, batch_dims=1)
        b = tf.gather(ascending, tf.minimum(low_i + 1, last), batch_dims=1)
        local = a + (position - low) * (b - a)
        gap = tf.logical_and(tf.logical_and(i < c - 1, rr > float(sc.rpeak_searchback) * local), rr > 2 * min_d)
        # the feature: |gradient| summed over 0.1 s (samples t-5 .. t+4 at 100 Hz, as rpeak_guard._search_back)
        feature, detrended = prepared if prepared is not None else self.search_back_prepare(cleaned, det)
        # each sample's gap: the number of peaks whose gap starts (pos + min_d) at or before it, minus one
        starts = tf.clip_by_value(pos + min_d, 0, n - 1)
        opens = tf.logical_and(ok, pos + min_d < n)
        indicator = tf.scatter_nd(starts[:, None], tf.cast(opens, tf.int32), [n])
        g = tf.cumsum(indicator) - 1
        gc = tf.clip_by_value(g, 0, k - 1)
        j = _arange(cleaned)
        in_gap = tf.logical_and(tf.logical_and(g >= 0, j < tf.gather(nxt, gc) - min_d), tf.gather(gap, gc))
        segment = tf.where(in_gap, gc, k)
        value = tf.where(in_gap, feature, -1.0)
        seg_max = tf.math.unsorted_segment_max(value, segment, k + 1)
        is_max = tf.logical_and(in_gap, value >= tf.gather(seg_max, segment))
        cand = tf.math.unsorted_segment_min(tf.where(is_max, j, n), segment, k + 1)[:k]
        has = tf.logical_and(gap, cand < n)
        cand = tf.clip_by_value(cand, 0, n - 1)
        # to the R apex, in the direction of the peaks (rpeak_guard.correct_apex)
        radius = int(round(sc.rpeak_refine_s * fs))
        if radius >= 1:
            okf = tf.cast(ok, tf.float32)
            at_peaks = tf.reduce_sum(okf * tf.gather(detrended, tf.clip_by_value(pos, 0, n - 1))) / tf.maximum(tf.reduce_sum(okf), 1.0)
            sign = tf.where(at_peaks >= 0.0, 1.0, -1.0)
            offsets = tf.range(-radius, radius + 1)
            index = cand[:, None] + offsets[None, :]
            around = tf.where(tf.logical_and(index >= 0, index < n),
                              sign * tf.gather(detrended, tf.clip_by_value(index, 0, n - 1)), -big)
            cand = tf.clip_by_value(cand - radius + tf.argmax(around, axis=1, output_type=tf.int32), 0, n - 1)
        fits = tf.logical_and(cand - pos >= min_d, nxt - cand >= min_d)
        half = max(1, int(round(const.qrs_half_width_s * fs)))

        def qrs_amplitude(p):
            w = _clipped_windows(cleaned, p, -half, half)
            return tf.reduce_max(w, axis=1) - tf.reduce_min(w, axis=1)

        posf = tf.cast(pos, tf.float32)
        reference = _neighbour_percentile(posf, qrs_amplitude(pos), ok, tf.cast(cand, tf.float32), const.neighbours,
                                          const.percentile)
        accept = tf.logical_and(tf.logical_and(has, fits),
                                qrs_amplitude(cand) >= float(sc.rpeak_searchback_amplitude) * reference)
        accept = tf.logical_and(accept, c >= 3)
        both = tf.concat([pos, cand], 0)
        both_ok = tf.concat([ok, accept], 0)
        order = _time_order(tf.cast(both, tf.float32), both_ok, k)
        return tf.gather(both, order), tf.gather(both_ok, order)

    def search_back_prepare(self, cleaned, det):
        """What every round of ``search_back`` uses: the detector's feature (|gradient| of ``det`` summed
        over 0.1 s, samples t-5 .. t+4 at 100 Hz, as ``rpeak_guard._search_back``) and ``cleaned`` minus its
        moving average over ``2 * rpeak_refine_s`` (the apex search of ``rpeak_guard.correct_apex``)."""
        import tensorflow as tf

        fs = self.fs
        smooth = max(1, int(round(0.1 * fs)))
        grad = tf.abs(_conv(det, np.array([0.5, 0.0, -0.5], np.float32)))
        # an odd kernel centred on its middle: ones(smooth) covers t - smooth // 2 .. t + (smooth - 1) // 2
        kernel = (np.concatenate([np.zeros(1), np.ones(smooth)]) if smooth % 2 == 0 else np.ones(smooth)).astype(np.float32)
        feature = _conv(grad, kernel)
        radius = int(round(self.sc.rpeak_refine_s * fs))
        detrended = None
        if radius >= 1:
            smoothed = (_running(cleaned, 2 * radius, "mean") if (2 * radius) % 2
                        else _moving_average_even(cleaned, 2 * radius))
            detrended = cleaned - smoothed
        return feature, detrended

    def rr(self, pos, ok):
        """signal.rr_features on the valid prefix of ``pos`` (seconds, (K, 3))."""
        import tensorflow as tf

        sc, k = self.sc, self.max_beats
        count = tf.reduce_sum(tf.cast(ok, tf.int32))
        t = tf.cast(pos, tf.float32) / self.fs
        intervals = tf.minimum(t[1:] - t[:-1], float(sc.max_rr_s))          # (K-1,), valid for i < count-1
        i = tf.range(k)
        n_int = tf.maximum(count - 1, 1)
        prev_idx = tf.clip_by_value(i - 1, 0, n_int - 1)
        next_idx = tf.clip_by_value(i, 0, n_int - 1)
        previous = tf.gather(intervals, prev_idx)
        following = tf.gather(intervals, next_idx)
        cumulative = tf.concat([[0.0], tf.cumsum(intervals)], 0)          # (K,)
        width = tf.minimum(tf.maximum(2, int(sc.rr_local_window)), tf.maximum(count, 2))
        first = tf.clip_by_value(i - (width - 1) // 2, 0, tf.maximum(count - width, 0))
        local = (tf.gather(cumulative, tf.minimum(first + width - 1, k - 1)) - tf.gather(cumulative, first)) \
            / tf.cast(width - 1, tf.float32)
        return tf.stack([previous, following, local], axis=1)

    # -- the whole function --------------------------------------------------------------------

    def peaks(self, ecg):
        """Only the detection part of the graph, for comparisons with ``rpeaks.find_rpeaks``:
        ``(positions int32 (K,) at the input rate, valid bool (K,))``, valid ones first in time order."""
        _, _, _, pos, ok, _ = self.front(ecg)
        return pos * self.factor, ok

    def front(self, ecg):
        """Steps 1-5: ``(status, x, count, pos, ok, cleaned)`` (``x``: at target_fs)."""
        import tensorflow as tf

        n_in, n = self.n_input, self.n
        ecg = tf.reshape(tf.cast(ecg, tf.float32), (-1,))
        length = tf.shape(ecg)[0]
        length_ok = tf.logical_and(length >= self.min_input, length <= n_in)
        # static paddings and slice bounds: every tensor after this one has a shape known when the
        # interpreter allocates (a runtime-computed padding would make them all dynamic, and slow)
        x = tf.reshape(tf.pad(ecg, [[0, n_in]])[:n_in], (n_in,))
        used = tf.minimum(length, n_in)
        status, x = self.checks(x, used)
        status = tf.where(length_ok, status, 1)
        if self.detect_at_input:
            beat_in, score_in = self.detect_neurokit(x, used, fs=self.input_rate, kernel=self.detect_kernel_input)
            f = self.factor
            # a peak at input sample p is the target sample round(p / f): shift by f // 2, fold in blocks of f
            shifted = lambda v: tf.reshape(tf.pad(v, [[f // 2, 0]])[:n_in], (n, f))
            beat = tf.reduce_any(shifted(beat_in), axis=1)
            score = tf.reduce_max(shifted(score_in), axis=1)
            det_input = self.detect_signal
            self.peak_prominence = tf.reduce_max(shifted(self.peak_prominence), axis=1)
            if self.sc.rpeak_mindelay_keep == "prominent_negative_last":
                self.peak_minimum = tf.reduce_any(shifted(self.peak_minimum), axis=1)
        if self.factor > 1:
            x = _conv(x, self.decimate_kernel, stride=self.factor)
            x = tf.reshape(x, (n,))
            count = used // self.factor
        else:
            count = used
        inside = _arange(x) < count
        cleaned = tf.where(inside, _conv(x, self.clean_kernel), 0.0)
        if self.detect_at_input:
            # the search back's feature at target_fs: the input-rate detection signal, every f-th sample
            self.detect_signal = tf.reshape(det_input, (n, self.factor))[:, 0]
        elif self.edge.detector == "neurokit":
            beat, score = self.detect_neurokit(x, count)
        else:
            beat, score = self.detect(cleaned, count)
        pos, ok = self.refine(cleaned, beat, score)
        if self.sc.rpeak_guard_amplitude > 0:
            pos, ok = self.guard(cleaned, pos, ok)
            if self.sc.rpeak_guard_p_wave > 0:
                # the P-wave check (rpeak_guard.guard_rpeaks runs it on the peaks the amplitude check kept)
                pos, ok = self.p_wave_check(cleaned, pos, ok)
        if self.sc.rpeak_searchback > 0 and self.edge.detector == "neurokit":
            rounds, det = int(self.edge.searchback_rounds), self.detect_signal
            prepared = self.search_back_prepare(cleaned, det)
            if rounds == 1:
                pos, ok = self.search_back(cleaned, det, pos, ok, prepared)
            elif rounds > 1:
                # one copy of the round in the file (a WHILE loop), not one per round
                _, pos, ok = tf.while_loop(lambda i, p, o: i < rounds,
                                           lambda i, p, o: (i + 1, *self.search_back(cleaned, det, p, o, prepared)),
                                           (tf.constant(0), pos, ok))
        if self.sc.rpeak_guard_noise > 0 or self.sc.rpeak_guard_post_wide > 0:
            # the noise check (the step of rpeak_guard.guard_rpeaks after the search back among those the graph runs)
            # and the post-wide-beat check (guard_rpeaks' last step), sharing their work; refine, guard and search_back
            # return the peaks packed
            pos, ok = self.late_checks(cleaned, pos, ok, noise=self.sc.rpeak_guard_noise > 0,
                                       post_wide=self.sc.rpeak_guard_post_wide > 0)
        return status, x, count, pos, ok, cleaned

    def __call__(self, ecg):
        import tensorflow as tf

        sc = self.sc
        k, L = self.max_beats, int(sc.beat_len)
        status, x, count, pos, ok, cleaned = self.front(ecg)
        inside = _arange(x) < count
        rr = self.rr(pos, ok)
        # robust normalisation over the window's samples (signal.normalize)
        if sc.normalize == "robust":
            q25, median, q75 = _sorted_quantiles(cleaned, count, [0.25, 0.5, 0.75])
            iqr = q75 - q25
            c = tf.maximum(tf.cast(count, tf.float32), 1.0)
            mean = tf.reduce_sum(cleaned) / c
            std = tf.sqrt(tf.reduce_sum(tf.where(inside, tf.square(cleaned - mean), 0.0)) / c)
            scale = tf.where(iqr > 0, iqr, tf.where(std > 0, std, 1.0))
            normalised = (cleaned - median) / scale
        else:
            normalised = cleaned
        # keep the beats whose window fits inside the signal; pack them first, in time order
        start = pos - int(sc.r_offset)
        fits = tf.logical_and(ok, tf.logical_and(start >= 0, start + L <= count))
        order = _time_order(tf.cast(pos, tf.float32), fits, k)
        pos, fits, rr, start = tf.gather(pos, order), tf.gather(fits, order), tf.gather(rr, order), tf.gather(start, order)
        n_beats = tf.reduce_sum(tf.cast(fits, tf.int32))
        status = tf.where(tf.logical_and(tf.equal(status, 0), n_beats < max(int(sc.min_beats), 2)), 5, status)
        valid = tf.equal(status, 0)
        mask = tf.logical_and(fits, valid)
        beats = tf.where(mask[:, None], _clipped_windows(normalised, start, 0, L - 1), 0.0)
        rr = tf.where(mask[:, None], rr, 0.0)[:, : self.n_rr]
        out = self.model({"beats": beats[None], "rr": rr[None], "padding_mask": mask[None]}, training=False)
        validf = tf.cast(valid, tf.float32)
        return {
            "probabilities": out["probabilities"][0] * validf,
            "attention_weights": out["attention_weights"][0] * tf.cast(mask, tf.float32),
            "rpeaks": tf.where(mask, pos * self.factor, -1),
            "rpeak_mask": mask,
            "n_beats": tf.where(valid, n_beats, 0),
            "valid": tf.cast(valid, tf.int32),
            "status": status,
        }


def _neighbour_percentile(posf, values, mask, queries, neighbours: int, q: float):
    """``rpeak_guard._neighbour_percentile`` in tensor form: for each query position, percentile ``q`` (linear)
    of ``values`` at the ``neighbours`` peaks of ``mask`` before it and the ``neighbours`` from it on
    (``posf``: peak positions, float; +3e38 where there are none)."""
    import tensorflow as tf

    a, b, position, low, count = _neighbour_order_statistics(posf, values, mask, queries, neighbours, q)
    return tf.where(count > 0, a + (position - low) * (b - a), tf.constant(3.0e38, tf.float32))


def _neighbour_order_statistics(posf, values, mask, queries, neighbours: int, q: float):
    """What ``_neighbour_percentile`` interpolates: for each query, the two order statistics ``a`` (rank
    ``floor(position)``) and ``b`` (the next, or ``a`` at the last) of the neighbours' ``values``, ``position``
    ((count - 1) x q / 100, float), its ``low`` floor (float) and the ``count`` of neighbours (int32)."""
    import tensorflow as tf

    k, m = int(posf.shape[0]), int(neighbours)
    # the mask's values first, in time order
    compact = tf.gather(values, _time_order(posf, mask, k))
    n_mask = tf.reduce_sum(tf.cast(mask, tf.int32))
    earlier = tf.logical_and(posf[None, :] < queries[:, None], mask[None, :])     # [query, peak]
    before = tf.reduce_sum(tf.cast(earlier, tf.int32), axis=1)
    index = before[:, None] + tf.range(-m, m)[None, :]
    inside = tf.logical_and(index >= 0, index < n_mask)
    big = tf.constant(3.0e38, tf.float32)
    window = tf.where(inside, tf.gather(compact, tf.clip_by_value(index, 0, k - 1)), big)
    ascending = -tf.math.top_k(-window, k=2 * m, sorted=True).values
    count = tf.reduce_sum(tf.cast(inside, tf.int32), axis=1)
    last = tf.maximum(count - 1, 0)
    position = tf.cast(last, tf.float32) * (q / 100.0)
    low = tf.floor(position)
    low_i = tf.cast(low, tf.int32)
    high_i = tf.minimum(low_i + 1, last)
    a = tf.gather(ascending, low_i, batch_dims=1)
    b = tf.gather(ascending, high_i, batch_dims=1)
    return a, b, position, low, count


def _masked_median(values, valid, count):
    """``np.median(values[valid], axis=0)`` of ``values`` (R, W) with ``count`` (int32, at least 1 where used)
    ``valid`` rows (R,): each column sorted with the other rows last, the mean of its two middle ones (W,). Not
    ``_sorted_quantiles(..., [0.5])`` for one column: its a + 0.5 (b - a) rounds differently in float32 from
    np.median's (a + b) / 2 here, and it takes the first ``count`` entries, not a row mask."""
    import tensorflow as tf

    r = int(values.shape[0])
    column_rows = tf.transpose(tf.where(tf.reshape(valid, (r, 1)), values, tf.constant(3.0e38, tf.float32)))
    ascending = -tf.math.top_k(-column_rows, k=r, sorted=True).values
    a = tf.gather(ascending, tf.maximum(count - 1, 0) // 2, axis=1)
    b = tf.gather(ascending, tf.clip_by_value(count // 2, 0, r - 1), axis=1)
    return 0.5 * (a + b)


def _packed_neighbour_order_statistics(values, rows, count):
    """The neighbours' ``values`` sorted (ascending, (K, 2m), +3e38 past the ``count`` kept peaks) and the rank of the
    last one (``count`` of them - 1, int32) of each of the packed peaks of ``EndToEnd.late_checks``: the kept peaks
    first, in time order, at strictly increasing positions, so that peak i's neighbours are rows i - m .. i + m - 1
    (``rows``: those rows (K, 2m), which are >= 0, and the rows clipped to 0 .. K - 1, made once for both steps);
    ``_neighbour_order_statistics`` without its pack and its (K, K) count of the peaks before each."""
    import tensorflow as tf

    index, lower, clipped = rows
    inside = tf.logical_and(lower, index < count)
    window = tf.where(inside, tf.gather(values, clipped), tf.constant(3.0e38, tf.float32))
    ascending = -tf.math.top_k(-window, k=int(index.shape[1]), sorted=True).values
    last = tf.maximum(tf.reduce_sum(tf.cast(inside, tf.int32), axis=1) - 1, 0)
    return ascending, last


def _table_lookup(table: np.ndarray, index, out: str = "int32"):
    """``table[index]`` as ``out`` (int32, or float32 to compare with float counts without casting them) with the
    table stored in the smallest integer type that holds it (a 32 x 32 table of counts is 1 KB in int8 instead of 4 KB
    in the file)."""
    import tensorflow as tf

    for dtype in (np.int8, np.int16):
        info = np.iinfo(dtype)
        if table.min() >= info.min and table.max() <= info.max:
            return tf.cast(tf.gather(tf.constant(table.astype(dtype)), index), out)
    return tf.cast(tf.gather(tf.constant(table.astype(np.int32)), index), out) if out != "int32" else \
        tf.gather(tf.constant(table.astype(np.int32)), index)


def _desc_quantile(descending, count, q):
    """Quantile ``q`` (linear) of the first ``count`` values of a descending-sorted vector."""
    import tensorflow as tf

    last = tf.cast(tf.maximum(count - 1, 0), tf.float32)
    pos = (1.0 - q) * last                  # position in descending order
    lo = tf.floor(pos)
    frac = pos - lo
    lo_i = tf.cast(lo, tf.int32)
    hi_i = tf.minimum(lo_i + 1, tf.maximum(count - 1, 0))
    a, b = tf.gather(descending, lo_i), tf.gather(descending, hi_i)
    return a + frac * (b - a)


def _moving_average_even(x, width: int):
    """``np.convolve(x, ones(width) / width, mode="same")`` (the wfdb smoothing) for an even width."""
    kernel = np.ones(width, np.float32) / width
    # np.convolve 'same' of an even kernel is centred half a sample late: pad one zero in front
    return _conv(x, np.concatenate([kernel, [0.0]]).astype(np.float32))


# --- export --------------------------------------------------------------------------------------

def build(classifier, config, edge: EdgeConfig = EdgeConfig()) -> EndToEnd:
    """The ``EndToEnd`` graph of a record-level classifier (``.keras`` model) and its ExperimentConfig."""
    from ecgsl_keras.modeling import models

    try:
        serving_model = models.attention_model(classifier)
    except ValueError as exc:  # a baseline without attention pooling (the raw-window ResNet)
        raise ConfigError(getattr(classifier, "name", "<model>"), "bad_model", str(exc)) from None
    return EndToEnd(serving_model, config.signal, int(config.model.max_beats), int(config.model.n_rr_features), edge)


def write_saved_model(graph: EndToEnd, path) -> None:
    """SavedModel with one signature, ``end_to_end``: ``ecg`` (n,) float32 -> the outputs."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(graph.model)
    archive.add_endpoint(SIGNATURE, lambda ecg: graph(ecg),
                         input_signature=[tf.TensorSpec((None,), tf.float32, name=INPUT)])
    archive.write_out(str(path), verbose=False)


def convert_tflite(saved_model_path, fmt: str, strip_tables: bool = True) -> bytes:
    """float32, or int8 (dynamic range: int8 weights of the classifier, the filters stay float). ``strip_tables``
    False keeps the tables LiteRT never reads (what the strip is checked against)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_path), signature_keys=[SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if fmt == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif fmt == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif fmt != "float32":
        raise ValueError(f"unknown TFLite format {fmt!r}")
    flatbuffer = strip_tensor_names(converter.convert())
    # without the tables LiteRT never reads (tflite_file: outputs bit for bit the same)
    return tflite_file.strip_empty_tables(flatbuffer) if strip_tables else flatbuffer


def strip_tensor_names(flatbuffer: bytes) -> bytes:
    """The TFLite flatbuffer without the names of its tensors (the converter keeps the graph's long
    op and layer names: about 50 KB in this file). The signature (``end_to_end``, ``ecg`` and the output
    names) keeps its own names and indices, which is all the signature runner uses."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            tensor.name = b""
    builder = flatbuffers.Builder(len(flatbuffer))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class Runner:
    """The end-to-end TFLite file under ``ai_edge_litert`` (no TensorFlow): ``runner(window) -> dict``."""

    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        with quiet.filtered_stderr():   # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
            self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            self.interpreter.allocate_tensors()   # applies the delegate now, inside the filter
            self.runner = self.interpreter.get_signature_runner(SIGNATURE)

    def __call__(self, window) -> dict:
        out = self.runner(**{INPUT: np.ascontiguousarray(np.asarray(window, np.float32).reshape(-1))})
        return {key: np.asarray(value) for key, value in out.items()}


# the window scheme of a long record: one definition, shared with predict_signal (TrainConfig.predict_window_s)
window_starts = signal_lib.record_window_starts


def classify_record(run, signal_at_rate, window: int) -> dict:
    """Mean probabilities over the valid windows of a record (``run``: window -> outputs dict)."""
    outs = []
    rpeaks = np.zeros(0, np.int64)
    tolerance = max(1, window // 200)      # 0.15 s of a 30 s window, at any rate
    for start in window_starts(len(signal_at_rate), window):
        out = run(signal_at_rate[start:start + window])
        if int(out["valid"]):
            outs.append(out["probabilities"])
            peaks = out["rpeaks"][out["rpeak_mask"]].astype(np.int64) + start
            # the last window overlaps the one before: a beat both found is kept once
            peaks = peaks[signal_lib.merge_window_peaks(rpeaks, peaks, tolerance)]
            rpeaks = np.sort(np.concatenate([rpeaks, peaks]))
    if not outs:
        return {"valid": 0, "probabilities": None, "rpeaks": np.zeros(0, np.int64)}
    return {"valid": 1, "probabilities": np.mean(outs, axis=0), "rpeaks": rpeaks, "windows": len(outs)}


def metadata(graph: EndToEnd, label_names, files: dict) -> dict:
    """What ``end_to_end.json`` holds: the input contract and the output names."""
    sc, edge = graph.sc, graph.edge
    return {
        "signature": SIGNATURE,
        "input": {"name": INPUT, "dtype": "float32", "shape": [-1], "units": "mV", "rate_hz": graph.input_rate,
                  "max_samples": graph.n_input, "min_samples": graph.min_input,
                  "meaning": f"one lead, at most {graph.n_input} samples ({edge.window_s:g} s at {graph.input_rate:g} Hz); "
                             "resample other rates before the call; a shorter window (>= min_samples) is used as it is"},
        "outputs": {
            "probabilities": {"shape": [len(label_names)], "labels": list(label_names),
                              "meaning": "class probabilities; all zero when valid == 0"},
            "attention_weights": {"shape": [graph.max_beats], "meaning": "per beat, 0 on padding"},
            "rpeaks": {"shape": [graph.max_beats], "dtype": "int32",
                       "meaning": "R-peak sample index at the input rate of each classified beat, -1 on padding"},
            "rpeak_mask": {"shape": [graph.max_beats], "dtype": "bool", "meaning": "True on real beats"},
            "n_beats": {"shape": [], "dtype": "int32"},
            "valid": {"shape": [], "dtype": "int32", "meaning": "1: probabilities usable; 0: see status"},
            "status": {"shape": [], "dtype": "int32", "codes": STATUS},
        },
        "signal_config": json.loads(sc.to_json()),
        "edge_config": edge.to_dict(),
        "files": files,
    }


def export_end_to_end(classifier, config, task, out_dir, formats=("float32", "int8"), edge: EdgeConfig = EdgeConfig(),
                      check_records=None) -> dict:
    """Write the SavedModel (``saved_model_end_to_end/``), the TFLite files and ``end_to_end.json``
    into ``out_dir``; returns the report section (sizes and, with ``check_records`` (a folder of
    WFDB records: default the embedded CinC 2017 sample), agreement with the Python path)."""
    import time

    out_dir = Path(out_dir)
    edge = resolve_edge_config(edge, config.signal, getattr(task, "name", None))
    graph = build(classifier, config, edge)
    write_saved_model(graph, out_dir / SAVED_MODEL_DIR)
    files, sizes, seconds = {"saved_model": SAVED_MODEL_DIR}, {}, {}
    for fmt in formats:
        t0 = time.perf_counter()
        with quiet.filtered_stderr():   # the converter's harmless "NodeDef mentions attribute" errors
            flatbuffer = convert_tflite(out_dir / SAVED_MODEL_DIR, fmt)
        (out_dir / tflite_name(fmt)).write_bytes(flatbuffer)
        seconds[fmt] = round(time.perf_counter() - t0, 2)
        files[fmt] = tflite_name(fmt)
        sizes[f"tflite_{fmt}"] = (out_dir / tflite_name(fmt)).stat().st_size
    write_text_atomic(out_dir / METADATA_NAME, json.dumps(metadata(graph, task.label_names, files), indent=2) + "\n")
    report = {"signature": SIGNATURE, "input_rate": graph.input_rate, "window_s": edge.window_s,
              "max_samples": graph.n_input, "files": files, "sizes_bytes": sizes, "conversion_seconds": seconds,
              "select_tf_ops": False}
    if formats:
        report["python_path_agreement"] = compare_with_python(classifier, config, task, out_dir / tflite_name(formats[0]),
                                                              check_records, graph.input_rate, edge.window_s)
    return report


def compare_with_python(classifier, config, task, tflite_path, records_dir=None, input_rate=None, window_s=30.0) -> dict:
    """Class agreement and R-peak agreement of the end-to-end file with ``predict_signal`` on WFDB records."""

    records_dir = Path(records_dir) if records_dir else cinc2017_sample_dir()
    predictor = Predictor(_KerasBackend(classifier), config, task)
    run = Runner(tflite_path)
    input_rate = float(input_rate or config.signal.target_fs)
    window = int(round(window_s * input_rate))
    agree = n = refused_both = 0
    tp = fp = fn = 0
    for header in sorted(records_dir.glob("*.hea")):
        signal, fs, _ = read_lead(header.with_suffix(""))
        try:
            reference = predictor.predict_signal(signal, fs)
        except SignalQualityError:
            reference = None
        at_rate = filters_lib.resample(signal, fs, input_rate).astype(np.float32)
        edge_out = classify_record(run, at_rate, window)
        if reference is None or not edge_out["valid"]:
            refused_both += int(reference is None and not edge_out["valid"])
            continue
        n += 1
        agree += int(np.argmax(edge_out["probabilities"]) == reference["label_index"])
        ref_peaks = np.rint(reference["beat_times_s"] * input_rate).astype(np.int64)
        m = match_peaks(ref_peaks, edge_out["rpeaks"], int(round(0.05 * input_rate)))
        tp, fn, fp = tp + m["tp"], fn + m["fn"], fp + m["fp"]
    return {"records": str(records_dir), "compared": n, "refused_by_both": refused_both,
            "class_agreement": agree / n if n else None,
            "rpeak_agreement": {"tolerance_ms": 50, "tp": tp, "fn": fn, "fp": fp,
                                "sensitivity": tp / (tp + fn) if tp + fn else None,
                                "ppv": tp / (tp + fp) if tp + fp else None},
            "note": "peaks compared on the beats each path classifies (edge beats whose window does not fit excluded)"}

"""Saliency of a trained classifier on one raw ECG, on the record's own time axis (tf-explain).

    python -m ecgsl_keras.explain --model M --record PATH [--lead NAME] [--method vanilla|integrated|smoothgrad]
                                  [--class NAME] --out DIR

    from ecgsl_keras.evaluation.explain import saliency
    result = saliency("cinc2017", signal_mv, fs=300)          # or a run folder / .keras / loaded model
    result.saliency          # (len(signal),) one value per raw sample

``M``: a run folder, a ``.keras`` file (its run folder's ``config.json`` is read) or a shipped model
name (``ecgsl_keras.store.presets``). Works for the ECG-SL classifiers (also seed ensembles) and for the
raw-signal ResNet baseline (``train --model resnet1d`` on ``prepare --raw-signal`` data).

What is computed (the gradient cores of tf-explain 0.3.1; its image helpers -- grayscale, grids,
heat maps -- are for 2-D images and are not used):

* ``vanilla``: ``VanillaGradients.compute_gradients(x, model, c)``: d p_c / d x.
* ``integrated``: ``IntegratedGradients.generate_interpolations(x, n_steps)`` (zero baseline, a
  straight path) and ``IntegratedGradients.get_integrated_gradients`` (the mean gradient along the
  path), multiplied here by ``x - 0`` (tf-explain returns the path-averaged gradient without that
  factor) so the result is the integrated-gradients attribution.
* ``smoothgrad``: ``SmoothGrad.generate_noisy_images(x, n, sigma)`` (Gaussian noise, ``sigma`` =
  ``noise`` x the signal's 1st-99th percentile range) and ``SmoothGrad.get_averaged_gradients``
  (gradient of the categorical cross-entropy against class ``c``, averaged over the noisy copies),
  negated so that, like the others, positive means "raises p_c". Not for one-output (binary sigmoid)
  models: that loss is constant there.

``p_c`` is the softmax probability of class ``c`` (default: the predicted class); tf-explain's
``get_score_model`` only strips a separate activation layer and these models have none.
The ECG-SL model reads beats, RR features and a padding mask; tf-explain's cores call
``model(x)`` on one tensor, so ``x`` is the three packed along the last axis (beat samples, RR,
mask) and a wrapper model unpacks them. Only the beat samples are interpolated (integrated) or
noised (smoothgrad): RR features and mask are reset to their values, and only the beat gradients
are kept. The ResNet reads the signal windows directly.

From the model's input back to the record's time axis (``map_to_signal``): beats are windows of
the preprocessed signal (``ecgsl_keras.data.signal``: cleaned, resampled to ``target_fs``, normalised) cut
around each R-peak, so a sample of that signal lies in one to three beats when windows overlap (fast
heart rates), and long records are read as several overlapping windows of beats (the ResNet: of
samples) whose probabilities are averaged (``inference``). The record's probability is then a
function of each signal sample through every copy of it, and its derivative is the sum of the
derivatives through each copy divided by the number of windows (the chain rule): that is how
overlapping beats and windows are combined. (For ``integrated`` the same sum of the per-copy
attributions, for ``smoothgrad`` of the per-copy averaged gradients.) Samples in no beat (before the
first beat's window, after the last) get 0. The result, on the ``target_fs`` grid, is placed on the
raw samples by linear interpolation (``saliency``), keeping its sign; pictures and shares use the
absolute value.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.data.signal import preprocess, segment
from ecgsl_keras.errors import ConfigError, ECGSLError
from ecgsl_keras.evaluation import plot
from ecgsl_keras.evaluation.evaluate import is_raw_window_model
from ecgsl_keras.serving.inference import check_signal, combine_attention, pad_windows, window_starts
from ecgsl_keras.store import runs

log = logging.getLogger("ecgsl_keras.evaluation.explain")

METHODS = ("vanilla", "integrated", "smoothgrad")
INSTALL_HINT = 'pip install -e ".[explain]"'
IG_STEPS = 32
SMOOTHGRAD_SAMPLES = 16
SMOOTHGRAD_NOISE = 0.15


def tf_explain_cores():
    """tf-explain's three gradient classes; a clear ``ECGSLError`` when the extra is not installed."""
    try:
        from tf_explain.core.integrated_gradients import IntegratedGradients
        from tf_explain.core.smoothgrad import SmoothGrad
        from tf_explain.core.vanilla_gradients import VanillaGradients
    except ImportError as exc:
        raise ECGSLError(f"saliency needs tf-explain and opencv (the 'explain' extra): run {INSTALL_HINT} "
                         f"({exc})") from None
    return VanillaGradients, IntegratedGradients, SmoothGrad


# --- the model -------------------------------------------------------------------------------------

@dataclass
class Explainable:
    """A loaded classifier with what explaining it needs."""

    model: object                      # keras.Model: the classifier (probabilities out)
    config: object                     # ExperimentConfig (signal preprocessing, max_beats, raw_samples)
    task: object                       # Task or None
    source: str = "<model>"
    _wrapper: object = field(default=None, repr=False)
    _attention: object = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """``"resnet"`` (raw signal windows) or ``"ecgsl"`` (beat sequence)."""

        return "resnet" if is_raw_window_model(self.model) else "ecgsl"

    @property
    def label_names(self) -> list:
        if self.task is not None:
            return list(self.task.label_names)
        return [f"class_{i}" for i in range(int(self.model.outputs[0].shape[-1]))]

    def packed_model(self):
        """ECG-SL: a functional model on (B, T, beat_len + n_rr + 1): beats | RR | mask -> probabilities."""
        if self._wrapper is None:
            import keras

            cfg = self.config.model
            beat_len, n_rr = int(cfg.beat_len), int(cfg.n_rr_features)
            packed = keras.Input((None, beat_len + n_rr + 1), name="packed")
            inputs = {"beats": packed[..., :beat_len], "rr": packed[..., beat_len:beat_len + n_rr],
                      "padding_mask": keras.ops.greater(packed[..., -1], 0.5)}
            self._wrapper = keras.Model(packed, self.model(inputs), name="packed_classifier")
        return self._wrapper

    def attention_model(self):
        if self._attention is None:
            from ecgsl_keras.modeling import models

            try:
                self._attention = models.attention_model(self.model)
            except ValueError as exc:
                raise ConfigError(self.source, "bad_model", str(exc)) from None
        return self._attention


def load(model_arg) -> Explainable:
    """A run folder, ``.keras`` file or preset name -> ``Explainable`` (config and task from its run's
    ``config.json``). A classifier only: pre-training runs are refused."""
    path = runs.model_path(model_arg)
    config, task, info = runs.run_config(path)
    if info.get("stage") in ("autoencoder", "masked"):
        raise ConfigError(runs.find_run_dir(path) / runs.CONFIG_NAME, "bad_config",
                          f"a {info['stage']} (pre-training) run has no classifier to explain")
    if info.get("raw_input") == "beats":
        raise ConfigError(path, "bad_model", "this ResNet reads beats laid end to end; explain supports the "
                                             "raw-signal ResNet (prepare --raw-signal)")
    from ecgsl_keras.modeling.files import load_keras_model

    model = load_keras_model(path)
    return Explainable(model, config, task, source=str(path))


def _as_explainable(model, config=None, task=None) -> Explainable:
    if isinstance(model, Explainable):
        return model
    if hasattr(model, "layers"):   # a Keras model: its config must be given (default: the package defaults)

        return Explainable(model, config or ExperimentConfig(), task, source=getattr(model, "name", "<model>"))
    return load(model)


# --- gradients -------------------------------------------------------------------------------------

def _gradients(method, x, model, class_index, *, keep_channels=None, seed=0, n_steps=None, n_samples=None,
               noise=None):
    """Saliency of ``x`` (B, ...) through tf-explain's cores (module docstring). ``keep_channels``: a
    slice of the last axis that is input but not explained (RR, mask): neither interpolated nor noised."""
    import tensorflow as tf

    VanillaGradients, IntegratedGradients, SmoothGrad = tf_explain_cores()
    x = np.asarray(x, np.float32)
    n_steps, n_samples = n_steps or IG_STEPS, n_samples or SMOOTHGRAD_SAMPLES
    noise = SMOOTHGRAD_NOISE if noise is None else noise
    class_index = tf.constant(int(class_index), tf.int32)   # a tensor: one trace for every class

    def reset(batch, repeats):
        if keep_channels is None:
            return batch
        batch = batch.reshape((x.shape[0], repeats) + x.shape[1:])
        batch[..., keep_channels] = x[:, None, ..., keep_channels]
        return batch.reshape((-1,) + x.shape[1:]).astype(np.float32)

    if method == "vanilla":
        return np.asarray(VanillaGradients.compute_gradients(x, model, class_index))
    if method == "integrated":
        path = IntegratedGradients.generate_interpolations(x, n_steps).astype(np.float32)
        grads = IntegratedGradients.get_integrated_gradients(reset(path, n_steps), model, class_index, n_steps)
        return np.asarray(grads) * x
    if method == "smoothgrad":
        if int(model.outputs[0].shape[-1]) < 2:
            raise ConfigError("<method>", "bad_config", "smoothgrad uses tf-explain's categorical cross-entropy, "
                              "which is constant for a model with one (sigmoid) output; use vanilla or integrated")
        explained = x if keep_channels is None else np.delete(x, np.arange(x.shape[-1])[keep_channels], axis=-1)
        lo, hi = np.percentile(explained, [1.0, 99.0]) if explained.size else (0.0, 1.0)
        state = np.random.get_state()
        np.random.seed(seed)   # tf-explain draws from numpy's global generator
        try:
            noisy = SmoothGrad.generate_noisy_images(x, n_samples, float(noise) * float(hi - lo or 1.0))
        finally:
            np.random.set_state(state)
        return -np.asarray(SmoothGrad.get_averaged_gradients(reset(noisy, n_samples), model, class_index, n_samples))
    raise ConfigError("<method>", "bad_config", f"method must be one of {METHODS}, got {method!r}")


def beat_provenance(n_samples: int, rpeaks, signal_config) -> np.ndarray:
    """(n_beats, beat_len) int64: the index into the preprocessed signal of each beat sample, -1 where
    the beat is zero-padded. ``signal.segment`` cuts an index ramp, so this is exactly its windows."""

    ramp = np.arange(1, n_samples + 1, dtype=np.float64)
    if n_samples >= 2 ** 24:
        raise ValueError(f"{n_samples} samples: too long for an exact float32 index ramp")
    beats, _ = segment(ramp.astype(np.float32), rpeaks, signal_config)
    return np.rint(beats).astype(np.int64) - 1


def map_to_signal(gradients, positions, n_samples: int, n_windows: int) -> np.ndarray:
    """Sum ``gradients`` at their signal ``positions`` (-1: none) over every copy, / ``n_windows``."""
    out = np.zeros(n_samples, np.float64)
    positions = np.asarray(positions).reshape(-1)
    values = np.asarray(gradients, np.float64).reshape(-1)
    valid = (positions >= 0) & (positions < n_samples)
    np.add.at(out, positions[valid], values[valid])
    return out / max(int(n_windows), 1)


@dataclass
class Explanation:
    """Result of ``saliency``. Times: ``fs`` (raw) and ``model_fs`` (the preprocessed signal)."""

    saliency: np.ndarray            # (n_raw,) float32, one value per raw sample (signed)
    signal: np.ndarray              # (n_raw,) the raw input
    fs: float
    model_saliency: np.ndarray      # (n_model,) on the preprocessed signal's grid
    model_signal: np.ndarray        # (n_model,) preprocessed (cleaned, resampled, normalised) signal
    model_fs: float
    rpeaks: np.ndarray              # (n_beats,) R-peaks, raw sample indices
    beat_windows_s: np.ndarray      # (n_beats, 2) start and end (s) of each beat's window
    attention: np.ndarray | None    # (n_beats,) attention weights (ECG-SL), None for the ResNet
    probabilities: np.ndarray
    class_index: int
    class_name: str
    label_names: list
    method: str
    model_kind: str
    n_windows: int

    @property
    def label(self) -> str:
        return self.label_names[int(np.argmax(self.probabilities))]

    def summary(self) -> dict:
        out = {"model_kind": self.model_kind, "method": self.method, "explained_class": self.class_name,
               "label": self.label, "probabilities": dict(zip(self.label_names, [round(float(p), 6)
                                                                                for p in self.probabilities])),
               "n_samples": int(self.saliency.size), "fs": self.fs, "n_beats": int(self.rpeaks.size),
               "n_windows": int(self.n_windows)}
        if self.attention is not None:
            out["attention_entropy"] = round(attention_entropy(self.attention), 6)
            out["uniform_entropy"] = round(float(np.log(self.attention.size)), 6)
        return out

    def save_npz(self, path) -> str:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, saliency=self.saliency, signal=self.signal, fs=self.fs,
                            model_saliency=self.model_saliency, model_signal=self.model_signal,
                            model_fs=self.model_fs, rpeaks=self.rpeaks, beat_windows_s=self.beat_windows_s,
                            attention=np.zeros(0, np.float32) if self.attention is None else self.attention,
                            probabilities=self.probabilities, class_index=self.class_index,
                            label_names=np.asarray(self.label_names), method=self.method,
                            model_kind=self.model_kind)
        return str(path)

    def figure(self, title: str = ""):

        return plot.record_figure(self.signal, self.fs, rpeaks_s=self.rpeaks / self.fs,
                                  beat_windows_s=self.beat_windows_s, attention=self.attention,
                                  saliency=self.saliency, title=title,
                                  saliency_label=f"|{self.method} saliency| for {self.class_name}",
                                  zoom_s=plot.ZOOM_S)


def attention_entropy(weights) -> float:
    """Shannon entropy (nats) of attention weights renormalised to sum to 1 (uniform: log n)."""
    w = np.asarray(weights, np.float64).reshape(-1)
    w = w / w.sum()
    w = w[w > 0]
    return float(-(w * np.log(w)).sum())


def saliency(model, signal, fs, *, method: str = "vanilla", class_index=None, config=None, task=None,
             path: str = "<signal>", seed: int = 0) -> Explanation:
    """Saliency of the record-level probability of ``class_index`` (default: the predicted class) with
    respect to every sample of ``signal`` (1-D, millivolts, at ``fs`` Hz).

    ``model``: a run folder, ``.keras`` path, preset name, ``Explainable`` (``load``), or a Keras
    classifier (then ``config`` -- the ``ExperimentConfig`` it was trained with -- default the package
    defaults). Raises ``SignalQualityError`` for an unusable signal (as ``predict``), ``ConfigError``
    for a model that cannot be explained.
    """

    if method not in METHODS:
        raise ConfigError("<method>", "bad_config", f"method must be one of {METHODS}, got {method!r}")
    tf_explain_cores()
    ex = _as_explainable(model, config, task)
    cfg = ex.config
    raw = check_signal(signal, fs, cfg.signal, path)
    beats = preprocess(raw, float(fs), cfg.signal, path=path)
    n_model = beats.signal.size
    attention = None
    if ex.kind == "resnet":
        samples = ex.model.inputs[0].shape[1] or n_model
        starts = window_starts(n_model, samples, samples)
        windows = np.zeros((len(starts), samples, 1), np.float32)
        positions = np.full((len(starts), samples), -1, np.int64)
        for i, start in enumerate(starts):
            part = beats.signal[start:start + samples]
            windows[i, :part.size, 0] = part
            positions[i, :part.size] = np.arange(start, start + part.size)
        probs = np.asarray(ex.model.predict_on_batch(windows), np.float64).mean(axis=0)
        c = int(np.argmax(probs)) if class_index is None else int(class_index)
        grads = _gradients(method, windows, ex.model, c, seed=seed)[..., 0]
        n_windows = len(starts)
    else:
        max_beats = int(cfg.model.max_beats)
        stride = min(int(cfg.train.eval_window_stride), max_beats)
        starts = window_starts(len(beats), max_beats, stride)
        batch_beats, batch_rr, mask = pad_windows(beats.beats, beats.rr, starts, max_beats)
        outputs = ex.attention_model().predict_on_batch({"beats": batch_beats, "rr": batch_rr, "padding_mask": mask})
        probs = np.asarray(outputs["probabilities"], np.float64).mean(axis=0)
        attention = combine_attention(np.asarray(outputs["attention_weights"]), starts, len(beats), max_beats)
        c = int(np.argmax(probs)) if class_index is None else int(class_index)
        beat_len = batch_beats.shape[-1]
        packed = np.concatenate([batch_beats, batch_rr, mask[..., None].astype(np.float32)], axis=-1)
        grads = _gradients(method, packed, ex.packed_model(), c, keep_channels=slice(beat_len, None),
                           seed=seed)[..., :beat_len]
        provenance = beat_provenance(n_model, beats.rpeaks, cfg.signal)
        # padded beat slots of a window have no signal samples
        positions = np.full(batch_beats.shape, -1, np.int64)
        length = min(len(beats), max_beats)
        for i, start in enumerate(starts):
            positions[i, :length] = provenance[start:start + length]
        n_windows = len(starts)
    if not 0 <= c < probs.size:
        raise ConfigError("<class>", "bad_config", f"class index {c} out of range for {probs.size} outputs")
    model_saliency = map_to_signal(grads, positions, n_model, n_windows)
    t_raw = np.arange(raw.size) / float(fs)
    t_model = np.arange(n_model) / float(beats.fs)
    on_raw = np.interp(t_raw, t_model, model_saliency, left=0.0, right=0.0)
    r_offset, beat_len = int(cfg.signal.r_offset), int(cfg.signal.beat_len)
    windows_s = np.stack([(beats.rpeaks - r_offset) / beats.fs, (beats.rpeaks - r_offset + beat_len) / beats.fs], 1)
    names = ex.label_names
    if probs.size == 1 and len(names) == 2:   # binary: one sigmoid, the positive label
        names = names[-1:]
    return Explanation(saliency=on_raw.astype(np.float32), signal=np.asarray(raw, np.float32), fs=float(fs),
                       model_saliency=model_saliency.astype(np.float32), model_signal=beats.signal,
                       model_fs=float(beats.fs), rpeaks=np.asarray(beats.rpeaks_native, np.int64),
                       beat_windows_s=windows_s, attention=attention, probabilities=probs.astype(np.float32),
                       class_index=c, class_name=names[c] if c < len(names) else str(c), label_names=list(names),
                       method=method, model_kind=ex.kind, n_windows=n_windows)


# --- where the saliency lies ------------------------------------------------------------------------

REGIONS = ("p_wave", "qrs", "st_t", "elsewhere")
# Plausibility limits (s) of one delineated wave; longer spans (delineation errors) are not painted.
MAX_SPAN_S = {"p_wave": 0.3, "qrs": 0.2, "st_t": 0.7}


QRS_FALLBACK_S = 0.05   # QRS bounds not delineated plausibly: R -/+ this
QRS_ONSET_MAX_S, QRS_OFFSET_MAX_S = 0.08, 0.12   # plausible QRS onset / offset: at most this before / after R


def wave_regions(signal, fs, rpeaks, method: str = "dwt") -> tuple:
    """Per raw sample: 0 elsewhere, 1 P wave, 2 QRS, 3 ST-T (``REGIONS`` order: p_wave=1, qrs=2, st_t=3),
    from ``neurokit2.ecg_delineate(method=...)`` on ``signal`` (a cleaned lead) at ``fs`` with the
    R-peaks given. Per beat: P = [P onset, P offset], QRS = [QRS onset (``ECG_R_Onsets``), QRS offset
    (``ECG_R_Offsets``)], ST-T = (QRS offset, T offset]. QRS bounds are used when the onset lies at
    most ``QRS_ONSET_MAX_S`` before R and the offset at most ``QRS_OFFSET_MAX_S`` after it (dwt often
    puts the onset in the P wave), else the QRS is R -/+ ``QRS_FALLBACK_S``. A P wave or ST-T whose
    bounds are missing, reversed, longer than ``MAX_SPAN_S`` or on the wrong side (P ending after R)
    is left out for that beat (its samples count as elsewhere). A lead whose R-peaks are negative (inverted) is
    delineated upside down (neurokit2 expects upright beats). Painted ST-T, then P, then QRS (where
    delineated waves overlap, the QRS wins).

    Returns ``(labels int8 (len(signal),), coverage)``: ``coverage`` the share of beats whose P wave,
    QRS (both bounds delineated) and ST-T were delineated."""
    import warnings

    import neurokit2 as nk

    x = np.asarray(signal, np.float64)
    labels = np.zeros(x.size, np.int8)
    peaks = np.asarray(rpeaks, np.int64)
    coverage = {"p_wave": 0.0, "qrs": 0.0, "st_t": 0.0}
    if peaks.size < 2:
        return labels, coverage
    if np.median(x[peaks]) < 0:
        x = -x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _, waves = nk.ecg_delineate(x, peaks, sampling_rate=int(round(fs)), method=method)
        except Exception as exc:   # neurokit2 raises bare errors on odd signals
            raise ECGSLError(f"neurokit2 ecg_delineate({method!r}) failed: {type(exc).__name__}: {exc}") from None

    def bounds(key):
        values = np.asarray(waves.get(key, []), np.float64).reshape(-1)
        return values if values.size == peaks.size else np.full(peaks.size, np.nan)

    r = peaks.astype(np.float64)
    q_on, q_off = bounds("ECG_R_Onsets"), bounds("ECG_R_Offsets")
    p_on, p_off, t_off = bounds("ECG_P_Onsets"), bounds("ECG_P_Offsets"), bounds("ECG_T_Offsets")
    qrs_ok = (q_on >= r - QRS_ONSET_MAX_S * fs) & (q_on <= r) & (q_off >= r) & (q_off <= r + QRS_OFFSET_MAX_S * fs)
    coverage["qrs"] = float(qrs_ok.mean())
    half = QRS_FALLBACK_S * fs
    q_on, q_off = np.where(qrs_ok, q_on, r - half), np.where(qrs_ok, q_off, r + half)
    # (onsets, offsets, label, first sample after the onset, plausible)
    spans = {"st_t": (q_off, t_off, 3, 1, t_off > q_off),
             "p_wave": (p_on, p_off, 1, 0, p_off <= r),
             "qrs": (q_on, q_off, 2, 0, np.ones(peaks.size, bool))}
    for name, (onsets, offsets, value, skip_first, plausible) in spans.items():
        good = plausible & np.isfinite(onsets) & np.isfinite(offsets) & (offsets >= onsets) \
            & ((offsets - onsets) <= MAX_SPAN_S[name] * fs)
        if name != "qrs":
            coverage[name] = float(good.mean())
        for a, b in zip(onsets[good], offsets[good]):
            start, stop = int(a) + skip_first, min(int(b) + 1, x.size)
            labels[max(start, 0):stop] = value
    return labels, coverage


def region_shares(values, regions) -> dict:
    """Share of ``sum(|values|)`` in each of ``REGIONS`` (``regions`` from ``wave_regions``)."""
    v = np.abs(np.asarray(values, np.float64).reshape(-1))
    total = v.sum()
    return {name: (float(v[np.asarray(regions) == i].sum() / total) if total > 0 else float("nan"))
            for i, name in zip((1, 2, 3, 0), REGIONS)}

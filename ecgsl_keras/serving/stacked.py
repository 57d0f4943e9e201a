"""Stacked presets (issue 18, 2b): the ECG-SL deep model, then a LightGBM booster over [record features +
deep outputs], behind the ``Predictor`` interface.

A stacked model folder (a preset or a run-like folder) holds, besides ``model.keras`` and
``config.json``, the booster ``booster.txt`` (LightGBM text format) and its spec ``stacking.json``
(``ecgsl_keras.modeling.stacking``). ``serving.inference.load_model`` returns a ``StackedPredictor``
for such a folder, so ``predict_signal``, ``ecgsl predict`` and ``ecgsl evaluate --dataset`` use it:

1. the deep model's ``predict_signal`` (the same signal checks: bad input raises the same
   ``SignalQualityError`` before anything else runs);
2. the record features of the raw signal (``ecgsl_keras.data.record_features``, NaN kept: the booster
   was trained with NaN);
3. the booster on [features, deep outputs] in the spec's column order.

A mixed deep side (``deep_source["members"]`` in ``stacking.json``): the deep outputs are the MEAN of the
class probabilities of several deep members that read different inputs of the same signal, each listed
with its file and input kind:

* ``{"file": "model.keras", "input": "beats"}``: the folder's own model (beats, RR, padding mask; its
  ``config.json``), through ``Predictor.predict_signal`` as above;
* ``{"file": "<name>.keras", "input": "signal", "sha256": ...}``: a model of one (B, samples, 1) input,
  e.g. an ensemble of the 1-D ResNet baseline (``modeling.resnet1d``) trained on ``prepare --raw-signal``
  data: it reads the continuous signal the beats were cut from (the same preprocessing, the folder's
  ``SignalConfig``), in windows of its input length every that many samples plus one ending at the end,
  zero-padded when the signal is shorter (the windows of ``make_dataset(include_signal=True)`` in
  ``evaluate``), and its probabilities are the mean over those windows.

Per-beat stacked models (``rows: "beat"`` in ``stacking.json``, e.g. the ``mitdb-beats`` preset): the deep model
labels each beat, the booster takes one row of per-beat features per beat (``ecgsl_keras.data.per_beat_features``,
computed from the same preprocessed beats, RR intervals and R-peaks) and ``predict_signal``'s
``beat_probabilities`` are the spec's average of the two (``combine: "average"``); the deep model's own are in
``deep_beat_probabilities``. A mixed deep side is for record-level models only. A per-beat spec's optional
``gate`` (``modeling.stacking.Gate``, e.g. ``mitdb-beats``'s rhythm gate on ``window_af_afev``) is applied to the
average: its feature is computed with the booster's columns by the same ``beat_feature_columns`` call (it need not
be one of the booster's), ``beat_probabilities`` are the gated ones, ``beat_gated`` says which beats the gate
moved and ``ungated_beat_probabilities`` holds the average before it. A per-beat spec's optional ``v_gate``
(``modeling.stacking.VGate``, the V agreement gate) is applied after the ``gate``: its evidence columns
(``stacking.V_GATE_COLUMNS``, and with ``af_off`` its AF evidence feature, e.g. the rhythm gate's
``window_af_afev``: no V call is taken where it exceeds its threshold) are computed by the same call and the deep
P(V) is the deep model's; ``beat_v_gated``
says which V calls it took and ``pre_v_gate_beat_probabilities`` holds the probabilities before it (after the
``gate``). A per-beat spec's optional ``v_pause`` (``modeling.stacking.VPause``, the full-compensatory-pause rule)
is applied last, after the V gate: its evidence columns (``stacking.V_PAUSE_COLUMNS``, and with ``af_off`` its AF
evidence feature) are computed by the same call, the signal is one record for its ``min_fires`` count,
``beat_v_paused`` says which beats it turned to V and ``pre_v_pause_beat_probabilities`` holds the probabilities
before it. A per-beat spec's optional ``v_template`` (``modeling.stacking.VTemplate``, the within-record V template
vote, run v51) is applied after that: its evidence columns (``stacking.V_TEMPLATE_COLUMNS``, and with ``af_off`` its
AF evidence feature) are computed by the same call, its template is the median of the signal's V-called beats' own
samples (``signal.own_beats``: the signal is one record), ``beat_v_templated`` says which beats it turned to V and
``pre_v_template_beat_probabilities`` holds the probabilities before it. Without a gate, V gate, pause rule or
template vote the answer is as before.

The per-beat features are computed on each beat's own samples: a deep model whose beats carry a reference channel
(``SignalConfig.beat_reference="median"``: each beat followed by itself minus the record's median beat,
``signal.with_reference``) gets its full beats, the features the first channel (``signal.own_beats``), the beats the
booster was trained on.

The signal is checked and preprocessed once; every member's probabilities are in ``deep_member_probabilities``
(members in the spec's order, names in ``deep_members``) and their mean in ``deep_probabilities``. A member file
that is missing, damaged or not of the listed kind raises ``ConfigError`` naming it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgsl_keras.errors import ConfigError
from ecgsl_keras.store.presets import MODEL_NAME as MAIN_MODEL   # the folder's own model, member "beats"

DEEP_PROBABILITIES = "probabilities"
DEEP_MEMBERS = "members"                  # deep_source key of a mixed deep side
INPUT_BEATS, INPUT_SIGNAL = "beats", "signal"


def _stacking():
    # ecgsl_keras.modeling.stacking itself needs no TensorFlow, but its package registers the Keras layers:
    # imported when used, so that `ecgsl <command> --help` (which imports this module) stays TensorFlow-free.
    from ecgsl_keras.modeling import stacking

    return stacking


def stacked_folder(model_path) -> Path | None:
    """The folder of ``model_path`` (a ``.keras`` file or a folder) when it holds ``stacking.json``."""
    path = Path(model_path)
    folder = path if path.is_dir() else path.parent
    return folder if (folder / _stacking().SPEC_NAME).is_file() else None


class StackedPredictor:
    """``Predictor`` (the deep model and its preprocessing) + ``StackedClassifier`` (the booster)."""

    def __init__(self, predictor, stacked, source: str = "", members=()):
        self.predictor = predictor
        self.stacked = stacked
        self.source = str(source or predictor.source)
        self.members = list(members)   # SignalMember: the deep members beside the folder's own model
        kind = (stacked.deep_source or {}).get("kind", DEEP_PROBABILITIES)
        if kind != DEEP_PROBABILITIES:
            raise ConfigError(Path(self.source) / _stacking().SPEC_NAME, "bad_config",
                              f"deep outputs of kind {kind!r}: a stacked model served from a folder takes the deep "
                              f"model's class probabilities ({DEEP_PROBABILITIES!r})")
        expected = _stacking().probability_names(predictor.task.label_names)
        if stacked.deep_names != expected:
            raise ConfigError(Path(self.source) / _stacking().SPEC_NAME, "bad_config",
                              f"deep_names {stacked.deep_names} differ from the deep model's {expected}")
        if list(stacked.label_names) != list(predictor.task.label_names):
            raise ConfigError(Path(self.source) / _stacking().SPEC_NAME, "bad_config",
                              f"labels {stacked.label_names} differ from the deep model's {list(predictor.task.label_names)}")
        self.beat_rows = stacked.rows == "beat"
        if self.beat_rows != bool(predictor.per_beat):
            raise ConfigError(Path(self.source) / _stacking().SPEC_NAME, "bad_config",
                              f"a booster of one row per {stacked.rows} cannot serve a model of task "
                              f"{predictor.task.name} ({predictor.task.kind})")
        if self.beat_rows and (self.members or stacked.combine != "average"):
            raise ConfigError(Path(self.source) / _stacking().SPEC_NAME, "bad_config",
                              "a per-beat booster is averaged with the folder's own model (combine 'average', no "
                              "deep members)")
        if self.beat_rows:
            from ecgsl_keras.data import per_beat_features as features_lib

            known = features_lib.ALL_FEATURE_NAMES
        else:
            from ecgsl_keras.data import record_features as features_lib   # the features module (issue 18, 1)

            known = features_lib.feature_names(features_lib.GROUPS)
        unknown = sorted(set(stacked.feature_names) - set(known))
        if unknown:
            raise ConfigError(Path(self.source) / _stacking().SPEC_NAME, "bad_config",
                              f"features this package does not compute: {unknown[:5]}")
        for rule in stacked.rules:   # the features a rule's spec names (gate feature, AF-off features)
            for what, feature in rule.computed_features():
                if feature not in known:
                    raise ConfigError(Path(self.source) / _stacking().SPEC_NAME, "bad_config",
                                      f"{what}: a per-beat feature this package does not compute")
        # the columns computed per beat: the booster's, then each rule's (the gate's feature, the V rules' columns
        # with their AF-off features) when the booster does not take them (one beat_feature_columns call computes
        # them all)
        extra = [column for rule in stacked.rules for column in rule.columns]
        self._beat_columns = list(stacked.feature_names) + [c for c in dict.fromkeys(extra)
                                                             if c not in stacked.feature_names]
        self._features = features_lib

    # the Predictor interface the CLI and evaluation use
    config = property(lambda self: self.predictor.config)
    task = property(lambda self: self.predictor.task)
    label_names = property(lambda self: self.predictor.label_names)
    per_beat = property(lambda self: self.beat_rows)
    lead = property(lambda self: self.predictor.lead)
    format = property(lambda self: f"stacked({self.predictor.format}"
                      + "".join(f"+{m.format}" for m in self.members) + "+lightgbm)")

    def check_output(self, output) -> None:
        self.predictor.check_output(output)

    def decide(self, probabilities):
        return self.predictor.decide(probabilities)

    def features(self, signal_1d, fs, path="<signal>") -> np.ndarray:
        """The record-feature columns of the booster (NaN where a feature is not computable)."""
        values = self._features.record_features(np.asarray(signal_1d), float(fs), path=path,
                                                groups=self._features.groups_of(self.stacked.feature_names))
        return np.array([float(values[name]) for name in self.stacked.feature_names], np.float64)

    def beat_features(self, beats, signal_1d, fs) -> tuple:
        """((n, columns) per-beat feature rows of the booster, {rule key: its evidence} for each of the model's
        rules (``StackedClassifier.rules``: the gate's (n,) feature, a V rule's (n, k) ``columns``)) for
        ``signal.Beats`` cut from the raw ``signal_1d`` at ``fs`` (NaN where undefined), in one
        ``beat_feature_columns`` call on the beats' own samples (``signal.own_beats``)."""
        from ecgsl_keras.data.signal import own_beats

        values = self._features.beat_feature_columns(
            own_beats(beats.beats, self.config.signal), beats.rr,
            np.asarray(beats.rpeaks, np.float64) / float(beats.fs),
            self._beat_columns, signal=signal_1d, fs=fs, rpeaks_native=beats.rpeaks_native,
            config=self.config.signal)
        evidence = {rule.key: rule.take(values, self._beat_columns) for rule in self.stacked.rules}
        return values[:, :len(self.stacked.feature_names)], evidence

    def preprocess(self, signal, fs, path="<signal>"):
        return self.predictor.preprocess(signal, fs, path)

    def check_lead(self, lead=None, override: bool = False, path="<signal>") -> bool:
        return self.predictor.check_lead(lead, override, path)

    def _predict_beats(self, signal_1d, fs, path, output, lead, lead_override, beats) -> dict:
        """The per-beat form: the deep model's per-beat answer with the averaged ``beat_probabilities``."""
        self.predictor.check_output(output)
        self.predictor.check_lead(lead, lead_override, path)
        beats = self.predictor.preprocess(signal_1d, fs, path) if beats is None else beats
        deep = self.predictor.predict_signal(signal_1d, fs, path=path, output=output, beats=beats)
        deep_probabilities = np.asarray(deep["beat_probabilities"], np.float64)
        features, evidence = self.beat_features(beats, signal_1d, fs)
        rows = np.concatenate([features, deep_probabilities], axis=1)
        averaged = self.stacked.predict_proba(rows, apply_gate=False)
        from ecgsl_keras.data.signal import own_beats

        # the rules in their order (modeling.stacking.RULES, as measured): each one's mask and the probabilities
        # before it; the template rules' template is the signal's own beats (the signal is one record)
        own = (own_beats(beats.beats, self.config.signal)
               if any("beats" in rule.needs for rule in self.stacked.rules) else None)
        averaged, steps = self.stacked.apply_rules(averaged, rows, evidence, beats=own)
        extra = {}
        for rule, before, mask in steps:
            extra.update({rule.mask_key: mask, rule.before_key: before.astype(np.float32)})
        probabilities = averaged.astype(np.float32)
        indices = np.argmax(probabilities, axis=-1)
        labels = [self.label_names[int(i)] for i in indices]
        return dict(deep, beat_labels=labels, beat_label_indices=indices.astype(np.int64),
                    beat_probabilities=probabilities,
                    label_counts={name: int(labels.count(name)) for name in self.label_names},
                    deep_beat_probabilities=deep_probabilities.astype(np.float32), **extra)

    def predict_signal(self, signal_1d, fs, path="<signal>", output=None, lead=None, lead_override=False,
                       beats=None) -> dict:
        """``Predictor.predict_signal``'s record-level dict with the booster's ``probabilities``,
        ``label`` and ``label_index``; the deep model's own in ``deep_probabilities``. A per-beat model: its
        per-beat dict with the averaged ``beat_probabilities`` and labels (``deep_beat_probabilities``: the
        deep model's)."""
        if self.beat_rows:
            return self._predict_beats(signal_1d, fs, path, output, lead, lead_override, beats)
        extra = {}
        if self.members:   # a mixed deep side: the signal is checked and preprocessed once for every member
            self.predictor.check_output(output)
            self.predictor.check_lead(lead, lead_override, path)
            beats = self.predictor.preprocess(signal_1d, fs, path) if beats is None else beats
        deep = self.predictor.predict_signal(signal_1d, fs, path=path, output=output, lead=lead,
                                             lead_override=lead_override, beats=beats)   # lead and signal checks first
        deep_probabilities = np.asarray(deep["probabilities"], np.float64)
        if self.members:
            each = np.stack([deep_probabilities] + [m.predict(beats.signal) for m in self.members])
            deep_probabilities = each.mean(axis=0)
            extra = {"deep_members": [MAIN_MODEL] + [m.name for m in self.members],
                     "deep_member_probabilities": each.astype(np.float32)}
        row = np.concatenate([self.features(signal_1d, fs, path), deep_probabilities])
        probabilities = self.stacked.predict_proba(row[None, :])[0].astype(np.float32)
        label, index = self.decide(probabilities)
        return dict(deep, probabilities=probabilities, label=label, label_index=index,
                    deep_probabilities=deep_probabilities.astype(np.float32), **extra)


class SignalMember:
    """A deep member on the continuous signal: a Keras model of one (B, samples, 1) input whose record
    probabilities are the mean over its windows of the preprocessed signal (see the module docstring)."""

    format = "keras[signal]"

    def __init__(self, model, name: str, path="<member>", n_classes=None):
        inputs = getattr(model, "inputs", None) or []
        shape = tuple(inputs[0].shape) if len(inputs) == 1 else ()
        if isinstance(getattr(model, "input", None), dict) or len(shape) != 3 or shape[-1] != 1 or not shape[1]:
            raise ConfigError(path, "bad_model", f"a deep member of input {INPUT_SIGNAL!r} takes one (batch, samples, 1) "
                                                 f"signal; this model takes {[tuple(i.shape) for i in inputs]}")
        if n_classes is not None and tuple(model.outputs[0].shape[1:]) != (int(n_classes),):
            raise ConfigError(path, "bad_model", f"the deep member outputs {tuple(model.outputs[0].shape[1:])}, the "
                                                 f"stacked model has {n_classes} classes")
        self.model, self.name, self.samples = model, str(name), int(shape[1])

    def windows(self, signal) -> np.ndarray:
        """(W, samples, 1) float32: a window every ``samples`` samples plus one ending at the last sample (the
        windows of ``make_dataset(include_signal=True, signal_samples=samples)`` in evaluation), zero-padded."""
        signal = np.asarray(signal, np.float32).reshape(-1)
        length = min(len(signal), self.samples)
        last = len(signal) - length
        starts = list(range(0, last, self.samples)) + [last]
        out = np.zeros((len(starts), self.samples, 1), np.float32)
        for i, start in enumerate(starts):
            out[i, :length, 0] = signal[start:start + length]
        return out

    def predict(self, signal) -> np.ndarray:
        """(C,) float64: the mean of the model's probabilities over the signal's windows."""
        return np.asarray(self.model.predict_on_batch(self.windows(signal)), np.float64).mean(axis=0)


def deep_members(folder, stacked) -> list:
    """The ``SignalMember`` list of a mixed deep side (``deep_source["members"]`` of ``stacking.json``;
    empty without one). ``ConfigError`` naming the spec for a bad list, the member file when it is missing,
    damaged (its SHA-256 differs from the spec's) or not a model of the listed input."""
    import hashlib

    folder = Path(folder)
    spec_path = folder / _stacking().SPEC_NAME
    entries = (stacked.deep_source or {}).get(DEEP_MEMBERS)
    if not entries:
        return []
    if (not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("file") for e in entries)
            or sum(e.get("file") == MAIN_MODEL for e in entries) != 1):
        raise ConfigError(spec_path, "bad_config", f"deep_source.{DEEP_MEMBERS} must be a list of {{'file', 'input'}} "
                                                   f"naming {MAIN_MODEL!r} once")
    members = []
    for entry in entries:
        kind, name = entry.get("input"), str(entry["file"])
        expected = INPUT_BEATS if name == MAIN_MODEL else INPUT_SIGNAL
        if kind != expected:
            raise ConfigError(spec_path, "bad_config", f"deep member {name!r}: input {kind!r}; {MAIN_MODEL} reads "
                                                       f"{INPUT_BEATS!r}, every other member {INPUT_SIGNAL!r}")
        if name == MAIN_MODEL:
            continue
        path = folder / name
        if Path(name).name != name or not path.is_file():
            raise ConfigError(path, "missing_file", f"deep member file not found (listed in {spec_path.name})")
        if entry.get("sha256") and hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            raise ConfigError(path, "bad_model", f"deep member file is corrupt (sha256 differs from {spec_path.name})")
        from ecgsl_keras.modeling.files import load_keras_model

        members.append(SignalMember(load_keras_model(path), name, path, n_classes=len(stacked.label_names)))
    return members


def load_stacked(folder, predictor) -> StackedPredictor:
    """``StackedPredictor`` of a stacked folder around its already loaded deep ``predictor`` (and the folder's
    other deep members, ``deep_members``)."""
    stacked = _stacking().StackedClassifier.load(folder)
    return StackedPredictor(predictor, stacked, source=str(folder), members=deep_members(folder, stacked))

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
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgsl_keras.errors import ConfigError

DEEP_PROBABILITIES = "probabilities"


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

    def __init__(self, predictor, stacked, source: str = ""):
        self.predictor = predictor
        self.stacked = stacked
        self.source = str(source or predictor.source)
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
        from ecgsl_keras.data import record_features as features_lib   # the features module (issue 18, 1)

        unknown = sorted(set(stacked.feature_names) - set(features_lib.feature_names(features_lib.GROUPS)))
        if unknown:
            raise ConfigError(Path(self.source) / _stacking().SPEC_NAME, "bad_config",
                              f"features this package does not compute: {unknown[:5]}")
        self._features = features_lib

    # the Predictor interface the CLI and evaluation use
    config = property(lambda self: self.predictor.config)
    task = property(lambda self: self.predictor.task)
    label_names = property(lambda self: self.predictor.label_names)
    per_beat = property(lambda self: False)
    lead = property(lambda self: self.predictor.lead)
    format = property(lambda self: f"stacked({self.predictor.format}+lightgbm)")

    def check_output(self, output) -> None:
        self.predictor.check_output(output)

    def decide(self, probabilities):
        return self.predictor.decide(probabilities)

    def features(self, signal_1d, fs, path="<signal>") -> np.ndarray:
        """The record-feature columns of the booster (NaN where a feature is not computable)."""
        values = self._features.record_features(np.asarray(signal_1d), float(fs), path=path)
        return np.array([float(values[name]) for name in self.stacked.feature_names], np.float64)

    def check_lead(self, lead=None, override: bool = False, path="<signal>") -> bool:
        return self.predictor.check_lead(lead, override, path)

    def predict_signal(self, signal_1d, fs, path="<signal>", output=None, lead=None, lead_override=False,
                       beats=None) -> dict:
        """``Predictor.predict_signal``'s record-level dict with the booster's ``probabilities``,
        ``label`` and ``label_index``; the deep model's own in ``deep_probabilities``."""
        deep = self.predictor.predict_signal(signal_1d, fs, path=path, output=output, lead=lead,
                                             lead_override=lead_override, beats=beats)   # lead and signal checks first
        row = np.concatenate([self.features(signal_1d, fs, path), np.asarray(deep["probabilities"], np.float64)])
        probabilities = self.stacked.predict_proba(row[None, :])[0].astype(np.float32)
        label, index = self.decide(probabilities)
        return dict(deep, probabilities=probabilities, label=label, label_index=index,
                    deep_probabilities=np.asarray(deep["probabilities"], np.float32))


def load_stacked(folder, predictor) -> StackedPredictor:
    """``StackedPredictor`` of a stacked folder around its already loaded deep ``predictor``."""
    return StackedPredictor(predictor, _stacking().StackedClassifier.load(folder), source=str(folder))

"""Run a trained ECG-SL classifier on a raw ECG signal.

    from ecgsl_keras.serving.inference import load_model
    predictor = load_model("runs/finetune/model.keras")      # or an export's saved_model/ or *.tflite
    result = predictor.predict_signal(signal_mv, fs=300)      # 1-D array in millivolts, any rate in range
    result["label"], result["probabilities"], result["attention_weights"], result["beat_times_s"]

Input: one lead as a 1-D array in millivolts, at its own sampling rate ``fs`` (any rate in
``SignalConfig.supported_fs``; it is resampled to ``target_fs``), at least ``min_duration_s`` long
and ``min_beats`` beats. Anything else raises ``SignalQualityError`` (``reason``: ``bad_shape``,
``bad_rate``, ``too_short``, ``nan``, ``flat``, ``clipped``, ``too_few_beats``) before TensorFlow runs.

The signal goes through exactly the preprocessing of training (``ecgsl_keras.data.signal.preprocess``
with the ``SignalConfig`` saved with the model), so a record gives the same probabilities here as
through ``prepare`` -> ``tfrecords_tools.make_dataset`` -> model.

Long recordings: the beat sequence is cut into windows of ``max_beats`` beats, one every
``eval_window_stride`` beats plus one ending at the last beat (the windows of
``make_dataset(training=False)``); the record's probabilities are the mean over windows. Each beat's
attention weight comes from the window whose centre is nearest to that beat (the window that sees
most context on both sides of it); the weights are then divided by their sum so that they form one
distribution over the whole record (with one window they are the model's weights unchanged).
With ``TrainConfig.predict_window_s`` > 0 (the ``cinc2017-edge`` preset: 30 s) a record-level model instead
reads a record longer than that as the end-to-end TFLite file does: signal windows of that length
(``signal.record_window_starts``), each preprocessed and classified alone, probabilities averaged
(``Predictor.predict_signal_windows``).

Per-beat models (task kind ``per_beat``, e.g. the ``mitdb-beats`` preset) give one label per beat
instead of one per record: ``predict_signal`` returns ``beat_labels``, ``beat_probabilities`` (n, C)
and ``beat_times_s``; each beat's probabilities are the mean over the windows that hold it (as
``ecgsl_keras.evaluation.evaluate`` averages TFRecord windows). ``predict_signal(..., output="record")`` on a
per-beat model, or ``output="beats"`` on a record-level one, raises ``ConfigError`` saying so. A
multi-label model is loaded only with its decision thresholds (``ConfigError`` otherwise).

Where the configuration is found: ``ecgsl_metadata.json`` (written by ``ecgsl_keras.serving.export``) or a
run folder's ``config.json`` beside the model file (for a SavedModel folder: inside it, else in the
export folder holding it). The model's task
(label names, kind) comes from the same place; ``load_model(..., config=, task=)`` overrides both.
Every format gets the same input: windows zero-padded to ``max_beats`` beats with a bool padding
mask (the exported signature's fixed beat axis).

Hybrid models (``ecgsl_keras.modeling.hybrid``, a ``record_features`` input; ``Predictor.n_record_features``
> 0): ``predict_signal`` also computes the record's features from the validated raw signal
(``ecgsl_keras.data.prepare.record_feature_vector``, as ``prepare --record-features`` did for training,
with the model's ``SignalConfig``) and gives the same vector to every window; NaN features are passed
as NaN (the model replaces them). Keras, SavedModel and TFLite files alike.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.data.signal import check_quality, preprocess
from ecgsl_keras.errors import ConfigError, ECGSLError
from ecgsl_keras.serving.stacked import load_stacked, stacked_folder
from ecgsl_keras.serving.trust import check_saved_model, check_tflite
from ecgsl_keras.store.runs import CONFIG_NAME, MODEL_NAME, THRESHOLDS_NAME, read_json, resolve_model_arg
from tfrecords_tools import quiet

log = logging.getLogger(__name__)

METADATA_NAME = "ecgsl_metadata.json"
SERVING_SIGNATURE = "serving_default"
# Output names of the exported serving signature (models.attention_model).
PROBABILITIES = "probabilities"
ATTENTION = "attention_weights"
RECORD_FEATURES = "record_features"   # the hybrid classifier's second input (modeling.hybrid)
# Decision threshold on sigmoid outputs of binary tasks (multi-label models need stored thresholds).
SIGMOID_THRESHOLD = 0.5
# What predict_signal is asked for: one label per record, or one per beat.
OUTPUT_RECORD, OUTPUT_BEATS = "record", "beats"


# --- metadata ----------------------------------------------------------------------------------

def _task_from(value, path) -> tasks_lib.Task | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return tasks_lib.get_task(value)
        except ECGSLError as exc:
            raise ConfigError(path, "bad_config", str(exc).split(": ", 1)[-1]) from None
    if isinstance(value, dict):
        try:
            return tasks_lib.Task.from_dict(value)
        except (KeyError, TypeError) as exc:
            raise ConfigError(path, "bad_config", f"task entry is not a valid task ({exc})") from None
    raise ConfigError(path, "bad_config", f"task entry must be a name or an object, got {type(value).__name__}")


def _experiment_from(values: dict, path) -> ExperimentConfig:
    try:
        return ExperimentConfig.from_dict(values)
    except ConfigError as exc:
        raise ConfigError(path, "bad_config", str(exc).split(": ", 1)[-1]) from None


def parse_config_file(path) -> tuple[ExperimentConfig | None, tasks_lib.Task | None]:
    """(ExperimentConfig, Task) from an ``ecgsl_metadata.json`` or a run folder's ``config.json``.

    Accepted layouts: a bare ExperimentConfig (``{"signal", "model", "train"}``), or an object holding
    it under ``experiment_config`` / ``config`` next to a ``task`` (name or ``Task.to_dict()``) or a
    ``label_info`` (``{"task": ...}``, as in a TFRecord manifest).
    """
    path = Path(path)
    values = read_json(path)
    if not isinstance(values, dict):
        raise ConfigError(path, "bad_config", "expected a JSON object")
    task = _task_from(values.get("task"), path)
    if task is None and isinstance(values.get("label_info"), dict):
        task = _task_from(values["label_info"].get("task"), path)
    config_values = None
    for key in ("experiment_config", "config"):
        if isinstance(values.get(key), dict):
            config_values = values[key]
            break
    if config_values is None and {"signal", "model"} <= set(values):
        config_values = {k: values[k] for k in ("signal", "model", "train") if k in values}
    config = _experiment_from(config_values, path) if config_values is not None else None
    return config, task


def _search_folders(model_path: Path) -> tuple:
    """A model file's own folder; a SavedModel folder and the export folder holding it."""
    if model_path.is_dir():
        return model_path, model_path.parent
    return (model_path.parent,)


def find_thresholds(model_path):
    """Per-class decision thresholds of a multi-label model, or None: ``thresholds`` in
    ``ecgsl_metadata.json`` or the run folder's ``thresholds.json`` (chosen on validation data)."""
    for folder in _search_folders(Path(model_path)):
        for name, key in ((METADATA_NAME, "thresholds"), (THRESHOLDS_NAME, "thresholds")):
            path = folder / name
            if path.is_file():
                values = read_json(path)
                if isinstance(values, dict) and values.get(key) is not None:
                    return [float(t) for t in values[key]]
    return None


def find_lead(model_path):
    """The lead the model was trained on (``"lead"`` in ``ecgsl_metadata.json`` or the run folder's
    ``config.json``, written from the TFRecord manifest by training and export), or None when not
    recorded (the model then runs on a record's first lead)."""
    for folder in _search_folders(Path(model_path)):
        for name in (METADATA_NAME, CONFIG_NAME):
            path = folder / name
            if path.is_file():
                values = read_json(path)
                if isinstance(values, dict) and values.get("lead"):
                    return str(values["lead"])
    return None


def find_metadata(model_path) -> tuple[ExperimentConfig, tasks_lib.Task, list]:
    """Config and task for the model at ``model_path``; also the files read (for messages)."""
    model_path = Path(model_path)
    candidates = []
    for folder in _search_folders(model_path):
        for name in (METADATA_NAME, CONFIG_NAME):
            candidates.append(folder / name)
    config, task, used = None, None, []
    for candidate in candidates:
        if not candidate.is_file():
            continue
        found_config, found_task = parse_config_file(candidate)
        if found_config is not None or found_task is not None:
            used.append(str(candidate))
        config = config or found_config
        task = task or found_task
        if config is not None and task is not None:
            break
    return config, task, used


# --- backends: (B, T, L), (B, T, R), (B, T) bool -> probabilities (B, C), attention (B, T) --------

class _KerasBackend:
    """Record-level classifiers: (probabilities (B, C), attention (B, T)). Per-beat classifiers
    (``per_beat=True``, or a model without attention pooling whose output is (B, T, C)):
    (probabilities (B, T, C), None)."""
    name = "keras"

    def __init__(self, model, per_beat=None):
        from ecgsl_keras.modeling import hybrid, models

        self.classifier = model
        self.n_record_features = hybrid.n_record_features(model)
        if per_beat is None:
            per_beat = is_per_beat_model(model)
        self.per_beat = bool(per_beat)
        if self.per_beat:
            self.model = model
            return
        try:
            self.model = models.attention_model(model)
        except ValueError as exc:  # a baseline without attention pooling (the raw-window ResNet)
            raise ConfigError(getattr(model, "name", "<model>"), "bad_model", str(exc)) from None

    def __call__(self, beats, rr, padding_mask, record_features=None):
        inputs = {"beats": beats, "rr": rr, "padding_mask": padding_mask}
        if self.n_record_features:
            inputs[RECORD_FEATURES] = _check_record_features(record_features, len(beats), self.n_record_features)
        out = self.model.predict_on_batch(inputs)
        if self.per_beat:
            return np.asarray(out[PROBABILITIES] if isinstance(out, dict) else out), None
        return np.asarray(out[PROBABILITIES]), np.asarray(out[ATTENTION])


def is_per_beat_model(model) -> bool:
    """Whether a Keras sequence model labels each beat: probabilities (B, T, C), no pooling."""
    output = model.outputs[0] if getattr(model, "outputs", None) else None
    return output is not None and len(output.shape) == 3


class _SavedModelBackend:
    name = "saved_model"

    def __init__(self, path, trust: bool = False):
        import tensorflow as tf

        check_saved_model(path, trust)   # before loading: loading builds the graph, calling runs it
        self._tf = tf
        self.loaded = tf.saved_model.load(str(path))
        if SERVING_SIGNATURE not in self.loaded.signatures:
            raise ConfigError(path, "bad_model", f"SavedModel has no {SERVING_SIGNATURE!r} signature "
                                                 f"(has {sorted(self.loaded.signatures)})")
        self.signature = self.loaded.signatures[SERVING_SIGNATURE]
        spec = self.signature.structured_input_signature[1].get(RECORD_FEATURES)
        self.n_record_features = int(spec.shape[-1]) if spec is not None else 0

    def __call__(self, beats, rr, padding_mask, record_features=None):
        tf = self._tf
        extra = {}
        if self.n_record_features:
            extra[RECORD_FEATURES] = tf.constant(_check_record_features(record_features, len(beats),
                                                                        self.n_record_features), tf.float32)
        out = self.signature(beats=tf.constant(beats, tf.float32), rr=tf.constant(rr, tf.float32),
                             padding_mask=tf.constant(padding_mask, tf.bool), **extra)
        attention = out.get(ATTENTION)   # per-beat exports have no attention output
        return out[PROBABILITIES].numpy(), None if attention is None else attention.numpy()


class _TFLiteBackend:
    name = "tflite"

    def __init__(self, path, num_threads=None, trust: bool = False):
        from ecgsl_keras.errors import import_extra

        Interpreter = import_extra("ai_edge_litert.interpreter", "litert",
                                   f"running the TFLite model {path}").Interpreter
        check_tflite(path, trust)

        try:
            with quiet.filtered_stderr():   # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
                self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
                self.interpreter.allocate_tensors()   # applies the delegate now, inside the filter
                self.runner = self.interpreter.get_signature_runner(SERVING_SIGNATURE)
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(path, "bad_model", f"LiteRT cannot load this model ({exc})") from None
        self.input_details = self.runner.get_input_details()
        self.dtypes = {name: detail["dtype"] for name, detail in self.input_details.items()}
        detail = self.input_details.get(RECORD_FEATURES)
        self.n_record_features = int(detail["shape"][-1]) if detail is not None else 0

    def __call__(self, beats, rr, padding_mask, record_features=None):
        # The signature runner resizes the batch dimension itself when it changes.
        extra = {}
        if self.n_record_features:
            extra[RECORD_FEATURES] = np.asarray(_check_record_features(record_features, len(beats),
                                                                       self.n_record_features),
                                                self.dtypes[RECORD_FEATURES])
        out = self.runner(beats=np.asarray(beats, self.dtypes["beats"]), rr=np.asarray(rr, self.dtypes["rr"]),
                          padding_mask=np.asarray(padding_mask, self.dtypes["padding_mask"]), **extra)
        attention = out.get(ATTENTION)   # per-beat exports have no attention output
        return np.asarray(out[PROBABILITIES]), None if attention is None else np.asarray(attention)


def _check_record_features(record_features, batch: int, n: int) -> np.ndarray:
    """(batch, n) float32 record features of a hybrid model: one vector (n,) is repeated for every
    window; NaN is kept (the model replaces it, ``modeling.hybrid``)."""
    if record_features is None:
        raise ConfigError("<model>", "bad_input", f"this hybrid model needs its {n} record features "
                                                  "(predict_signal computes them from the signal)")
    x = np.asarray(record_features, np.float32)
    if x.ndim == 1:
        x = np.broadcast_to(x, (batch, x.shape[0]))
    if x.shape != (batch, n):
        raise ConfigError("<model>", "bad_input", f"record features of shape {x.shape}, the model takes ({batch}, {n})")
    return np.ascontiguousarray(x)


# --- windows -----------------------------------------------------------------------------------

def window_starts(n_beats: int, max_beats: int, stride: int) -> list[int]:
    """First beat of each evaluation window (as ``make_dataset(training=False)``): every ``stride``
    beats, plus one window ending at the last beat, so that the windows cover every beat."""
    length = min(n_beats, max_beats)
    last = n_beats - length
    return list(range(0, last, stride)) + [last]


def pad_windows(beats: np.ndarray, rr: np.ndarray, starts, max_beats: int):
    """Stack windows of ``max_beats`` beats, zero-padded, with the padding mask (True on real beats)."""
    n, beat_len = beats.shape
    n_rr = rr.shape[1]
    length = min(n, max_beats)
    out_beats = np.zeros((len(starts), max_beats, beat_len), np.float32)
    out_rr = np.zeros((len(starts), max_beats, n_rr), np.float32)
    mask = np.zeros((len(starts), max_beats), bool)
    for i, start in enumerate(starts):
        out_beats[i, :length] = beats[start:start + length]
        out_rr[i, :length] = rr[start:start + length]
        mask[i, :length] = True
    return out_beats, out_rr, mask


def combine_attention(attention: np.ndarray, starts, n_beats: int, max_beats: int) -> np.ndarray:
    """Per-beat attention over the whole record from per-window weights (B, max_beats).

    Each beat takes its weight from the window whose centre is nearest to it (ties: the earlier
    window); the result is renormalised to sum to 1.
    """
    length = min(n_beats, max_beats)
    starts = np.asarray(starts)
    centres = starts + (length - 1) / 2.0
    beat_index = np.arange(n_beats)
    inside = (beat_index[:, None] >= starts[None, :]) & (beat_index[:, None] < starts[None, :] + length)
    distance = np.where(inside, np.abs(beat_index[:, None] - centres[None, :]), np.inf)
    window = np.argmin(distance, axis=1)
    weights = attention[window, beat_index - starts[window]].astype(np.float64)
    total = weights.sum()
    return (weights / total if total > 0 else weights).astype(np.float32)


class Predictor:
    """A loaded model plus the preprocessing it was trained with.

    ``backend`` is a callable ``(beats, rr, padding_mask) -> (probabilities, attention)`` on padded
    batches of ``max_beats`` beats; ``config`` the ``ExperimentConfig``; ``task`` the ``Task``.
    """

    def __init__(self, backend, config: ExperimentConfig, task: tasks_lib.Task, source: str = "", thresholds=None,
                 lead=None):
        if thresholds is not None and len(thresholds) != task.num_classes:
            raise ConfigError(source or "<model>", "bad_config",
                              f"{len(thresholds)} thresholds for {task.num_classes} classes of task {task.name}")
        self.thresholds = None if thresholds is None else np.asarray(thresholds, np.float64)
        self.backend = backend
        self.config = config
        self.task = task
        self.source = str(source)
        self.lead = lead   # the lead the model was trained on (None: not recorded)
        self.max_beats = int(config.model.max_beats)
        self.window_stride = min(int(config.train.eval_window_stride), self.max_beats)
        self.signal_window_s = float(config.train.predict_window_s)   # 0: the whole record

    @property
    def format(self) -> str:
        return self.backend.name

    @property
    def per_beat(self) -> bool:
        """Whether the model labels each beat (``predict_signal`` returns one label per beat)."""
        return self.task.kind == tasks_lib.PER_BEAT

    def check_output(self, output) -> None:
        """Refuse a record-level label from a per-beat model, and per-beat labels from a record-level
        one: ``output`` is ``"record"``, ``"beats"`` or None (the model's own)."""
        if output not in (None, OUTPUT_RECORD, OUTPUT_BEATS):
            raise ConfigError(self.source or "<model>", "bad_config",
                              f"output must be {OUTPUT_RECORD!r} or {OUTPUT_BEATS!r}, got {output!r}")
        if output == OUTPUT_RECORD and self.per_beat:
            raise ConfigError(self.source or "<model>", "bad_task",
                              f"this model labels each beat (task {self.task.name}, {list(self.task.label_names)}); "
                              f"it gives no record-level label: ask for {OUTPUT_BEATS!r} (predict --output beats)")
        if output == OUTPUT_BEATS and not self.per_beat:
            raise ConfigError(self.source or "<model>", "bad_task",
                              f"this model gives one label per record (task {self.task.name}, {self.task.kind}); "
                              f"it has no per-beat labels: ask for {OUTPUT_RECORD!r} (predict --output record)")

    @property
    def label_names(self) -> tuple:
        return tuple(self.task.label_names)

    @property
    def n_record_features(self) -> int:
        """F of a hybrid model's ``record_features`` input; 0 for the other models."""
        return int(getattr(self.backend, "n_record_features", 0) or 0)

    def record_features(self, signal, fs, path="<signal>") -> np.ndarray:
        """The hybrid model's second input for one raw signal (mV, native rate): exactly what
        ``prepare --record-features`` stores (``data.prepare.record_feature_vector`` with the model's
        ``SignalConfig``), NaN kept."""
        from ecgsl_keras.data.prepare import record_feature_vector

        x = record_feature_vector(signal, float(fs), self.config.signal, path=path)
        if x.shape[0] != self.n_record_features:
            raise ConfigError(self.source or "<model>", "bad_model",
                              f"the model takes {self.n_record_features} record features, this package computes "
                              f"{x.shape[0]} (data.record_features changed since it was trained?)")
        return x

    def predict_batch(self, beats, rr, padding_mask, record_features=None):
        """Model outputs for padded windows: probabilities (B, C), attention (B, max_beats).
        ``record_features`` (F,) or (B, F): a hybrid model's second input (ignored by the others)."""
        extra = {"record_features": record_features} if self.n_record_features else {}
        return self.backend(np.asarray(beats, np.float32), np.asarray(rr, np.float32), np.asarray(padding_mask, bool),
                            **extra)

    def decide(self, probabilities: np.ndarray):
        """(label, label_index) of one probability vector, per the task's kind."""
        p = np.asarray(probabilities).reshape(-1)
        if self.task.kind == tasks_lib.MULTICLASS:
            index = int(np.argmax(p))
            return self.task.label_names[index], index
        if self.task.kind == tasks_lib.BINARY:
            index = int(p[-1] >= SIGMOID_THRESHOLD)
            return self.task.label_names[index], index
        thresholds = SIGMOID_THRESHOLD if self.thresholds is None else self.thresholds
        indices = [int(i) for i in np.flatnonzero(p >= thresholds)]
        return [self.task.label_names[i] for i in indices], indices

    def preprocess(self, signal, fs, path="<signal>"):
        """Validated signal -> ``ecgsl_keras.data.signal.Beats`` (the training preprocessing)."""

        signal = check_signal(signal, fs, self.config.signal, path)
        return preprocess(signal, float(fs), self.config.signal, path=path)

    def predict_beats(self, beats: np.ndarray, rr: np.ndarray, record_features=None):
        """Probabilities (C,) averaged over windows, per-beat attention (n,), and the window starts.
        ``record_features`` (F,): a hybrid model's record vector, given to every window."""
        n_beats = beats.shape[0]
        starts = window_starts(n_beats, self.max_beats, self.window_stride)
        batch_beats, batch_rr, mask = pad_windows(beats, rr, starts, self.max_beats)
        probabilities, attention = self.predict_batch(batch_beats, batch_rr, mask, record_features)
        mean = np.asarray(probabilities, np.float64).mean(axis=0).astype(np.float32)
        return mean, combine_attention(np.asarray(attention), starts, n_beats, self.max_beats), starts

    def predict_beat_probabilities(self, beats: np.ndarray, rr: np.ndarray):
        """Per-beat model: probabilities (n, C), each beat's mean over the windows holding it (as
        ``ecgsl_keras.evaluation.evaluate.aggregate`` does for TFRecords), and the window starts."""
        n_beats = beats.shape[0]
        starts = window_starts(n_beats, self.max_beats, self.window_stride)
        batch_beats, batch_rr, mask = pad_windows(beats, rr, starts, self.max_beats)
        probabilities, _ = self.predict_batch(batch_beats, batch_rr, mask)
        probabilities = np.asarray(probabilities, np.float64)
        sums = np.zeros((n_beats, probabilities.shape[-1]), np.float64)
        counts = np.zeros(n_beats, np.float64)
        length = min(n_beats, self.max_beats)
        for i, start in enumerate(starts):
            sums[start:start + length] += probabilities[i, :length]
            counts[start:start + length] += 1
        return (sums / counts[:, None]).astype(np.float32), starts

    def signal_windows(self, n_samples: int, fs):
        """``[(a, b), ...]``: the native-rate sample ranges of the signal windows ``predict_signal`` classifies a
        record of ``n_samples`` samples at ``fs`` Hz in (``TrainConfig.predict_window_s``), placed as the
        end-to-end file places them (``signal.record_window_starts`` on the record resampled to
        ``target_fs``); None when the record is classified whole (option off, or one window)."""
        from ecgsl_keras.data.filters import resampled_length
        from ecgsl_keras.data.signal import record_window_starts

        try:
            fs = float(fs)
        except (TypeError, ValueError):
            return None                   # the whole-record path refuses it (bad_rate)
        if self.signal_window_s <= 0 or not n_samples or not np.isfinite(fs) or fs <= 0:
            return None
        rate = float(self.config.signal.target_fs)
        window = int(round(self.signal_window_s * rate))
        starts = record_window_starts(resampled_length(n_samples, fs, rate), window)
        if len(starts) == 1:
            return None
        return [(int(round(start * fs / rate)), min(int(round((start + window) * fs / rate)), n_samples))
                for start in starts]

    def predict_signal_windows(self, signal_1d, fs, path="<signal>") -> dict:
        """A record-level model on a record longer than ``TrainConfig.predict_window_s``: each signal window
        (``signal_windows``) preprocessed and classified on its own, the probabilities averaged over the
        windows that pass the signal checks (a refused window is skipped, as the file's ``valid == 0``;
        all refused: the first window's ``SignalQualityError``). Beats two windows found (the last window
        overlaps) are kept once, from the earlier window (``signal.merge_window_peaks``, 0.5% of a window);
        each window's attention weights count 1 / windows, renormalised over the record's beats."""
        from ecgsl_keras.data.signal import merge_window_peaks
        from ecgsl_keras.errors import SignalQualityError

        fs = float(fs)
        ranges = self.signal_windows(len(signal_1d), fs)
        tolerance = max(1, (ranges[0][1] - ranges[0][0]) // 200)
        probabilities, times, weights, first_error = [], np.zeros(0, np.int64), [], None
        for a, b in ranges:
            part = signal_1d[a:b]
            try:
                beats = self.preprocess(part, fs, path)
            except SignalQualityError as exc:
                first_error = first_error or exc
                continue
            features = self.record_features(part, fs, path) if self.n_record_features else None
            p, attention, _ = self.predict_beats(beats.beats, beats.rr, features)
            probabilities.append(np.asarray(p, np.float64))
            peaks = np.rint(np.asarray(beats.rpeaks, np.float64) * fs / float(beats.fs)).astype(np.int64) + a
            keep = merge_window_peaks(times, peaks, tolerance)
            times = np.concatenate([times, peaks[keep]])
            weights.append(np.asarray(attention, np.float64)[keep])
        if not probabilities:
            raise first_error
        mean = np.mean(probabilities, axis=0).astype(np.float32)
        weights = np.concatenate(weights) / len(probabilities)
        order = np.argsort(times, kind="stable")
        total = weights.sum()
        return self._record_result(mean, times[order] / fs,
                                   (weights[order] / total if total > 0 else weights[order]).astype(np.float32),
                                   len(probabilities))

    def _record_result(self, probabilities, beat_times_s, attention, n_windows) -> dict:
        """``predict_signal``'s record-level dict (see there)."""
        label, index = self.decide(probabilities)
        return {
            "probabilities": probabilities,
            "label": label,
            "label_index": index,
            "label_names": list(self.task.label_names),
            "beat_times_s": np.asarray(beat_times_s, np.float64).astype(np.float32),
            "attention_weights": attention,
            "n_beats": int(len(beat_times_s)),
            "n_windows": int(n_windows),
        }

    def check_lead(self, lead=None, override: bool = False, path="<signal>") -> bool:
        """The lead rule (``ecgsl_keras.data.readers.choose_lead``) for a signal of lead ``lead``:
        refuse (``RecordError``, reason ``wrong_lead``) a lead other than the model's, unless
        ``override``; a signal of unknown or unnamed lead (``lead`` None, ``"ECG"``) is accepted.
        Returns True when the model runs on another lead on purpose."""
        from ecgsl_keras.data.readers import choose_lead

        if lead is None:
            return False
        _, overridden = choose_lead([lead], self.lead, lead if override else None, path)
        return overridden

    def predict_signal(self, signal_1d, fs, path="<signal>", output=None, lead=None, lead_override=False,
                       beats=None) -> dict:
        """Classify one raw single-lead ECG (1-D, millivolts, sampled at ``fs`` Hz).

        ``lead``: the signal's lead name, checked against the lead the model was trained on
        (``self.lead``): another lead raises ``RecordError`` (reason ``wrong_lead``) naming both,
        unless ``lead_override``; None or an unnamed lead (``"ECG"``) is accepted.
        ``beats``: ``self.preprocess(signal_1d, fs)`` already computed (e.g. in worker processes,
        ``serving.folder``); the signal is then not preprocessed again.
        With ``TrainConfig.predict_window_s`` > 0 (the ``cinc2017-edge`` preset: 30), a record-level model
        classifies a record longer than that in signal windows as the end-to-end file does
        (``predict_signal_windows``; ``beats`` is then not used); ``n_windows`` counts the signal windows.

        Record-level model: ``probabilities`` (C,) float32, ``label`` (name; a list of names for
        multi-label tasks), ``label_index``, ``label_names``, ``beat_times_s`` (n,) R-peak times in
        seconds, ``attention_weights`` (n,) summing to 1, ``n_beats``, ``n_windows``.

        Per-beat model: one label per detected beat, ``beat_labels`` (n,) names,
        ``beat_label_indices`` (n,), ``beat_probabilities`` (n, C), ``beat_times_s`` (n,),
        ``label_counts`` (name -> beats), ``label_names``, ``n_beats``, ``n_windows``.

        ``output``: ``"record"`` or ``"beats"`` to insist on one kind of answer; asking a per-beat
        model for a record label (or the reverse) raises ``ConfigError``.
        Raises ``SignalQualityError`` for unusable input (wrong rank, NaN, too short, flat,
        unsupported rate, too few beats).
        """
        self.check_output(output)
        self.check_lead(lead, lead_override, path)
        if not self.per_beat and np.ndim(signal_1d) == 1 and self.signal_windows(len(signal_1d), fs) is not None:
            return self.predict_signal_windows(signal_1d, fs, path)   # TrainConfig.predict_window_s
        beats = self.preprocess(signal_1d, fs, path) if beats is None else beats
        features = self.record_features(signal_1d, fs, path) if self.n_record_features else None
        if self.per_beat:
            probabilities, starts = self.predict_beat_probabilities(beats.beats, beats.rr)
            indices = np.argmax(probabilities, axis=-1)
            labels = [self.task.label_names[int(i)] for i in indices]
            return {
                "beat_labels": labels,
                "beat_label_indices": indices.astype(np.int64),
                "beat_probabilities": probabilities,
                "beat_times_s": (np.asarray(beats.rpeaks, np.float64) / float(beats.fs)).astype(np.float32),
                "label_counts": {name: int(labels.count(name)) for name in self.task.label_names},
                "label_names": list(self.task.label_names),
                "n_beats": int(beats.beats.shape[0]),
                "n_windows": len(starts),
            }
        probabilities, attention, starts = self.predict_beats(beats.beats, beats.rr, features)
        return self._record_result(probabilities, np.asarray(beats.rpeaks, np.float64) / float(beats.fs), attention,
                                   len(starts))


def check_signal(signal, fs, signal_config, path="<signal>") -> np.ndarray:
    """The input checks of training (``signal.check_quality``: rank, dtype, rate, length, NaN, flat,
    clipping), then float32 millivolts as the data set readers give them."""

    check_quality(signal, fs, signal_config, path)
    return np.asarray(signal, np.float32)


# --- loading -----------------------------------------------------------------------------------

def _kind_of(path: Path) -> str:
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "saved_model"
        if (path / "saved_model" / "saved_model.pb").is_file():
            return "export_dir"
        if (path / MODEL_NAME).is_file():   # a run or preset folder: its model.keras
            return "model_dir"
        raise ConfigError(path, "bad_model", f"folder holds no SavedModel (saved_model.pb) and no {MODEL_NAME}")
    if path.suffix == ".keras":
        return "keras"
    if path.suffix == ".tflite":
        return "tflite"
    raise ConfigError(path, "bad_model", "expected a .keras file, a SavedModel folder or a .tflite file")


def load_model(path, *, config: ExperimentConfig | None = None, task: tasks_lib.Task | str | None = None,
               num_threads: int | None = None, trust: bool = False) -> Predictor:
    """A ``Predictor`` for a ``.keras`` file, a SavedModel folder (or an export folder) or a ``.tflite``.

    ``config`` / ``task`` override what is found beside the model (see the module docstring).
    ``num_threads`` sets the LiteRT interpreter's threads (``.tflite`` only). Multi-label models use
    the per-class thresholds saved with them (``thresholds.json`` of the run, ``thresholds`` of an
    export's metadata); one without is refused (``ConfigError``, reason ``missing_thresholds``).
    A ``.keras`` in a stacked folder (``stacking.json`` + ``booster.txt`` beside it) gives a
    ``serving.stacked.StackedPredictor``: the deep model, then the booster over record features and
    its probabilities.
    ``trust``: skip the op allow-list of SavedModels and ``.tflite`` files (``ecgsl_keras.serving.trust``);
    without it a model that could run file, process or Python ops is refused (``ConfigError``, reason
    ``untrusted_model``) before it is loaded. ``.keras`` files are always loaded in Keras' safe mode.
    """

    path = resolve_model_arg(path)   # a pretrained model name -> its model.keras (config.json beside it)
    if not path.exists():
        raise ConfigError(path, "missing_file", "model file or folder not found")
    kind = _kind_of(path)
    if kind == "export_dir":
        path, kind = path / "saved_model", "saved_model"
    elif kind == "model_dir":
        path, kind = path / MODEL_NAME, "keras"
    found_config, found_task, used = find_metadata(path)
    config = config or found_config
    if isinstance(task, str):
        task = tasks_lib.get_task(task)
    task = task or found_task
    if config is None or task is None:
        missing = " and ".join(name for name, value in (("config", config), ("task", task)) if value is None)
        raise ConfigError(path, "missing_config",
                          f"no {missing} found for this model (looked for {METADATA_NAME} and {CONFIG_NAME} in "
                          f"{[str(f) for f in _search_folders(path)]}; read: {used or 'none'}); "
                          "pass config=/task= (--config/--task)")
    if kind == "keras":
        from ecgsl_keras.modeling.files import load_keras_model

        model = load_keras_model(path)
        backend = _KerasBackend(model, per_beat=task.kind == tasks_lib.PER_BEAT)
    elif kind == "saved_model":
        backend = _SavedModelBackend(path, trust=trust)
    else:
        backend = _TFLiteBackend(path, num_threads=num_threads, trust=trust)
    thresholds = None
    if task.kind == tasks_lib.MULTILABEL:
        thresholds = find_thresholds(path)
        if thresholds is None:
            raise ConfigError(path, "missing_thresholds",
                              f"multi-label model (task {task.name}) without stored decision thresholds: no "
                              f"'thresholds' in {METADATA_NAME} nor a {THRESHOLDS_NAME} beside it (looked in "
                              f"{[str(f) for f in _search_folders(path)]}). Thresholds are chosen on validation "
                              "data when the model is trained (ecgsl_keras.training.trainer writes thresholds.json)")
    predictor = Predictor(backend, config, task, source=str(path), thresholds=thresholds, lead=find_lead(path))
    folder = stacked_folder(path) if kind == "keras" else None
    return load_stacked(folder, predictor) if folder else predictor   # booster over features + deep outputs


def to_jsonable(result: dict) -> dict:
    """``predict_signal``'s dict with arrays as lists (floats rounded to 6 digits)."""
    out = {}
    for key, value in result.items():
        if isinstance(value, np.ndarray) and value.ndim == 2:   # per-beat probabilities (n, C)
            value = [[round(float(v), 6) for v in row] for row in value]
        elif isinstance(value, np.ndarray) and value.dtype.kind in "iu":
            value = [int(v) for v in value.reshape(-1)]
        elif isinstance(value, np.ndarray):
            value = [round(float(v), 6) for v in value.reshape(-1)]
        elif isinstance(value, (np.floating, np.integer)):
            value = value.item()
        out[key] = value
    return out

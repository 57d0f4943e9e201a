"""Classify a WFDB record window by window with the end-to-end TFLite file: LiteRT + numpy only.

    python examples/edge/classify_record.py --model exports/cinc2017/model_end_to_end_int8.tflite \
        --record /path/to/A00001 [--lead MLII]

No TensorFlow, no neurokit2, no ecgsl_keras: what a device needs is the .tflite file and the input
contract in ``end_to_end.json`` (written beside it by ``python -m ecgsl_keras.export --end-to-end``):
one lead in millivolts at ``input.rate_hz``, at most ``input.max_samples`` samples per call. The record
is resampled here (windowed-sinc low-pass + linear interpolation, numpy), cut into windows of
``max_samples`` (the last one ending at the end of the record), and each window goes through the
``end_to_end`` signature: beat detection, segmentation and classification happen inside the model.
``wfdb`` only reads the files (it does not import TensorFlow). Prints one JSON object: per window
label, probabilities, beats, status; and the record's label from the mean of the valid windows.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "μv": 1e-3, "v": 1e3}


def quiet_interpreter(model_path: str, num_threads=None) -> Interpreter:
    """The LiteRT interpreter, created with file descriptor 2 caught so that its start-up line
    ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") is dropped; other lines are kept."""
    import os
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            interpreter = Interpreter(model_path=model_path, num_threads=num_threads)
            interpreter.allocate_tensors()   # the delegate is applied here
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if "Created TensorFlow Lite XNNPACK delegate" not in line]
            if kept:
                os.write(2, "".join(kept).encode("utf-8", "replace"))
    return interpreter


def read_lead(record_path: str, lead: str | None):
    """(float32 mV signal, fs) of one lead of a WFDB record."""
    import wfdb

    record = wfdb.rdrecord(record_path)
    names = list(record.sig_name)
    index = names.index(lead) if lead else 0
    scale = UNIT_TO_MV.get((record.units[index] or "mV").strip().lower(), 1.0)
    return (record.p_signal[:, index] * scale).astype(np.float32), float(record.fs)


def resample(x: np.ndarray, fs: float, rate: float) -> np.ndarray:
    """Resample to ``rate``: a Hann-windowed sinc low-pass at 0.45 * min(fs, rate), then linear interpolation."""
    if fs == rate:
        return x.astype(np.float32)
    x = np.nan_to_num(np.asarray(x, np.float64))
    if rate < fs:
        cutoff = 0.45 * rate / fs                      # cycles per input sample
        half = int(np.ceil(4.0 / cutoff))
        n = np.arange(-half, half + 1)
        h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hanning(2 * half + 1)
        x = np.convolve(x, h / h.sum(), mode="same")
    t = np.arange(int(np.ceil(len(x) * rate / fs))) / rate
    return np.interp(t, np.arange(len(x)) / fs, x).astype(np.float32)


def window_starts(n_samples: int, window: int) -> list:
    if n_samples <= window:
        return [0]
    last = n_samples - window
    return list(range(0, last, window)) + [last]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model_end_to_end_{int8,float32}.tflite")
    p.add_argument("--metadata", help="end_to_end.json (default: beside the model)")
    p.add_argument("--record", required=True, help="WFDB record path without extension")
    p.add_argument("--lead", help="lead name (default: the first)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    meta = json.loads(Path(args.metadata or Path(args.model).with_name("end_to_end.json")).read_text())
    rate, window = float(meta["input"]["rate_hz"]), int(meta["input"]["max_samples"])
    labels = meta["outputs"]["probabilities"]["labels"]
    status_names = {int(k): v for k, v in meta["outputs"]["status"]["codes"].items()}

    signal, fs = read_lead(args.record, args.lead)
    x = resample(signal, fs, rate)
    interpreter = quiet_interpreter(args.model, num_threads=args.threads)
    run = interpreter.get_signature_runner(meta["signature"])
    windows, valid_probabilities = [], []
    for start in window_starts(len(x), window):
        out = run(**{meta["input"]["name"]: x[start:start + window]})
        peaks = out["rpeaks"][out["rpeak_mask"]] + start
        entry = {"start_s": round(start / rate, 2), "status": status_names[int(out["status"])],
                 "n_beats": int(out["n_beats"]), "rpeaks_s": [round(float(v) / rate, 2) for v in peaks]}
        if int(out["valid"]):
            probabilities = np.asarray(out["probabilities"], np.float64)
            valid_probabilities.append(probabilities)
            entry.update(label=labels[int(np.argmax(probabilities))],
                         probabilities=dict(zip(labels, np.round(probabilities, 4).tolist())))
        windows.append(entry)
    result = {"record": args.record, "fs": fs, "model": args.model, "windows": windows}
    if valid_probabilities:
        mean = np.mean(valid_probabilities, axis=0)
        result.update(label=labels[int(np.argmax(mean))], probabilities=dict(zip(labels, np.round(mean, 4).tolist())))
    else:
        result.update(label=None, probabilities=None)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

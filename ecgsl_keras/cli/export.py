"""``ecgsl export`` (and ``python -m ecgsl_keras.export``): the command line of ``ecgsl_keras.serving.export``."""
from __future__ import annotations

import argparse
import sys

from ecgsl_keras.cli import runner
from ecgsl_keras.config import ExperimentConfig, ExportConfig
from ecgsl_keras.serving import edge
from ecgsl_keras.serving.export import TFLITE_FORMATS, export_model  # no TensorFlow at import


def build_parser() -> argparse.ArgumentParser:
    defaults = ExportConfig()
    p = runner.make_parser("export", runner.describe("ecgsl_keras.serving.export"))
    p.add_argument("--model", required=True, help=".keras classifier (its run folder's config.json is read) or a "
                                                   "pretrained model name (ecgsl_keras.store.presets)")
    p.add_argument("--out", required=True, help="export folder (must not exist unless --overwrite)")
    p.add_argument("--tflite", nargs="*", choices=TFLITE_FORMATS, default=list(defaults.tflite_formats),
                   help="TFLite formats to write (default: all; none: SavedModel only)")
    p.add_argument("--int8-mode", choices=["full", "dynamic"], default=defaults.int8_mode,
                   help="full: int8 weights and activations; dynamic: int8 weights only")
    p.add_argument("--representative-data", help="TFRecord folder (from ecgsl_keras.data.prepare) for int8 calibration "
                                                 "and the parity check (default: the embedded CinC sample)")
    p.add_argument("--examples", type=int, default=defaults.examples, help="windows for calibration and parity")
    p.add_argument("--config", help="ExperimentConfig JSON (default: config.json beside the model)")
    p.add_argument("--task", help="task name (default: from the model's config)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--end-to-end", action="store_true",
                   help="also write model_end_to_end_{float32,int8}.tflite and saved_model_end_to_end/: raw ECG window "
                        "-> diagnosis, beat detection and segmentation inside the graph (ecgsl_keras.serving.edge)")
    p.add_argument("--window-s", type=float, default=30.0, help="end-to-end input window in seconds (default 30)")
    p.add_argument("--input-rate", type=float, default=None,
                   help="end-to-end input rate in Hz: the model's target_fs (default) or an integer multiple of it")
    p.add_argument("--clean-rate", type=float, default=None,
                   help="end-to-end: the records' native rate in Hz, at which the Python path cleans them; the "
                        "in-graph filters reproduce its cleaning at that rate (default: the input rate when above "
                        "target_fs, else the task's native rate, e.g. 300 for cinc2017)")
    return p


def main(argv=None) -> int:
    return runner.run(build_parser, _run, argv)


def _run(args, parser) -> int:
    config = ExperimentConfig.load(args.config) if args.config else None
    export_config = ExportConfig(int8_mode=args.int8_mode)
    end_to_end = None
    if args.end_to_end:
        end_to_end = edge.EdgeConfig(window_s=args.window_s, input_rate=args.input_rate, clean_rate=args.clean_rate)
    report = export_model(args.model, args.out, formats=args.tflite, representative_data=args.representative_data,
                          examples=args.examples, overwrite=args.overwrite, config=config, task=args.task,
                          export_config=export_config, end_to_end=end_to_end)
    runner.print_result(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

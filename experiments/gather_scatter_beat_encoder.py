"""Issue 22, item 2: does running the beat encoder on the real beats only (gather by the padding
mask, encode, scatter back) pay on top of length-aware batches?

    python experiments/gather_scatter_beat_encoder.py --data PREPARED [--batches 40 --repeats 3]

Takes ``--batches`` real training batches of each path (length-aware and fixed, from
``make_dataset``), and times a training step of the beat encoder part of the temporal encoder
(forward + gradient of a scalar of its (B, T, embed_dim) output) both ways: on all B x T beats
(``FlattenBeats`` as the models do), and on the real beats only (``tf.boolean_mask`` / ``tf.where``
gather, ``tf.scatter_nd`` back). Checks the outputs on real beats are identical, prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from ecgsl_keras.config import ModelConfig
    from ecgsl_keras.modeling import models
    from tfrecords_tools import make_dataset

    cfg = ModelConfig()
    encoder = models.build_beat_encoder(cfg)

    def all_beats(beats, mask):
        flat = tf.reshape(beats, [-1, cfg.beat_len])
        out = encoder(flat, training=True)
        return tf.reshape(out, tf.concat([tf.shape(beats)[:2], [cfg.embed_dim]], 0))

    def real_beats(beats, mask):
        index = tf.where(mask)                                  # (n_real, 2)
        out = encoder(tf.gather_nd(beats, index), training=True)
        shape = tf.concat([tf.shape(beats, out_type=tf.int64)[:2], [cfg.embed_dim]], 0)
        return tf.scatter_nd(index, out, shape)

    def step_fn(body):
        @tf.function(reduce_retracing=True)
        def step(beats, mask):
            with tf.GradientTape() as tape:
                out = body(beats, mask)
                loss = tf.reduce_sum(out * tf.cast(mask, out.dtype)[:, :, None])
            return out, tape.gradient(loss, encoder.trainable_variables)
        return step

    steps = {"all_beats": step_fn(all_beats), "real_beats": step_fn(real_beats)}
    result = {"batch_size": args.batch_size, "batches": args.batches, "load_average_before": os.getloadavg()}
    for path, aware in (("length_aware", True), ("fixed", False)):
        ds = make_dataset(args.data, split="train", training=True, batch_size=args.batch_size, seed=0,
                          target="none", length_aware=aware).take(args.batches)
        batches = [(f["beats"], f["padding_mask"]) for f in ds]
        real = sum(int(m.numpy().sum()) for _, m in batches)
        slots = sum(int(np.prod(m.shape)) for _, m in batches)
        entry = {"padding_percent": round(100 * (1 - real / slots), 1)}
        for name, step in steps.items():
            for b, m in batches[:3]:
                step(b, m)                                      # trace
        a, _ = steps["all_beats"](*batches[0])
        r, _ = steps["real_beats"](*batches[0])
        mask = batches[0][1].numpy()
        entry["max_abs_difference_on_real_beats"] = float(np.abs(a.numpy()[mask] - r.numpy()[mask]).max())
        seconds = {name: [] for name in steps}
        cpu = {name: [] for name in steps}
        for _ in range(args.repeats):          # the two variants in alternation: load changes hit both
            for name, step in steps.items():
                start, cpu_start = time.perf_counter(), time.process_time()
                for b, m in batches:
                    step(b, m)
                seconds[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - cpu_start)
        for name in steps:
            entry[f"{name}_ms_per_batch"] = round(1000 * float(np.median(seconds[name])) / len(batches), 2)
            entry[f"{name}_ms_per_batch_range"] = [round(1000 * s / len(batches), 2)
                                                   for s in (min(seconds[name]), max(seconds[name]))]
            entry[f"{name}_cpu_ms_per_batch"] = round(1000 * float(np.median(cpu[name])) / len(batches), 2)
        entry["real_over_all_speedup"] = round(entry["all_beats_ms_per_batch"] / entry["real_beats_ms_per_batch"], 3)
        entry["real_over_all_speedup_cpu"] = round(entry["all_beats_cpu_ms_per_batch"]
                                                   / entry["real_beats_cpu_ms_per_batch"], 3)
        result[path] = entry
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The 1-D ResNet baseline on the raw window (the paper's comparison model)."""
from __future__ import annotations

import keras

from ecgsl_keras.config import ModelConfig
from ecgsl_keras.modeling.beat_encoder import _check_config
from ecgsl_keras.modeling.classifier import _output_layer

# --- baseline: 1-D ResNet on the raw window --------------------------------------------------

def build_resnet1d(cfg: ModelConfig, task, input_samples=None) -> keras.Model:
    """The "resnet1d_baseline" model: raw window (B, input_samples, 1) -> ``probabilities`` (same heads as the
    classifier). A stem conv, then ``cfg.resnet_blocks`` residual blocks (two Conv1D + BatchNorm,
    stride 2, filters ``resnet_filters * 2**(i // 2)``), global average pooling. ``input_samples``
    None accepts any length."""
    _check_config(cfg)
    output_layer = _output_layer(task)
    signal = keras.Input((input_samples, 1), name="signal")
    x = keras.layers.Conv1D(cfg.resnet_filters, 15, strides=2, padding="same", use_bias=False, name="stem_conv")(signal)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.Activation("relu", name="stem_relu")(x)
    for i in range(1, cfg.resnet_blocks + 1):
        filters = cfg.resnet_filters * 2 ** ((i - 1) // 2)
        shortcut = x
        y = keras.layers.Conv1D(filters, cfg.conv_kernel, strides=2, padding="same", use_bias=False,
                                name=f"block_{i}_conv_1")(x)
        y = keras.layers.BatchNormalization(name=f"block_{i}_bn_1")(y)
        y = keras.layers.Activation("relu", name=f"block_{i}_relu_1")(y)
        y = keras.layers.Conv1D(filters, cfg.conv_kernel, padding="same", use_bias=False, name=f"block_{i}_conv_2")(y)
        y = keras.layers.BatchNormalization(name=f"block_{i}_bn_2")(y)
        # the strided 1x1 projection as every second sample, then a 1x1 conv: the same outputs and gradients as
        # Conv1D(filters, 1, strides=2, padding="same"), whose backward pass crashes TensorFlow 2.21's oneDNN
        # kernels (segmentation fault) on CPUs with AMX / AVX512-FP16 for long windows
        shortcut = keras.layers.MaxPooling1D(pool_size=1, strides=2, padding="same",
                                             name=f"block_{i}_shortcut_stride")(shortcut)
        shortcut = keras.layers.Conv1D(filters, 1, padding="same", use_bias=False,
                                       name=f"block_{i}_shortcut")(shortcut)
        x = keras.layers.Add(name=f"block_{i}_add")([y, shortcut])
        x = keras.layers.Activation("relu", name=f"block_{i}_out")(x)
    x = keras.layers.GlobalAveragePooling1D(name="global_pool")(x)
    x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)
    x = keras.layers.Dense(cfg.head_units, activation="relu", name="head_dense")(x)
    return keras.Model(signal, output_layer(x), name="resnet1d_baseline")

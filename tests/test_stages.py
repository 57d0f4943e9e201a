"""Training stages as objects (ecgsl_keras.training.stages), and the one options object of a train run."""
import dataclasses
import json

import numpy as np
import pytest

import ecgsl_keras  # noqa: F401  (custom objects)
from ecgsl_keras import tasks
from ecgsl_keras.config import ExperimentConfig, ModelConfig, TrainConfig
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.training import stages
from ecgsl_keras.training.stages import STAGES, get_stage
from helpers import cinc_batch

SMALL = ModelConfig(embed_dim=16, conv_filters=(8, 8, 16), d_model=16, num_heads=2, ff_dim=32, num_layers=1,
                    max_beats=32, head_units=16, attention_units=8, resnet_filters=8, resnet_blocks=2,
                    masked_target="beats", masked_rr_weight=0.0)


def test_the_registry_lists_the_four_stages_and_every_module_uses_it():
    from ecgsl_keras.cli import train as train_cli
    from ecgsl_keras.training import trainer, tune

    assert STAGES == ("autoencoder", "masked", "finetune", "supervised", "hybrid")
    assert [get_stage(name).name for name in STAGES] == list(STAGES)
    assert trainer.STAGES is STAGES
    assert set(tune.STAGES) == {"masked", "finetune", "supervised"} and set(tune.STAGES) < set(STAGES)
    assert stages.PRETRAINING == ("autoencoder", "masked")
    choices = next(a.choices for a in train_cli.build_parser()._actions if a.dest == "stage")
    assert tuple(choices) == STAGES
    assert get_stage(get_stage("masked")) is get_stage("masked")


def test_an_unknown_stage_is_a_config_error_naming_the_known_ones(cinc_sample_tfrecords, tmp_path):
    from ecgsl_keras.training import trainer

    with pytest.raises(ConfigError) as info:
        get_stage("pretrain")
    for name in STAGES:
        assert name in str(info.value)
    assert "pretrain" in str(info.value)
    with pytest.raises(ConfigError, match="finetune"):
        trainer.train("pretrain", cinc_sample_tfrecords, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_each_stage_checks_its_arguments():
    get_stage("masked").check(init_from="runs/ae")
    get_stage("supervised").check(model_kind="resnet1d")
    with pytest.raises(ConfigError, match="--init-from"):
        get_stage("masked").check()
    with pytest.raises(ConfigError, match="random weights"):
        get_stage("autoencoder").check(init_from="runs/x")
    with pytest.raises(ConfigError, match="resnet1d baseline is trained with --stage supervised only"):
        get_stage("finetune").check(init_from="runs/x", model_kind="resnet1d")
    with pytest.raises(ConfigError, match="labelled data"):
        get_stage("finetune").check_task(None, "data/manifest.json")
    get_stage("masked").check_task(None, "data/manifest.json")


def test_monitor_of_each_stage():
    multilabel = tasks.get_task("ptbxl-superdiagnostic")
    assert get_stage("autoencoder").monitor(None, True) == ("val_loss", "min")
    assert get_stage("masked").monitor(None, True) == ("val_loss", "min")
    assert get_stage("finetune").monitor(tasks.CINC2017, True) == ("val_macro_f1", "max")
    assert get_stage("supervised").monitor(multilabel, True) == ("val_macro_auroc", "max")
    for name in STAGES:
        assert get_stage(name).monitor(tasks.CINC2017, False) == ("loss", "min")


def _weights_equal(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) > 0 and all(np.array_equal(x, y) for x, y in zip(wa, wb))


@pytest.mark.slow
def test_each_stage_builds_its_model_compiles_and_trains_a_step_with_the_hand_over():
    """The whole chain on real CinC beats: autoencoder -> masked (its beat encoder) -> finetune (the
    masked model's encoder) and supervised / resnet1d from random weights; one training step each."""
    import keras

    from ecgsl_keras.modeling.optimizers import EncoderAdamW

    features, labels = cinc_batch(4, max_beats=SMALL.max_beats)
    features = dict(features, padding_mask=features["padding_mask"].astype(np.float32))
    beats = features["beats"][features["padding_mask"] > 0][:64]
    config = ExperimentConfig(model=SMALL, train=TrainConfig(learning_rate=1e-3, epochs=1))
    keras.utils.set_random_seed(1)

    def step(stage, net, x, y):
        optimizer = stage.make_optimizer(config.train, 10, model=net, steps_per_epoch=10)
        stage.compile(net, tasks.CINC2017 if stage.classifier else None, config.train, optimizer=optimizer)
        # One eager step: tracing four train functions for one step each costs more than the step; every
        # stage's traced training runs in tests/test_train.py (and the masked one in test_models.py).
        net.run_eagerly = True
        loss = net.train_on_batch(x, y, return_dict=True)["loss"]
        assert np.isfinite(loss) and loss > 0, (stage, loss)
        return optimizer

    ae_stage, masked_stage = get_stage("autoencoder"), get_stage("masked")
    autoencoder = ae_stage.build_model(config, None)
    assert autoencoder.output_shape == (None, SMALL.beat_len)
    step(ae_stage, autoencoder, beats, beats)

    assert masked_stage.transfer_statistics(None, config, autoencoder) is None   # raw-beat target: no statistics
    masked = masked_stage.build_model(config, None, init_model=autoencoder, seed=3)
    assert _weights_equal(masked.get_layer("beat_encoder"), autoencoder.get_layer("beat_encoder"))
    step(masked_stage, masked, features, features["beats"])

    finetune = get_stage("finetune")
    classifier = finetune.build_model(config, tasks.CINC2017, init_model=masked)
    encoder = classifier.get_layer("temporal_encoder")
    for name in ("beat_encoder", "projection", "transformer_block_1"):
        assert _weights_equal(encoder.get_layer(name), masked.get_layer(name)), name
    assert isinstance(step(finetune, classifier, features, labels), EncoderAdamW)
    assert classifier.output_shape == (None, tasks.CINC2017.num_classes)

    supervised = get_stage("supervised")
    scratch = supervised.build_model(config, tasks.CINC2017)
    assert not _weights_equal(scratch.get_layer("temporal_encoder").get_layer("beat_encoder"),
                              masked.get_layer("beat_encoder"))
    assert not isinstance(step(supervised, scratch, features, labels), EncoderAdamW)
    resnet = supervised.build_model(config, tasks.CINC2017, model_kind="resnet1d")
    assert resnet.input_shape == (None, SMALL.max_beats * SMALL.beat_len, 1)
    with pytest.raises(ConfigError, match="not beats"):
        supervised.build_model(config, tasks.MITDB_AAMI, model_kind="resnet1d")
    with pytest.raises(ValueError, match="build_masked_model"):
        masked_stage.compile(autoencoder, None, config.train)


def test_a_stage_input_shards_between_input_pipelines(cinc_sample_tfrecords):
    """Two input pipelines (a tf.distribute.InputContext each) read disjoint shards of the training beats,
    which together are the whole split, at half the global batch each."""
    import tensorflow as tf
    from tfrecords_tools import load_manifest, make_dataset

    from ecgsl_keras.training import trainer

    manifest = load_manifest(cinc_sample_tfrecords)
    assert sum(s["split"] == "train" for s in manifest["shards"]) >= 2   # the fixture has several shards
    config = trainer.resolve_config(ExperimentConfig(model=SMALL), manifest, cinc_sample_tfrecords)
    stage = get_stage("autoencoder")
    n_beats = manifest["splits"]["train"]["beats"]

    def key(beat):
        return tuple(np.round(beat[:8], 4))

    everything = {key(b) for batch, _ in make_dataset(str(cinc_sample_tfrecords), split="train", mode="beat",
                                                      batch_size=256) for b in batch.numpy()}
    assert len(everything) >= 0.99 * n_beats

    def read(pipeline, pipelines, global_batch=64):
        context = tf.distribute.InputContext(num_input_pipelines=pipelines, input_pipeline_id=pipeline,
                                             num_replicas_in_sync=pipelines)
        ds = stage.build_inputs(cinc_sample_tfrecords, manifest, config, None, global_batch, context)
        seen, sizes = set(), set()
        for x, y in ds.take(2 * n_beats // (global_batch // pipelines) // pipelines + 2):   # about two passes
            np.testing.assert_array_equal(x.numpy(), y.numpy())   # autoencoder: the beat is its own target
            sizes.add(int(x.shape[0]))
            seen |= {key(b) for b in x.numpy()}
        return seen, sizes

    first, sizes0 = read(0, 2)
    second, sizes1 = read(1, 2)
    assert sizes0 == sizes1 == {32}              # the global batch of 64 split over 2 replicas
    assert first and second and not first & second
    assert first | second <= everything and len(first | second) >= 0.95 * len(everything)
    # steps per epoch: the autoencoder counts beats, the classifiers sequences (a share with label_fraction)
    examples = manifest["splits"]["train"]["examples"]
    assert stage.steps_per_epoch(manifest, 64) == n_beats // 64
    assert get_stage("supervised").steps_per_epoch(manifest, 8) == examples // 8
    assert get_stage("finetune").steps_per_epoch(manifest, 8, 0.5) == int(np.ceil(examples * 0.5)) // 8


def test_train_options_are_applied_once_to_the_config():
    from ecgsl_keras.training.trainer import TrainOptions

    options = TrainOptions(epochs=3, focal_gamma=2.0, use_class_weights=False, pooling="mean", label_fraction=0.5)
    config = options.apply(ExperimentConfig())
    assert config.train.epochs == 3 and config.train.focal_gamma == 2.0 and config.train.class_weights is False
    assert config.train.label_fraction == 0.5 and config.model.pooling == "mean"
    assert config.train.learning_rate == ExperimentConfig().train.learning_rate   # unset: from the config
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.epochs = 4


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_focal_gamma_and_no_class_weights_reach_a_remote_run_folder(cinc_sample_tfrecords, tmp_path, capsys):
    """Issue 17: with a remote --run-dir (ram:// stands for gs://) the training options were re-listed by
    hand and --focal-gamma / --no-class-weights were dropped; the run folder's config must have them."""
    import tensorflow as tf

    from ecgsl_keras.cli import train as train_cli

    base = ExperimentConfig()
    tiny = dataclasses.replace(base, model=dataclasses.replace(base.model, conv_filters=(8, 8, 8), embed_dim=16,
                                                               d_model=16, num_heads=2, ff_dim=32, num_layers=1,
                                                               attention_units=16, head_units=16, max_beats=16))
    tiny.save(tmp_path / "config.json")
    run = "ram://issue17/focal_run"
    assert train_cli.main(["--stage", "supervised", "--data", str(cinc_sample_tfrecords), "--run-dir", run,
                           "--config", str(tmp_path / "config.json"), "--epochs", "1", "--batch-size", "16",
                           "--verbose", "0", "--no-augment", "--focal-gamma", "2", "--no-class-weights",
                           "--label-smoothing", "0.05"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["run_dir"] == run
    info = json.loads(tf.io.gfile.GFile(run + "/config.json").read())
    train = info["experiment_config"]["train"]
    assert train["focal_gamma"] == 2.0
    assert train["class_weights"] is False
    assert train["label_smoothing"] == 0.05 and train["augment"] is False and train["epochs"] == 1
    assert info["status"] == "finished" and "--focal-gamma" in info["command"]
    # the model was compiled with it: the saved model's loss is the focal loss with gamma 2
    import keras

    local = tmp_path / "model.keras"
    local.write_bytes(tf.io.gfile.GFile(run + "/last.keras", "rb").read())
    model = keras.models.load_model(local)
    assert getattr(model.loss, "gamma", None) == pytest.approx(2.0)

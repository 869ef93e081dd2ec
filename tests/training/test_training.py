"""dvcp train: learning, checkpoints that resume exactly, clear errors, export and the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dvcp_plugin.cli import main
from dvcp_plugin.errors import WeightsError
from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.runtime.sequential import propagate_shot
from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import load_weights, save_weights
from dvcp_plugin.training.checkpoints import export_weights, read_checkpoint
from dvcp_plugin.training.clips import ClipDataset
from dvcp_plugin.training.config import TrainConfig, TrainingError
from dvcp_plugin.training.data import DataError, find_sequences, keep_licensed
from dvcp_plugin.training.trainer import Trainer, load_dataset

SMALL = {
    "local": {"kernel_size": 5, "widths": [8, 16]},
    "global": {"fine_channels": 8, "coarse_channels": 8},
    "refine": {"widths": [8, 16]},
}


def small_config(data: Path, out: Path, **changes) -> TrainConfig:
    settings = dict(
        data=[str(data)], out=str(out), steps={"local": 3, "global": 2, "refine": 2, "joint": 2},
        batch=2, crop=32, length=3, rollout=3, backprop=2, max_stride=2, key_stride=2, stage_options=SMALL,
        save_every=1,
    )
    settings.update(changes)
    return TrainConfig(**settings)


def states(path: Path) -> dict[str, torch.Tensor]:
    data = load_weights(path)
    return {f"{k}.{n}": t for k, s in data["stages"].items() for n, t in s["state"].items()}


@pytest.mark.slow
@pytest.mark.parametrize(("local", "steps", "falls_to"), [
    ("sepconv", 300, 0.75),  # the paper's kernels learn the motion: the loss falls by a quarter
    ("mcsepconv", 100, 1.0),  # starts at flow propagation, which training must not undo
])
def test_local_phase_loss_falls_on_moving_textures(tiny_data, tmp_path, local, steps, falls_to):
    config = small_config(tiny_data, tmp_path / "run", steps={"local": steps}, batch=4, max_stride=1,
                          lr={"local": 3e-3}, save_every=1000, stages={"local": local})
    dataset = load_dataset(config)
    trainer = Trainer(config, dataset)
    held_out = dataset.sample(8, 3, 1, torch.Generator().manual_seed(99))

    def loss() -> float:
        with torch.no_grad():
            return trainer._loss("local", held_out)[0].item()

    trainer._start_phase("local")
    before = loss()
    trainer.run(progress=False)
    after = loss()
    assert after < falls_to * before, (before, after)
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == steps and log[-1]["phase"] == "local" and "local" in log[-1]


def test_resumed_run_equals_uninterrupted_run(tiny_data, tmp_path):
    whole = Trainer(small_config(tiny_data, tmp_path / "a"), load_dataset(small_config(tiny_data, tmp_path / "a")))
    whole.run(progress=False)

    config = small_config(tiny_data, tmp_path / "b")
    first = Trainer(config, load_dataset(config))
    first.run(stop_at=4, progress=False)  # stops inside the global phase
    saved = read_checkpoint(tmp_path / "b" / "last.pt")
    assert saved["step"] == 4 and saved["phase"] == "global" and saved["optimizer"]["state"]

    resumed = Trainer(config, load_dataset(config))
    assert resumed.step == 4
    resumed.run(progress=False)
    assert resumed.step == whole.step == 9
    expected, got = states(tmp_path / "a" / "last.pt"), states(tmp_path / "b" / "last.pt")
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    # a checkpoint is a weights file for the engine
    engine = Engine(EngineOptions(weights=tmp_path / "b" / "last.pt"))
    assert engine.stage_names == {"local": "mcsepconv", "global": "anchor", "refine": "fusion"}
    # each phase's end is kept, for choosing among them on held-out clips
    phases = ("local", "global", "refine", "joint")
    ends = {phase: read_checkpoint(tmp_path / "b" / f"after-{phase}.pt") for phase in phases}
    assert [ends[p]["step"] for p in ("local", "global", "refine", "joint")] == [3, 5, 7, 9]


def test_mismatched_or_corrupt_checkpoint_is_a_clear_error(tiny_data, tmp_path):
    config = small_config(tiny_data, tmp_path / "run", steps={"local": 1})
    Trainer(config, load_dataset(config)).run(progress=False)

    other_options = {**SMALL, "local": {"kernel_size": 7, "widths": [8, 16]}}
    with pytest.raises(TrainingError, match="local stage 'mcsepconv'.*kernel_size"):
        Trainer(small_config(tiny_data, tmp_path / "run", steps={"local": 1}, stage_options=other_options))
    with pytest.raises(TrainingError, match="seed: checkpoint 0, now 5"):
        Trainer(small_config(tiny_data, tmp_path / "run", steps={"local": 1}, seed=5))

    (tmp_path / "run" / "last.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="corrupt"):
        Trainer(config)

    plain = save_weights(tmp_path / "plain" / "last.pt", untrained_weights(0))
    with pytest.raises(TrainingError, match="not a training checkpoint"):
        read_checkpoint(plain)


def test_export_writes_weights_without_training_state(tiny_data, tmp_path):
    config = small_config(tiny_data, tmp_path / "run", steps={"local": 2, "refine": 1})
    Trainer(config, load_dataset(config)).run(progress=False)
    out = export_weights(tmp_path / "run" / "last.pt", tmp_path / "w.pt")
    data = load_weights(out)
    assert data["format"] == "dvcp-weights"
    assert not {"optimizer", "rng", "train_config"} & data.keys()
    assert data["meta"]["steps"] == 3 and data["meta"]["schedule"]["local"] == 2
    assert states(out).keys() == states(tmp_path / "run" / "last.pt").keys()
    grey = torch.rand(40, 56)
    chroma = torch.rand(2, 40, 56) - 0.5
    outputs = []
    for weights in (out, tmp_path / "run" / "last.pt"):
        engine = Engine(EngineOptions(weights=weights))
        outputs.append([o.final for o in propagate_shot(engine, [grey, grey.flip(-1)], {0: chroma})])
    assert torch.equal(outputs[0][1], outputs[1][1])


def test_licensed_only_keeps_rows_marked_yes(tiny_data, tmp_path):
    table = tmp_path / "LICENSES.md"
    table.write_text(
        "| folder | source | licence | may train shipped weights |\n| --- | --- | --- | --- |\n"
        f"| {tiny_data.name}/seq0 | a | MIT | yes |\n| {tiny_data.name}/seq1 | b | NC | no (experiments only) |\n"
    )
    (tiny_data.parent / "LICENSES.md").write_text(table.read_text())
    kept = keep_licensed(find_sequences([tiny_data]), tiny_data.parent / "LICENSES.md")
    assert [s.name for s in kept] == ["seq0"]


def test_bad_data_is_a_clear_error(tiny_data, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        find_sequences([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no frame sequences"):
        find_sequences([tmp_path / "empty"])
    with pytest.raises(DataError, match="smaller than the 80-pixel training crop"):
        ClipDataset(find_sequences([tiny_data]), 0.5, 80)


def test_train_command_trains_resumes_and_exports(tiny_data, tmp_path, capsys):
    args = ["train", str(tiny_data), "--out", str(tmp_path / "run"), "--steps", "local=2", "global=0",
            "refine=0", "joint=0", "--batch", "2", "--crop", "32", "--length", "3", "--rollout", "3", "--backprop", "2",
            "--stage-options", json.dumps(SMALL)]
    assert main(args + ["--stop-at", "1"]) == 0
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 1
    assert main(args) == 0
    assert "resuming" in capsys.readouterr().err
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 2
    assert main(["train", "--export", str(tmp_path / "run" / "last.pt"), str(tmp_path / "w.pt")]) == 0
    assert load_weights(tmp_path / "w.pt")["format"] == "dvcp-weights"
    assert main(["train", str(tiny_data), "--out", str(tmp_path / "x"), "--steps", "warmup=3"]) == 1
    err = capsys.readouterr().err
    assert "dvcp train: error:" in err and "PHASE=VALUE" in err and "Traceback" not in err


def test_learning_rates_not_given_keep_their_defaults(tiny_data, tmp_path):
    config = small_config(tiny_data, tmp_path / "run", lr={"local": 1e-2})
    assert config.lr == {"local": 1e-2, "global": 1e-3, "refine": 1e-3, "joint": 2e-4}  # TRAINING.md's table
    with pytest.raises(TrainingError, match=r"unknown training phase\(s\) \['refin'\]"):
        small_config(tiny_data, tmp_path / "run", lr={"refin": 1e-3})


def test_export_sets_inference_options_on_the_stages_and_writes_nothing_on_a_bad_one(tiny_data, tmp_path, capsys):
    config = small_config(tiny_data, tmp_path / "run", steps={"local": 1})
    Trainer(config, load_dataset(config)).run(progress=False)
    out = tmp_path / "w.pt"
    options = '{"local": {"interpolation": "bicubic"}, "global": {"match_confidence": 0.25}}'
    assert main(["train", "--export", str(tmp_path / "run" / "last.pt"), str(out), "--stage-options", options]) == 0
    data = load_weights(out)
    assert data["stages"]["local"]["options"] == {"kernel_size": 5, "widths": [8, 16], "interpolation": "bicubic"}
    engine = Engine(EngineOptions(weights=out))
    assert engine.local.interpolation == "bicubic" and engine.global_.match_confidence == 0.25
    bad = tmp_path / "bad.pt"
    assert main(["train", "--export", str(tmp_path / "run" / "last.pt"), str(bad),
                 "--stage-options", '{"local": {"interpolation": "nearest"}}']) == 1
    assert "interpolation must be one of bilinear, bicubic" in capsys.readouterr().err
    assert not bad.exists()


def test_init_starts_the_stages_from_given_weights_and_refuses_other_stages(tiny_data, tmp_path):
    first = small_config(tiny_data, tmp_path / "first", steps={"local": 2, "global": 2})
    Trainer(first, load_dataset(first)).run(progress=False)
    # fine-tune only the fusion: the local and global stages stay as they were trained
    tuned = small_config(tiny_data, tmp_path / "tuned", steps={"refine": 2}, init=str(tmp_path / "first" / "last.pt"))
    Trainer(tuned, load_dataset(tuned)).run(progress=False)
    before, after = states(tmp_path / "first" / "last.pt"), states(tmp_path / "tuned" / "last.pt")
    assert all(torch.equal(before[name], after[name]) for name in before if not name.startswith("refine."))
    assert any(not torch.equal(before[name], after[name]) for name in before if name.startswith("refine."))
    other = {**SMALL, "local": {"kernel_size": 7, "widths": [8, 16]}}
    mismatched = small_config(tiny_data, tmp_path / "x", steps={"refine": 1}, stage_options=other,
                              init=str(tmp_path / "first" / "last.pt"))
    with pytest.raises(TrainingError, match=r"--init .*local stage is 'mcsepconv' with options .*kernel_size': 5"):
        Trainer(mismatched)
    # with --init-kinds global, other local options are fine: only the matching encoder is taken
    encoder_only = small_config(tiny_data, tmp_path / "y", steps={"refine": 1}, stage_options=other,
                                init=str(tmp_path / "first" / "last.pt"), init_kinds=["global"])
    taken = {f"global.{k}": v for k, v in Trainer(encoder_only).modules["global"].state_dict().items()}
    assert all(torch.equal(before[name], taken[name]) for name in taken)
    with pytest.raises(TrainingError, match="--init-kinds: unknown stage kind"):
        small_config(tiny_data, tmp_path / "z", steps={"refine": 1}, init_kinds=["colour"])


def test_degraded_clips_carry_scan_noise_and_keep_their_chroma_aligned(tiny_data):
    """With degrade=1 every clip's grey is degraded (it differs from the clean clip the same draw
    would give), while the chroma, moved only by the weave, stays close to the clean chroma."""
    sequences = find_sequences([tiny_data])
    for seed in range(4):  # one clip per batch: the same draws up to the degradation
        clean = ClipDataset(sequences, 1.0, 32).sample(1, 4, 1, torch.Generator().manual_seed(seed))
        scanned = ClipDataset(sequences, 1.0, 32, degrade=1.0).sample(1, 4, 1, torch.Generator().manual_seed(seed))
        assert clean.clips.shape == scanned.clips.shape and clean.motion.shape == scanned.motion.shape
        assert (scanned.clips[:, :, :1] - clean.clips[:, :, :1]).abs().mean() > 1 / 255
        # the chroma is moved only by the weave's fraction of a pixel
        assert (scanned.clips[:, :, 1:] - clean.clips[:, :, 1:]).abs().mean() < 0.01


def test_excluded_sequences_are_not_trained_on_and_unknown_names_are_refused(tiny_data, tmp_path):
    names = [s.name for s in find_sequences([tiny_data])]
    config = TrainConfig(data=[str(tiny_data)], out=str(tmp_path / "run"), crop=32, exclude=names[:1])
    assert load_dataset(config).names == names[1:]
    with pytest.raises(DataError, match="--exclude names no sequence of the data: nowhere"):
        load_dataset(TrainConfig(data=[str(tiny_data)], out=str(tmp_path / "run"), crop=32, exclude=["nowhere"]))

"""Checkpoint faults: NaN loss, a checkpoint from another model/config, a kill during writing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from pyiqa_fast.data import SyntheticIQADataset
from pyiqa_fast.train import CheckpointMismatchError, Trainer, TrainingDivergedError, load_checkpoint
from pyiqa_fast.train.checkpoint import save_checkpoint
from tests.train._common import tiny_config, tiny_factory


class _NaNAt(torch.utils.data.Dataset):
    def __init__(self, base, bad):
        self.base, self.bad = base, bad

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        item = dict(self.base[i])
        if i == self.bad:
            item["mos"] = float("nan")
        return item


def test_nan_loss_names_step_and_checkpoint(tmp_path):
    ds = SyntheticIQADataset(16, 20)
    cfg = tiny_config(tmp_path, "train.checkpoint_every=1", "train.epochs=2")
    trainer = Trainer(cfg, train_dataset=_NaNAt(ds, 5), eval_dataset=ds, model_factory=tiny_factory)
    with pytest.raises(TrainingDivergedError, match=r"loss is nan at step \d+") as err:
        trainer.fit()
    msg = str(err.value)
    step = int(msg.split("at step ")[1].split()[0])
    if step > 0:
        assert os.path.join("checkpoints", "last.pt") in msg
        assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == step
    else:
        assert "none written yet" in msg


def test_refuses_checkpoint_of_another_model_or_config(tmp_path):
    Trainer(tiny_config(tmp_path, "train.max_steps=1"), model_factory=tiny_factory).fit()
    other_model = Trainer(tiny_config(tmp_path, "model.kwargs={width: 4}"), model_factory=tiny_factory)
    with pytest.raises(CheckpointMismatchError, match=r"shape mismatches") as err:
        other_model.fit(resume=True)
    assert "model.kwargs.width" in str(err.value)
    assert "conv1.weight: checkpoint (8, 3, 3, 3) vs model (4, 3, 3, 3)" in str(err.value)
    other_cfg = Trainer(tiny_config(tmp_path, "optim.lr=0.5"), model_factory=tiny_factory)
    with pytest.raises(CheckpointMismatchError, match=r"optim.lr: checkpoint=0.01, current=0.5"):
        other_cfg.fit(resume=True)


def test_kill_during_checkpoint_write_keeps_previous(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"format": 1, "step": 1, "w": torch.ones(3)})
    script = textwrap.dedent(f"""
        import os, torch
        from pyiqa_fast.train.checkpoint import save_checkpoint
        real = os.fsync
        def die(fd):
            os._exit(9)  # killed after the temp file is written, before the rename
        os.fsync = die
        save_checkpoint({str(path)!r}, {{"format": 1, "step": 2, "w": torch.zeros(1000)}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), capture_output=True, timeout=120)
    assert proc.returncode == 9, proc.stderr.decode()
    state = load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["w"], torch.ones(3))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "last.pt"]
    assert leftovers and all(n.endswith(".tmp") for n in leftovers)  # the torn temp file is never read
    save_checkpoint(path, {"format": 1, "step": 3, "w": torch.zeros(2)})
    assert load_checkpoint(path)["step"] == 3

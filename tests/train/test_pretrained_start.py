"""A run whose config names ``model.pretrained`` starts its encoder from that file (and records it in
the checkpoint identity); a resume, ``eval`` and ``score`` take the weights from the checkpoint and
do not need the file."""

from __future__ import annotations

import pytest
import timm
import torch

from pyiqa_fast.train import Trainer
from tests.train._common import tiny_config

SMALL_TIMM = {"embed_dim": 96, "depth": 2, "num_heads": 6, "img_size": 16, "patch_size": 8}


def deiqt_tiny(out_dir, *extra):
    return tiny_config(out_dir, "model.name=deiqt_tiny", "model.kwargs={img_size: 16, patch_size: 8}",
                       "data.crop_size=16", "train.epochs=1", *extra)


@pytest.fixture
def encoder_file(tmp_path):
    torch.manual_seed(3)
    vit = timm.create_model("deit3_small_patch16_224", pretrained=False, **SMALL_TIMM)
    path = tmp_path / "deit3_tiny.pth"
    torch.save(vit.state_dict(), path)
    return path, vit.state_dict()


def test_the_encoder_starts_from_the_file_and_resume_does_not_read_it(tmp_path, encoder_file):
    path, state = encoder_file
    cfg = deiqt_tiny(tmp_path / "run", f"model.pretrained={path}", "train.max_steps=1")
    trainer = Trainer(cfg)
    model = trainer._make_model()
    assert model.pretrained_report is not None
    assert torch.equal(model.encoder.state_dict()["blocks.0.attn.qkv.weight"], state["blocks.0.attn.qkv.weight"])
    assert trainer.fit()["stopped_early"] is True
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert last["identity"]["model"]["pretrained"] == str(path)
    path.unlink()  # the checkpoint holds the weights now
    resumed = Trainer(deiqt_tiny(tmp_path / "run", f"model.pretrained={path}")).fit(resume=True)
    assert resumed["stopped_early"] is False


def test_a_missing_file_names_it_before_training(tmp_path):
    missing = tmp_path / "nowhere" / "deit3.pth"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        Trainer(deiqt_tiny(tmp_path / "run", f"model.pretrained={missing}")).fit()

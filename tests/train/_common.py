"""Shared helpers for the training tests: a tiny conv net, a fast config and a two-stage toy recipe."""

from __future__ import annotations

import torch
from torch import nn

from pyiqa_fast.train import Config, apply_overrides
from pyiqa_fast.train.stages import MOSStage, register_recipe


class TinyNet(nn.Module):
    """Two convolutions and a linear head: Tensor[B, 3, H, W] -> Tensor[B]."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.head(x.mean((2, 3))).squeeze(-1) * 50.0


def tiny_factory(cfg: Config) -> nn.Module:
    return TinyNet(**cfg.model.kwargs)


def tiny_config(out_dir, *extra: str) -> Config:
    cfg = Config()
    return apply_overrides(cfg, [
        "protocol=deiqt", "protocol_overrides={repeats: 1, test_crops: 2}",
        "model.name=tiny_conv", "model.kwargs={}",
        "data.dataset=synthetic", "data.synthetic_size=24", "data.synthetic_image_size=20", "data.crop_size=16",
        "data.patch_num=1", "data.batch_size=4", "data.eval_batch_size=4", "data.num_workers=0",
        "optim.lr=1e-2", "optim.warmup_epochs=1", "optim.decay_epochs=1",
        "train.epochs=2", "train.device=cpu", "train.progress=false", f"train.out_dir={out_dir}",
        *extra,
    ])


class DistilledStudent(MOSStage):
    """The toy second stage: TinyNet regresses the MOS and matches the frozen first stage's scores."""

    name, inputs = "student", ("teacher",)

    def __init__(self) -> None:
        pass

    def build_frozen(self, ctx):
        teacher = TinyNet(**ctx.cfg.model.kwargs)
        teacher.load_state_dict(torch.load(ctx.inputs["teacher"], weights_only=True)["model"])
        return {"teacher": teacher}

    def losses(self, model, frozen, batch, ctx):
        x, _ = batch
        with torch.no_grad():
            target = frozen["teacher"](x)
        return {**super().losses(model, frozen, batch, ctx),
                "kd": 0.01 * torch.nn.functional.mse_loss(model(x).float(), target.float())}


def toy_recipe(cfg: Config) -> list[MOSStage]:
    return [MOSStage("teacher"), DistilledStudent()]


register_recipe("toy2", toy_recipe)

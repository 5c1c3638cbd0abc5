"""Encoder ImageNet weights from local files (pyiqa_fast.models.pretrained): timm's and
facebookresearch/deit's ViT state dicts into DEIQT's encoder, and every refusal.

Weights are never downloaded: each file is a ``timm.create_model(..., pretrained=False)`` state
dict saved to a temp folder (facebookresearch/deit's layout is the same tensors under ``"model"``
with LayerScale named ``blocks.N.gamma_1/gamma_2``). Most tests use a 2-block, width-96 ViT at 32²
(``deit3_small_patch16_224``'s recipe with smaller sizes); one loads the real deit3_small key set.
"""

from __future__ import annotations

import re

import pytest
import torch

timm = pytest.importorskip("timm")

from pyiqa_fast.models import (  # noqa: E402
    CheckpointError,
    PretrainedWeightsError,
    PretrainedWeightsNotFoundError,
    create_model,
    load_pretrained_encoder,
    registry,
)
from pyiqa_fast.models.pretrained import DEIT3_SMALL_PATCH16_224  # noqa: E402

SMALL = {"img_size": 32, "patch_size": 8}  # deiqt_tiny (width 96, 2 blocks, 6 heads) at 32²
SMALL_TIMM = {"embed_dim": 96, "depth": 2, "num_heads": 6, **SMALL}


def timm_vit(seed: int = 0, **overrides) -> torch.nn.Module:
    """timm's deit3_small_patch16_224 architecture (random weights), shrunk by ``overrides``, with
    LayerScale γ drawn away from its 1e-6 init and distinct per γ, so a swapped or skipped γ shows."""
    torch.manual_seed(seed)
    model = timm.create_model("deit3_small_patch16_224", pretrained=False, **overrides).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".gamma"):
                p.uniform_(0.2, 1.5)
    return model


def facebook_layout(state: dict[str, torch.Tensor]) -> dict:
    """The same tensors as facebookresearch/deit saves them: ``{"model": ...}``, ``gamma_1``/``gamma_2``."""
    renamed = {re.sub(r"\.ls([12])\.gamma$", r".gamma_\1", k): v for k, v in state.items()}
    assert sum(k.endswith(("gamma_1", "gamma_2")) for k in renamed) == 2 * sum(k.endswith("ls1.gamma") for k in state)
    return {"model": renamed, "epoch": 799}  # extra container entries (as a training checkpoint) are ignored


def encoder_tokens(model, x: torch.Tensor) -> torch.Tensor:
    """DEIQT's encoder output as one sequence: ``forward_features`` splits the final-normed tokens
    into CLS ``[B, D]`` and patch tokens ``[B, N, D]``; concatenated they are timm's
    ``forward_features`` ``[B, 1 + N, D]`` (DEIQT's encoder is that ViT without the classifier)."""
    with torch.no_grad():
        cls, tokens = model.forward_features(x)
    return torch.cat([cls.unsqueeze(1), tokens], dim=1)


def image(size: int, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(5))


@pytest.fixture(scope="module")
def small_ref():
    return timm_vit(**SMALL_TIMM)


@pytest.fixture
def small_file(small_ref, tmp_path):
    path = tmp_path / "deit3_small_tiny.pth"
    torch.save(small_ref.state_dict(), path)
    return path


# --- loading ---------------------------------------------------------------------------------------


def test_timm_file_gives_timms_features_and_keeps_the_rest(small_ref, small_file):
    torch.manual_seed(1)
    scratch = create_model("deiqt_tiny", **SMALL).eval()
    torch.manual_seed(1)
    model = create_model("deiqt_tiny", pretrained=small_file, **SMALL).eval()
    report = model.pretrained_report
    assert report.format == "timm" and report.path == str(small_file)
    assert report.loaded == len(model.encoder.state_dict()) == 34 and report.renamed == 0
    assert report.dropped == ("head.weight", "head.bias")
    assert "34 tensors" in str(report) and "dropped head.weight, head.bias" in str(report)
    x = image(32)
    with torch.no_grad():
        expected = small_ref.forward_features(x)
    torch.testing.assert_close(encoder_tokens(model, x), expected, rtol=0, atol=0)  # same modules, same order
    # Only the encoder changed: queries, decoder and head keep the seeded random init.
    new, old = model.state_dict(), scratch.state_dict()
    assert all(torch.equal(new[k], old[k]) for k in new if not k.startswith("encoder."))
    assert not torch.equal(new["encoder.pos_embed"], old["encoder.pos_embed"])
    assert create_model("deiqt_tiny", **SMALL).pretrained_report is None


def test_facebook_file_is_renamed_into_timm_names(small_ref, tmp_path):
    state = small_ref.state_dict()
    torch.save(facebook_layout(state), tmp_path / "deit_3_tiny.pth")
    model = create_model("deiqt_tiny", pretrained=str(tmp_path / "deit_3_tiny.pth"), **SMALL).eval()
    report = model.pretrained_report
    assert report.format == "deit" and report.renamed == 4 and report.dropped == ("head.weight", "head.bias")
    for i, block in enumerate(model.encoder.blocks):  # gamma_1 -> ls1 (attention), gamma_2 -> ls2 (MLP)
        assert torch.equal(block.ls1.gamma, state[f"blocks.{i}.ls1.gamma"])
        assert torch.equal(block.ls2.gamma, state[f"blocks.{i}.ls2.gamma"])
    x = image(32)
    with torch.no_grad():
        expected = small_ref.forward_features(x)
    torch.testing.assert_close(encoder_tokens(model, x), expected, rtol=0, atol=0)
    # DDP-saved ("module." prefixes) under "state_dict" loads too.
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "ddp.pth")
    assert create_model("deiqt_tiny", pretrained=tmp_path / "ddp.pth", **SMALL).pretrained_report.format == "timm"


def test_safetensors_file_by_suffix_or_content(small_ref, tmp_path):
    from safetensors.torch import save_file

    save_file(small_ref.state_dict(), tmp_path / "model.safetensors")  # the Hugging Face timm/<name> file
    save_file(small_ref.state_dict(), tmp_path / "weights.bin")  # renamed: recognised by its header
    x = image(32)
    with torch.no_grad():
        expected = small_ref.forward_features(x)
    for name in ("model.safetensors", "weights.bin"):
        model = create_model("deiqt_tiny", pretrained=tmp_path / name, **SMALL).eval()
        torch.testing.assert_close(encoder_tokens(model, x), expected, rtol=0, atol=0)


def test_real_deit3_small_key_sets_load_into_the_papers_deiqt(tmp_path):
    """The 176-key timm deit3_small_patch16_224 file (safetensors, as on the Hugging Face hub) and
    its facebookresearch/deit copy both fit deiqt_vit_s16's encoder (was: 193 missing, 175 unexpected)."""
    from safetensors.torch import save_file

    ref = timm_vit()
    state = ref.state_dict()
    assert len(state) == 176
    save_file(state, tmp_path / "model.safetensors")
    torch.save(facebook_layout(state), tmp_path / "deit_3_small_224_21k.pth")
    x = image(224, batch=1)
    with torch.no_grad():
        expected = ref.forward_features(x)
    model = create_model("deiqt_vit_s16", pretrained=tmp_path / "model.safetensors").eval()
    assert model.pretrained_report.format == "timm" and model.pretrained_report.loaded == 174
    torch.testing.assert_close(encoder_tokens(model, x), expected, rtol=0, atol=0)
    with torch.no_grad():  # forget it, then load the Facebook copy (one 24M-parameter model is enough)
        for p in model.encoder.parameters():
            p.zero_()
    report = model.load_pretrained(tmp_path / "deit_3_small_224_21k.pth")
    assert report.format == "deit" and report.loaded == 174 and report.renamed == 24
    torch.testing.assert_close(encoder_tokens(model, x), expected, rtol=0, atol=0)


def test_function_loads_any_vit_encoder_in_place(small_ref, small_file):
    encoder = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0, global_pool="",
                                no_embed_class=True, init_values=1e-4, **SMALL_TIMM)
    report = load_pretrained_encoder(encoder, small_file, kind="vit")
    assert report.loaded == 34
    assert all(torch.equal(v, small_ref.state_dict()[k]) for k, v in encoder.state_dict().items())


# --- refusals --------------------------------------------------------------------------------------


def test_mismatch_names_every_missing_unexpected_and_reshaped_key(small_ref, tmp_path):
    state = dict(small_ref.state_dict())
    del state["blocks.1.mlp.fc2.bias"]
    state["dist_token"] = torch.zeros(1, 1, 96)
    state["pos_embed"] = torch.zeros(1, 64, 96)  # a 64² (8×8-patch) file into a 32² encoder
    torch.save(state, tmp_path / "odd.pth")
    model = create_model("deiqt_tiny", **SMALL)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    with pytest.raises(PretrainedWeightsError) as info:
        model.load_pretrained(tmp_path / "odd.pth")
    msg = str(info.value)
    assert str(tmp_path / "odd.pth") in msg and "(timm format)" in msg and "VisionTransformer" in msg
    assert "1 missing keys (blocks.1.mlp.fc2.bias)" in msg and "1 unexpected keys (dist_token)" in msg
    assert "1 shape mismatches (pos_embed: checkpoint (1, 64, 96) vs model (1, 16, 96))" in msg
    assert "\n" not in msg
    assert all(torch.equal(v, before[k]) for k, v in model.encoder.state_dict().items())  # untouched
    # Many differences: every key is named, not the first five (a 2-block file into 3 blocks).
    with pytest.raises(PretrainedWeightsError) as info:
        create_model("deiqt_tiny", pretrained=tmp_path / "odd.pth", depth=3, **SMALL)
    deeper = create_model("deiqt_tiny", depth=3, **SMALL).encoder.state_dict()
    missing = [k for k in deeper if k.startswith("blocks.2.")]
    assert len(missing) == 14 and all(k in str(info.value) for k in missing) and "more)" not in str(info.value)


def test_whole_model_file_points_to_checkpoint_path(tmp_path):
    torch.save(create_model("deiqt_tiny", **SMALL).state_dict(), tmp_path / "trained.pth")
    with pytest.raises(PretrainedWeightsError, match=r"keys start with 'encoder.'.*checkpoint_path="):
        create_model("deiqt_tiny", pretrained=tmp_path / "trained.pth", **SMALL)


@pytest.mark.parametrize("content, shown", [
    ([1, 2, 3], r"hold a list, not a state dict \(a mapping of parameter names to tensors"),
    ({}, r"hold a dict with keys \[\], not a state dict"),
    ({"epoch": 3, "w": torch.zeros(2)},
     r"not a state dict: 1 entries are not tensors keyed by name \('epoch' \(int\)\)"),
    ({"model": {"a": 1}}, r"hold a dict with keys \['a'\], not a state dict: 1 entries are not tensors"),
])
def test_not_a_state_dict_is_named(tmp_path, content, shown):
    torch.save(content, tmp_path / "x.pth")
    with pytest.raises(PretrainedWeightsError, match=shown):
        create_model("deiqt_tiny", pretrained=tmp_path / "x.pth", **SMALL)


def test_unreadable_file_and_folder(tmp_path):
    (tmp_path / "junk.pth").write_text("not a checkpoint\n")
    with pytest.raises(PretrainedWeightsError, match=r"cannot read pretrained weights .*junk.pth with torch.load"):
        create_model("deiqt_tiny", pretrained=tmp_path / "junk.pth", **SMALL)
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(PretrainedWeightsError, match="cannot read pretrained weights"):
        create_model("deiqt_tiny", pretrained=tmp_path / "empty.pth", **SMALL)
    with pytest.raises(PretrainedWeightsNotFoundError, match="is a folder, not a file"):
        create_model("deiqt_tiny", pretrained=tmp_path, **SMALL)


def test_missing_file_says_what_is_expected_and_where_to_get_it(tmp_path):
    with pytest.raises(PretrainedWeightsNotFoundError) as info:
        create_model("deiqt_tiny", pretrained=tmp_path / "deit3.pth", **SMALL)
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, CheckpointError)
    assert msg.startswith(f"pretrained weights file not found: {tmp_path / 'deit3.pth'}; expected DeiT-III ViT-S/16")
    assert "deit3_small_patch16_224.fb_in22k_ft_in1k" in msg and "Hugging Face timm/" in msg
    assert DEIT3_SMALL_PATCH16_224.default_file in msg and "\n" not in msg


def test_home_and_environment_variables_are_expanded(small_file, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(small_file.parent))
    monkeypatch.setenv("PYIQA_TEST_WEIGHTS", str(small_file.parent))
    for path in (f"~/{small_file.name}", f"$PYIQA_TEST_WEIGHTS/{small_file.name}",
                 f"${{PYIQA_TEST_WEIGHTS}}/{small_file.name}"):
        assert create_model("deiqt_tiny", pretrained=path, **SMALL).pretrained_report.path == str(small_file)
    monkeypatch.delenv("PYIQA_TEST_WEIGHTS")
    with pytest.raises(PretrainedWeightsNotFoundError, match=r"not found \(environment variable PYIQA_TEST_WEIGHTS "
                                                             r"is not set\): \$PYIQA_TEST_WEIGHTS/"):
        create_model("deiqt_tiny", pretrained=f"$PYIQA_TEST_WEIGHTS/{small_file.name}", **SMALL)


def test_argument_errors(small_file, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"pretrained=.*\(encoder weights\) and checkpoint_path=.*both given"):
        create_model("deiqt_tiny", pretrained=small_file, checkpoint_path=small_file, **SMALL)
    with pytest.raises(TypeError, match="pretrained must be a bool, None or a path to encoder weights; got int 3"):
        create_model("deiqt_tiny", pretrained=3)
    with pytest.raises(ValueError, match="pretrained must be a path to encoder weights, True/False or None; got ''"):
        create_model("deiqt_tiny", pretrained="")
    encoder = create_model("deiqt_tiny", **SMALL).encoder
    with pytest.raises(ValueError, match="kind must be one of 'vit'; got 'resnet'"):
        load_pretrained_encoder(encoder, small_file, kind="resnet")
    with torch.device("meta"):
        meta = create_model("deiqt_tiny", **SMALL).encoder
    with pytest.raises(ValueError, match="encoder is on the meta device"):
        load_pretrained_encoder(meta, small_file)
    # A model with no encoder to initialise says so (a factory registered for this test only).
    monkeypatch.setitem(registry._ENTRYPOINTS, "no_encoder_net", lambda **kw: torch.nn.Linear(2, 1))
    monkeypatch.setitem(registry._PRETRAINED_CFGS, "no_encoder_net", {"": registry.PretrainedCfg()})
    with pytest.raises(ValueError, match=r"model 'no_encoder_net' \(Linear\) has no encoder .*load_pretrained"):
        create_model("no_encoder_net", pretrained=small_file)

"""DEIQT (METHODS.md §2) and the model registry (STYLE.md §9)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

pytest.importorskip("timm")

from pyiqa_fast.models import (  # noqa: E402
    DEIQT,
    CheckpointError,
    PretrainedCfg,
    UnknownModelError,
    create_model,
    get_pretrained_cfg,
    list_models,
    load_checkpoint,
)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return create_model("deiqt_tiny").eval()


def inputs(batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


# --- architecture ---------------------------------------------------------------------------------


def test_paper_parameter_count():
    # METHODS.md §2.1 [DERIVED]: encoder 21,674,496 + decoder 2,369,280 = 24,043,776.
    with torch.device("meta"):
        model = create_model("deiqt_vit_s16")
    enc = model.encoder
    assert n_params(model) == 24_043_776
    assert n_params(enc) == 21_674_496
    assert n_params(model.decoder) + model.queries.numel() + n_params(model.head) == 2_369_280
    # Encoder breakdown: patch embed, CLS, 196-entry pos-embed, 12 blocks, final norm.
    assert n_params(enc.patch_embed) == 3 * 16 * 16 * 384 + 384 == 295_296
    assert enc.cls_token.shape == (1, 1, 384) and enc.pos_embed.shape == (1, 196, 384)
    assert [n_params(b) for b in enc.blocks] == [1_775_232] * 12
    assert n_params(enc.norm) == 768
    # Decoder breakdown: 2 attentions, FFN, 3 norms (one layer); 6 queries; bias-free head.
    assert len(model.decoder) == 1
    assert n_params(model.decoder) == 2 * 591_360 + 591_360 + 590_208 + 3 * 768 == 2_366_592
    assert model.queries.shape == (1, 6, 384) and model.head.bias is None and n_params(model.head) == 384


def test_paper_structure():
    with torch.device("meta"):
        model = create_model("deiqt_small")  # alias of deiqt_vit_s16
    block = model.encoder.blocks[0]
    assert block.norm1.eps == 1e-6 and model.encoder.norm.eps == 1e-6
    assert block.attn.num_heads == 6 and block.attn.qkv.bias is not None
    assert block.mlp.fc1.out_features == 1536
    assert model.encoder.no_embed_class and model.encoder.num_prefix_tokens == 1
    layer = model.decoder[0]
    assert layer.norm_first and layer.self_attn.batch_first and layer.self_attn.num_heads == 6
    assert layer.linear1.out_features == 1536 and layer.dropout.p == 0.0


def test_init_values():
    model = create_model("deiqt_tiny")
    block = model.encoder.blocks[0]
    assert torch.all(block.ls1.gamma == 1e-4) and torch.all(block.ls2.gamma == 1e-4)
    assert torch.all(block.attn.qkv.bias == 0)
    # trunc-normal(std 0.02); torch's default cut at ±2 (absolute) leaves it a plain normal here.
    for p in (block.mlp.fc1.weight, model.queries, model.encoder.pos_embed, model.head.weight):
        assert 0.012 < float(p.detach().std()) < 0.03
    names = model.no_weight_decay()
    assert {"encoder.pos_embed", "encoder.cls_token", "encoder.blocks.0.ls1.gamma",
            "encoder.blocks.0.attn.qkv.bias"} <= names
    assert "queries" not in names and "encoder.blocks.0.attn.qkv.weight" not in names


# --- forward ----------------------------------------------------------------------------------------


def test_forward_shapes(tiny):
    x = inputs()
    with torch.no_grad():
        score = tiny(x)
        cls, tokens = tiny.forward_features(x)
        panel = tiny.forward_decoder(cls, tokens)
    assert score.shape == (2,) and score.dtype == torch.float32 and torch.isfinite(score).all()
    assert cls.shape == (2, 96) and tokens.shape == (2, 196, 96) and panel.shape == (2, 6, 96)
    torch.testing.assert_close(score, tiny.head(panel).squeeze(-1).mean(1))


def test_batch_independence(tiny):
    x = inputs(3)
    with torch.no_grad():
        torch.testing.assert_close(tiny(x)[1:2], tiny(x[1:2]), atol=1e-5, rtol=1e-5)


def test_determinism(tiny):
    x = inputs()
    with torch.no_grad():
        assert torch.equal(tiny(x), tiny(x))
    torch.manual_seed(3)
    a = create_model("deiqt_tiny")
    torch.manual_seed(3)
    b = create_model("deiqt_tiny")
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name


def test_normalize_input(tiny):
    own = create_model("deiqt_tiny", normalize_input=True).eval()
    own.load_state_dict(tiny.state_dict())
    x01 = torch.rand(2, 3, 224, 224)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(own(x01), tiny((x01 - mean) / std))
    assert "mean" not in own.state_dict()  # buffers are not weights


def test_gradients_reach_every_parameter():
    model = create_model("deiqt_tiny").train()
    # LayerScale at 1e-4 and the zero-init biases still give non-zero grads; check all of them.
    model(inputs()).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_input_errors(tiny):
    with pytest.raises(ValueError, match=r"Tensor\[B, 3, 224, 224\]"):
        tiny(torch.randn(2, 3, 192, 192))
    with pytest.raises(ValueError, match="got \\(3, 224, 224\\)"):
        tiny(torch.randn(3, 224, 224))
    with pytest.raises(TypeError, match="floating-point"):
        tiny(torch.zeros(1, 3, 224, 224, dtype=torch.uint8))


def test_backend_argument():
    assert create_model("deiqt_tiny", backend="reference").backend == "reference"
    assert create_model("deiqt_tiny").backend == "auto"
    with pytest.raises(ValueError, match="backend must be one of"):
        create_model("deiqt_tiny", backend="fast")


# --- checkpoints -----------------------------------------------------------------------------------


def test_checkpoint_round_trip(tiny, tmp_path):
    path = tmp_path / "deiqt_tiny.pth"
    torch.save(tiny.state_dict(), path)
    loaded = create_model("deiqt_tiny", checkpoint_path=path).eval()
    x = inputs()
    with torch.no_grad():
        assert torch.equal(loaded(x), tiny(x))
    # Official-code layout ({"model": ...}) and DDP prefixes are accepted too.
    torch.save({"model": {f"module.{k}": v for k, v in tiny.state_dict().items()}}, tmp_path / "ddp.pth")
    wrapped = create_model("deiqt_tiny", checkpoint_path=str(tmp_path / "ddp.pth")).eval()
    with torch.no_grad():
        assert torch.equal(wrapped(x), tiny(x))
    # pretrained=True reads PretrainedCfg.file (locally), checked against its sha256.
    import hashlib

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    model = create_model("deiqt_tiny", pretrained=True, pretrained_cfg_overlay={"file": str(path), "sha256": digest})
    assert model.pretrained_cfg.file == str(path)
    with pytest.raises(CheckpointError, match="sha256"):
        create_model("deiqt_tiny", pretrained=True, pretrained_cfg_overlay={"file": str(path), "sha256": "0" * 64})


def test_checkpoint_errors(tiny, tmp_path):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(CheckpointError, match="not found: .*nowhere.pth"):
        create_model("deiqt_tiny", checkpoint_path=missing)
    state = tiny.state_dict()
    bad = {k: v for k, v in state.items() if not k.startswith("decoder.")}
    bad["head.bias"] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as info:
        create_model("deiqt_tiny", checkpoint_path=tmp_path / "bad.pth")
    msg = str(info.value)
    assert "bad.pth" in msg and "missing keys" in msg and "decoder.0.self_attn.in_proj_weight" in msg
    assert "1 unexpected keys (head.bias)" in msg and "more)" in msg
    # Same keys, other width: shape mismatches.
    torch.save(state, tmp_path / "tiny.pth")
    shapes = r"shape mismatches .*checkpoint \(1, 196, 96\) vs model \(1, 196, 48\)"
    with pytest.raises(CheckpointError, match=shapes):
        load_checkpoint(DEIQT(embed_dim=48, depth=2), tmp_path / "tiny.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*junk.pth"):
        create_model("deiqt_tiny", checkpoint_path=tmp_path / "junk.pth")
    with pytest.raises(CheckpointError, match="no local weights .*never downloads"):
        create_model("deiqt_tiny", pretrained=True)


# --- registry --------------------------------------------------------------------------------------


def test_list_models():
    names = list_models()
    assert {"deiqt_vit_s16", "deiqt_tiny"} <= set(names) and names == sorted(names)
    assert list_models("deiqt_t*") == ["deiqt_tiny"]
    assert list_models(["nothing*", "deiqt_vit*"]) == ["deiqt_vit_s16"]
    assert list_models(pretrained=True) == []  # no weights are shipped; none are downloaded
    cfg = get_pretrained_cfg("deiqt_vit_s16")
    assert isinstance(cfg, PretrainedCfg) and cfg.input_size == (3, 224, 224) and cfg.file is None


def test_create_model_errors():
    with pytest.raises(UnknownModelError, match="unknown model 'deiqt_vit_s15'.*Did you mean 'deiqt_vit_s16'") as info:
        create_model("deiqt_vit_s15")
    assert "Known models: " in str(info.value) and "deiqt_tiny" in str(info.value)
    with pytest.raises(UnknownModelError, match="Known models: .*deiqt_vit_s16"):
        create_model("resnet50")
    with pytest.raises(UnknownModelError, match="unknown pretrained tag 'koniq' for 'deiqt_vit_s16'"):
        create_model("deiqt_vit_s16.koniq")
    with pytest.raises(TypeError):
        create_model("deiqt_tiny", not_an_argument=1)


def test_direct_construction_matches_registry():
    torch.manual_seed(0)
    a = DEIQT(embed_dim=96, depth=2)
    torch.manual_seed(0)
    b = create_model("deiqt_tiny")
    assert a.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


# --- imports ---------------------------------------------------------------------------------------


def test_import_does_not_import_timm():
    code = ("import sys, pyiqa_fast, pyiqa_fast.models; "
            "sys.exit(1 if 'timm' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_missing_timm_message(monkeypatch):
    for mod in [m for m in sys.modules if m == "timm" or m.startswith("timm.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ImportError, match=r"pip install pyiqa-fast\[models\]"):
        create_model("deiqt_tiny")

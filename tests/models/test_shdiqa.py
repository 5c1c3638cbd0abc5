"""SHDIQA's student (DEIQT + BAF) and teacher (docs/design/shdiqa.md).

Most tests use the tiny variants (D 96, 2 blocks, 6 heads, 8×8 patches at 64²: an 8×8 token
grid, vertical = token columns 0–3 / 4–7); parameter counts use the paper size on the meta device.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("timm")

from pyiqa_fast._backends import BackendUnavailableError  # noqa: E402
from pyiqa_fast.distortions.block import token_block_map  # noqa: E402
from pyiqa_fast.models import (  # noqa: E402
    DEIQT,
    SHDIQAStudent,
    SHDIQATeacher,
    StudentOutput,
    TeacherOutput,
    create_model,
    get_pretrained_cfg,
    list_models,
)
from pyiqa_fast.ops import partition_groups  # noqa: E402

TINY = {"embed_dim": 96, "depth": 2, "num_heads": 6, "img_size": 64, "patch_size": 8}
N_TOKENS = 64


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def images(batch: int = 2, seed: int = 1, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(batch, 3, 64, 64, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def block_map(mode: tuple[int, int], batch: int = 1) -> torch.Tensor:
    """BlockDegradation's int8 token block map of a 64² crop with 8² tokens."""
    return token_block_map(64, 64, mode, 8).expand(batch, -1, -1).contiguous()


def lively(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """LayerScale γ drawn in [0.2, 1.5] instead of its 1e-4 init, so that the attention (and hence
    the mask) moves the tokens by more than rounding."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".gamma"):
                p.copy_(torch.rand(p.shape, generator=generator) * 1.3 + 0.2)
    return model


def student(seed: int = 0, **kw) -> SHDIQAStudent:
    torch.manual_seed(seed)
    return lively(create_model("shdiqa_student_tiny", **kw), seed)


def teacher(seed: int = 0, **kw) -> SHDIQATeacher:
    torch.manual_seed(seed)
    return lively(create_model("shdiqa_teacher_tiny", **kw), seed)


def deiqt_like(model: SHDIQAStudent) -> DEIQT:
    """A DEIQT of the student's size with the student's weights (all but the Filtering gate)."""
    ref = DEIQT(**TINY, num_queries=model.num_queries)
    missing, unexpected = model.load_state_dict(ref.state_dict(), strict=False)
    assert sorted(missing) == ["block_filter.bias", "block_filter.weight"] and not unexpected
    return ref


def dense_mask(groups: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """Additive (N, N) BAF mask (docs/design/shdiqa.md): 0 where allowed, −inf elsewhere."""
    g = groups.long()
    allowed = (g[:, None] < 0) | (g[None, :] < 0) | (g[:, None] == g[None, :])
    return torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, float("-inf"))


# --- registry and parameter budget -----------------------------------------------------------------


def test_registered():
    assert {"shdiqa_student", "shdiqa_student_tiny", "shdiqa_teacher", "shdiqa_teacher_tiny"} <= set(list_models())
    assert get_pretrained_cfg("shdiqa_student").protocol == "shdiqa"
    assert get_pretrained_cfg("shdiqa_student_tiny").input_size == (3, 64, 64)


def test_student_parameter_count_is_24_191_616():
    # docs/design/shdiqa.md, parameter budget: DEIQT 24,043,776 + gate 384·384 + 384 = 147,840 → 24,191,616 (24.2M,
    # SHDIQA-supp Table 5). The partition changes the mask, not the parameters.
    for partition in ("vertical", "horizontal", "grid2x2"):
        with torch.device("meta"):
            model = create_model("shdiqa_student", partition=partition)
        assert n_params(model) == 24_191_616, partition
    assert n_params(model.block_filter) == 384 * 384 + 384 == 147_840
    assert n_params(model) - n_params(model.block_filter) == 24_043_776  # DEIQT, unchanged
    assert model.num_queries == 6 and model.baf_layers == 1 and model.baf_placement == "encoder"


def test_alternative_b_parameter_counts():
    with torch.device("meta"):
        vertical = create_model("shdiqa_student", baf_placement="decoder")
        grid = create_model("shdiqa_student", baf_placement="decoder", partition="grid2x2")
    assert vertical.num_queries == 6 and n_params(vertical) == 24_191_616
    # 2×2 grid: 8 queries, 2 per block (docs/design/shdiqa.md) → 2 more query vectors.
    assert grid.num_queries == 8 and n_params(grid) == 24_191_616 + 2 * 384 == 24_192_384
    assert student(baf_placement="decoder", partition="grid2x2").query_groups.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_teacher_parameter_count_is_21_685_276():
    with torch.device("meta"):
        model = create_model("shdiqa_teacher")
    assert n_params(model.encoder) == 21_674_496  # the student's (DEIQT's) encoder
    assert n_params(model.type_head) == 384 * 24 + 24 == 9_240
    assert n_params(model.level_head) == 384 * 4 + 4 == 1_540
    assert n_params(model) == 21_685_276


def test_tiny_parameter_counts():
    assert n_params(create_model("shdiqa_student_tiny")) == 398_976 + 96 * 96 + 96 == 408_288
    assert n_params(create_model("shdiqa_teacher_tiny")) == 249_024 + 96 * 24 + 24 + 96 * 4 + 4 == 251_740
    assert n_params(create_model("shdiqa_teacher_tiny").encoder) == n_params(create_model("deiqt_tiny", **TINY).encoder)


def test_state_dict_is_deiqts_plus_the_gate():
    model = student()
    keys = set(model.state_dict())
    assert keys - set(DEIQT(**TINY).state_dict()) == {"block_filter.weight", "block_filter.bias"}
    assert "baf_groups" not in keys and "query_groups" not in keys  # non-persistent
    assert "block_filter.bias" in model.no_weight_decay() and "block_filter.weight" not in model.no_weight_decay()
    assert set(teacher().state_dict()) - {k for k in keys if k.startswith("encoder.")} == {
        "type_head.weight", "type_head.bias", "level_head.weight", "level_head.bias"}


# --- forward: shapes and the decoder memory --------------------------------------------------------


@pytest.mark.parametrize("partition,k", [("vertical", 2), ("horizontal", 2), ("grid2x2", 4)])
def test_student_outputs_and_decoder_memory(partition, k):
    model = student(partition=partition).eval()
    seen = []
    model.decoder[0].multihead_attn.register_forward_pre_hook(lambda mod, args, kw: seen.append(args[1].shape),
                                                             with_kwargs=True)
    x = images()
    with torch.no_grad():
        score = model(x)
        out = model(x, return_features=True)
    assert score.shape == (2,) and torch.isfinite(score).all()
    assert isinstance(out, StudentOutput)
    assert out.tokens.shape == (2, N_TOKENS, 96) and out.blocks.shape == (2, k, 96)
    assert out.block_valid.shape == (2, k) and out.block_valid.all()
    torch.testing.assert_close(out.score, score, rtol=0, atol=0)
    assert seen[0] == (2, N_TOKENS + k, 96)  # memory = 64 patch tokens + K filtered block tokens
    # The block features are the means of the final-normed tokens over each block (before the gate).
    ids = partition_groups(partition, grid=(8, 8), cls_tokens=0)
    for b in range(k):
        torch.testing.assert_close(out.blocks[:, b], out.tokens[:, ids == b].mean(1), atol=1e-6, rtol=1e-6)
    gate = torch.sigmoid(model.block_filter(out.blocks))
    torch.testing.assert_close(model.filter_blocks(out.blocks), gate * out.blocks)


def test_paper_size_memory_is_196_plus_k():
    torch.manual_seed(0)
    model = create_model("shdiqa_student").eval()
    seen = []
    model.decoder[0].multihead_attn.register_forward_pre_hook(lambda mod, args: seen.append(args[1].shape))
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224), return_features=True)
    assert seen == [(1, 196 + 2, 384)] and out.blocks.shape == (1, 2, 384) and out.tokens.shape == (1, 196, 384)
    assert model.baf_groups.shape == (197,) and model.baf_groups[0] == -1
    grid = model.baf_groups[1:].view(14, 14)
    assert (grid[:, :7] == 0).all() and (grid[:, 7:] == 1).all()


def test_teacher_outputs():
    model = teacher(partition="grid2x2").eval()
    x = images()
    with torch.no_grad():
        types, levels = model(x)
        out = model(x, return_features=True)
    assert types.shape == (2, 4, 24) and levels.shape == (2, 4, 4)
    assert isinstance(out, TeacherOutput) and out.tokens.shape == (2, N_TOKENS, 96) and out.blocks.shape == (2, 4, 96)
    torch.testing.assert_close(out.type_logits, types, rtol=0, atol=0)
    torch.testing.assert_close(out.level_logits, model.level_head(out.blocks))


# --- BAF: the mask ---------------------------------------------------------------------------------


@pytest.mark.parametrize("placement", ["encoder", "decoder"])
@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_all_global_partition_is_plain_deiqt(placement, backend):
    # All ids −1: every token global (no mask) and every block empty (its memory token left out),
    # so the student is DEIQT with the same weights, masked path and all (train mode).
    model = student(baf_placement=placement, baf_layers=1, backend=backend)
    ref = deiqt_like(model)
    x = images(3)
    everywhere = torch.full((3, 8, 8), -1, dtype=torch.int8)
    out = model(x, everywhere, return_features=True)
    assert not out.block_valid.any()
    torch.testing.assert_close(out.score, ref(x), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.tokens, ref.forward_features(x)[1], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("partition", ["vertical", "horizontal", "grid2x2"])
def test_masked_encoder_equals_dense_masked_attention(partition):
    # baf_layers = depth: every block masked, as timm's forward_features with the dense (N, N) mask.
    model = student(partition=partition, baf_layers=2)
    x = images()
    tokens = model.encode(x).tokens
    expected = model.encoder.forward_features(x, attn_mask=dense_mask(model.baf_groups))[:, 1:]
    torch.testing.assert_close(tokens, expected, atol=1e-5, rtol=1e-5)
    # Only the last baf_layers blocks are masked: block 1 of 2 alone differs from both.
    last_only = student(partition=partition, baf_layers=1).encode(x).tokens
    unmasked = student(partition=partition, baf_layers=0).encode(x).tokens
    assert (last_only - expected).abs().max() > 1e-4 and (last_only - unmasked).abs().max() > 1e-4


def test_mask_separates_blocks():
    # One encoder block, masked: a patch token sees its own block and CLS, whose input does not
    # depend on the image; so changing the right half leaves the left block's tokens unchanged.
    model = student(depth=1, baf_layers=1)
    x = images(1)
    y = x.clone()
    y[..., 32:] = torch.randn_like(y[..., 32:])
    a, b = model.encode(x).tokens.view(1, 8, 8, 96), model.encode(y).tokens.view(1, 8, 8, 96)
    assert (a[:, :, 4:] - b[:, :, 4:]).abs().max() > 1e-3  # the changed block moves
    torch.testing.assert_close(a[:, :, :4], b[:, :, :4], atol=1e-6, rtol=0)
    plain = student(depth=1, baf_layers=0)
    a, b = plain.encode(x).tokens.view(1, 8, 8, 96), plain.encode(y).tokens.view(1, 8, 8, 96)
    assert (a[:, :, :4] - b[:, :, :4]).abs().max() > 1e-5  # without the mask it leaks


def test_alternative_b_decoder_equals_dense_masked_cross_attention():
    model = student(baf_placement="decoder").eval()
    x = images()
    with torch.no_grad():
        features = model.encode(x)
        memory = torch.cat([features.tokens, model.filter_blocks(features.blocks)], 1)
        groups = torch.cat([model.baf_groups[1:], torch.arange(2, dtype=torch.int32)])
        panel = model.forward_decoder(features.cls, memory, memory_groups=groups)
        q = model.queries + features.cls.unsqueeze(1)
        qg, kg = model.query_groups.long(), groups.long()
        allowed = (qg[:, None] == kg[None, :]) | (kg[None, :] < 0)
        mask = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))
        expected = model.decoder[0](q, memory, memory_mask=mask)
        torch.testing.assert_close(panel, expected, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(model(x), model.head(expected).squeeze(-1).mean(1), atol=1e-6, rtol=1e-6)
        # The encoder is unmasked in Alternative B.
        unmasked = student(baf_layers=0)
        unmasked.load_state_dict(model.state_dict())
        torch.testing.assert_close(features.tokens, unmasked.encode(x).tokens, rtol=0, atol=0)
    assert model.query_groups.tolist() == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("placement", ["encoder", "decoder"])
def test_baf_at_inference(placement):
    on = student(baf_placement=placement)
    off = student(baf_placement=placement, baf_at_inference=False)
    plain = student(baf_layers=0)  # same weights: the seeds agree
    x = images()
    with torch.no_grad():
        train_on, train_off = on(x), off(x)  # training always masks
        torch.testing.assert_close(train_on, train_off, rtol=0, atol=0)
        on.eval(), off.eval(), plain.eval()
        torch.testing.assert_close(on(x), train_on, atol=1e-6, rtol=1e-6)  # eval may take other kernels
        # Eval without the mask: plain attention, the K filtered block tokens still in the memory.
        torch.testing.assert_close(off(x), plain(x), atol=1e-6, rtol=1e-6)
        assert (off(x) - on(x)).abs().max() > 1e-6
        assert off(x, return_features=True).blocks.shape == (2, 2, 96)


def test_teacher_masks_in_eval_too():
    model = teacher()
    x = images()
    with torch.no_grad():
        train = model(x)[0]
        torch.testing.assert_close(model.eval()(x)[0], train, atol=1e-6, rtol=1e-6)
        plain = teacher(baf_layers=0).eval()(x)[0]
    assert (plain - train).abs().max() > 1e-6


# --- backends, dtypes, gradients -------------------------------------------------------------------


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 2e-6), (torch.float64, 1e-12)])
@pytest.mark.parametrize("placement", ["encoder", "decoder"])
def test_backends_agree(dtype, atol, placement):
    x = images(3, dtype=dtype)
    maps = torch.stack([block_map((1, 2))[0], block_map((2, 2))[0], block_map((2, 1))[0]])
    results = {}
    for backend in ("reference", "cpu"):
        model = student(baf_placement=placement, partition="grid2x2", baf_layers=1, backend=backend).to(dtype)
        for name, kw in (("fixed", {}), ("per-sample", {"block_map": maps, "num_blocks": 4})):
            model.zero_grad()
            out = model(x, return_features=True, **kw)
            (out.score.sum() + out.blocks.square().mean()).backward()
            results[backend, name] = (out.score.detach(), out.tokens.detach(),
                                      [p.grad.clone() for p in model.parameters()])
    for name in ("fixed", "per-sample"):
        ref, cpu = results["reference", name], results["cpu", name]
        assert ref[0].dtype == dtype
        torch.testing.assert_close(cpu[0], ref[0], atol=atol, rtol=0)
        torch.testing.assert_close(cpu[1], ref[1], atol=atol * 10, rtol=0)
        for g_cpu, g_ref in zip(cpu[2], ref[2], strict=True):
            torch.testing.assert_close(g_cpu, g_ref, atol=atol * 10, rtol=atol * 10)


def test_explicit_backend_reaches_block_attention():
    # An explicit backend never falls back: cuda on CPU tensors is refused, naming the op.
    model = student(backend="cuda")
    with pytest.raises(BackendUnavailableError, match="block_attention"):
        model(images())
    with pytest.raises(BackendUnavailableError, match="block_attention"):
        teacher(backend="cuda")(images())


@pytest.mark.parametrize("placement", ["encoder", "decoder"])
def test_gradients_reach_every_student_parameter(placement):
    model = student(baf_placement=placement, partition="grid2x2")
    out = model(images(), return_features=True)
    out.score.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_gradients_reach_every_teacher_parameter():
    model = teacher(partition="grid2x2")
    types, levels = model(images())
    loss = (torch.nn.functional.cross_entropy(types.flatten(0, 1), torch.tensor([0, 1, 2, 3] * 2))
            + torch.nn.functional.cross_entropy(levels.flatten(0, 1), torch.tensor([0, 1, 2, 3] * 2)))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


# --- per-sample block maps -------------------------------------------------------------------------


def test_block_map_of_the_fixed_partition_equals_the_default():
    model = student(partition="grid2x2").eval()
    x = images()
    with torch.no_grad():
        default = model(x, return_features=True)
        mapped = model(x, block_map(model.partition, 2), return_features=True)
    torch.testing.assert_close(mapped.score, default.score, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(mapped.blocks, default.blocks, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("name", ["student", "teacher"])
def test_per_sample_block_maps(name):
    # A teacher batch with a partition mode per sample (vertical, 2×2, horizontal), K = 4 slots:
    # each sample as if alone, and a 2-block sample's blocks 2, 3 invalid (zeros).
    model = (student if name == "student" else teacher)().eval()
    x = images(3)
    maps = torch.stack([block_map((1, 2))[0], block_map((2, 2))[0], block_map((2, 1))[0]])
    with torch.no_grad():
        batched = model(x, maps, num_blocks=4, return_features=True)
        for i in range(3):
            alone = model(x[i:i + 1], maps[i:i + 1], num_blocks=4, return_features=True)
            torch.testing.assert_close(batched.blocks[i:i + 1], alone.blocks, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(batched.tokens[i:i + 1], alone.tokens, atol=1e-5, rtol=1e-5)
            if name == "student":
                torch.testing.assert_close(batched.score[i:i + 1], alone.score, atol=1e-5, rtol=1e-5)
    assert batched.block_valid.tolist() == [[True, True, False, False], [True] * 4, [True, True, False, False]]
    assert (batched.blocks[0, 2:] == 0).all()
    # Sample 1 (2×2) sees its own partition: the same as a model whose fixed partition is the grid.
    grid = (student if name == "student" else teacher)(partition="grid2x2").eval()
    with torch.no_grad():
        torch.testing.assert_close(grid(x[1:2], return_features=True).tokens, batched.tokens[1:2],
                                   atol=1e-5, rtol=1e-5)


def test_block_map_from_block_degradation():
    from pyiqa_fast.distortions import BlockDegradation

    bdm = BlockDegradation("grid2x2", patch_size=8)
    out = bdm(torch.rand(2, 3, 64, 64), generator=torch.Generator().manual_seed(0))
    assert out.block_map.dtype == torch.int8 and out.block_map.shape == (2, 8, 8)
    model = teacher().eval()
    with torch.no_grad():
        types, levels = model(out.degraded, out.block_map, num_blocks=4)
    assert types.shape == (2, 4, 24) and levels.shape == (2, 4, 4)


# --- pretrained encoder and checkpoints ------------------------------------------------------------


@pytest.mark.parametrize("name", ["shdiqa_student_tiny", "shdiqa_teacher_tiny"])
def test_pretrained_encoder_file(name, tmp_path):
    import timm

    torch.manual_seed(7)
    vit = timm.create_model("deit3_small_patch16_224", pretrained=False, **TINY)
    torch.save(vit.state_dict(), tmp_path / "vit.pth")
    model = create_model(name, pretrained=tmp_path / "vit.pth")
    assert model.pretrained_report is not None and model.pretrained_report.dropped == ("head.weight", "head.bias")
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, vit.state_dict()[key]), key


def test_checkpoint_round_trip(tmp_path):
    model = student(seed=3, baf_placement="decoder", partition="grid2x2")
    torch.save(model.state_dict(), tmp_path / "s.pth")
    loaded = create_model("shdiqa_student_tiny", checkpoint_path=tmp_path / "s.pth", baf_placement="decoder",
                          partition="grid2x2")
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(images()), model.eval()(images()), rtol=0, atol=0)


# --- bad arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,error,match", [
    ({"partition": "diagonal"}, ValueError,
     r"partition must be one of 'vertical', 'horizontal', 'grid2x2'.*'diagonal'"),
    ({"partition": (0, 2)}, ValueError, r"partition .*positive integers, got \(0, 2\)"),
    ({"partition": (9, 1)}, ValueError, r"partition \(9, 1\) needs a token grid of at least 9×1, got 8×8"),
    ({"baf_layers": 3}, ValueError, r"baf_layers must be an integer in \[0, 2\], got 3"),
    ({"baf_layers": True}, TypeError, r"baf_layers must be an integer in \[0, 2\], got True \(bool\)"),
    ({"baf_layers": 2, "baf_placement": "decoder"}, ValueError, r"baf_layers must be an integer in \[0, 1\], got 2"),
    ({"baf_placement": "panel"}, ValueError, r"baf_placement must be one of 'encoder', 'decoder', got 'panel'"),
    ({"baf_at_inference": "yes"}, TypeError, r"baf_at_inference must be True or False, got 'yes' \(str\)"),
    ({"baf_placement": "decoder", "partition": "grid2x2", "num_queries": 6}, ValueError,
     r"num_queries must be a multiple of the 4 blocks .*got 6"),
    ({"backend": "gpu"}, ValueError, r"backend must be one of auto, .*got 'gpu'"),
])
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        create_model("shdiqa_student_tiny", **kwargs)


def test_bad_teacher_arguments():
    with pytest.raises(ValueError, match=r"num_types must be an integer >= 1, got 0"):
        create_model("shdiqa_teacher_tiny", num_types=0)
    with pytest.raises(ValueError, match=r"partition must be one of"):
        create_model("shdiqa_teacher_tiny", partition="whole")


@pytest.mark.parametrize("args,kwargs,error,match", [
    ((torch.zeros(2, 3, 32, 32),), {}, ValueError,
     r"SHDIQAStudent expects x of shape Tensor\[B, 3, 64, 64\], got \(2, 3, 32, 32\)"),
    ((torch.zeros(2, 3, 64, 64, dtype=torch.int64),), {}, TypeError, r"floating-point x, got torch.int64"),
    ((images(), torch.zeros(2, 8, 8)), {}, TypeError,
     r"block_map must be an integer tensor of block ids, got dtype torch.float32"),
    ((images(), torch.zeros(2, 8, 8, dtype=torch.bool)), {}, TypeError, r"block_map must be an integer tensor"),
    ((images(), [[0]]), {}, TypeError,
     r"block_map must be None or an integer Tensor\[B, H/p, W/p\] = \[2, 8, 8\], got list"),
    ((images(), torch.zeros(2, 14, 14, dtype=torch.int8)), {}, ValueError,
     r"block_map must have shape \(B, H/p, W/p\) = \(2, 8, 8\), got \(2, 14, 14\)"),
    ((images(), torch.zeros(1, 8, 8, dtype=torch.int8)), {}, ValueError, r"= \(2, 8, 8\), got \(1, 8, 8\)"),
    ((images(), torch.full((2, 8, 8), 2, dtype=torch.int8)), {}, ValueError,
     r"block_map ids must be < num_blocks = 2 \(negative = a global token in no block\), got id 2"),
    ((images(), torch.full((2, 8, 8), 3, dtype=torch.int64)), {"num_blocks": 3}, ValueError,
     r"< num_blocks = 3.*got id 3"),
    ((images(), torch.zeros(2, 8, 8, dtype=torch.int8)), {"num_blocks": 0}, ValueError,
     r"num_blocks must be an integer >= 1, got 0"),
    ((images(), torch.zeros(2, 8, 8, dtype=torch.int8)), {"num_blocks": 2.0}, TypeError,
     r"num_blocks must be an integer >= 1, got 2.0 \(float\)"),
    ((images(),), {"num_blocks": 4}, ValueError,
     r"num_blocks is 4 but no block_map was given; the fixed partition \(1, 2\) has 2 blocks"),
])
def test_bad_forward_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        student()(*args, **kwargs)


def test_bad_forward_arguments_alternative_b():
    model = student(baf_placement="decoder")
    with pytest.raises(ValueError, match=r"num_blocks must be the partition's 2 with baf_placement='decoder'.*got 4"):
        model(images(), block_map((1, 2), 2), num_blocks=4)
    with pytest.raises(ValueError, match=r"memory_groups must be None with baf_placement='encoder'"):
        student().forward_decoder(torch.zeros(2, 96), torch.zeros(2, 66, 96), memory_groups=torch.zeros(66))
    with pytest.raises(ValueError, match=r"SHDIQATeacher expects x of shape"):
        teacher()(torch.zeros(1, 3, 224, 224))

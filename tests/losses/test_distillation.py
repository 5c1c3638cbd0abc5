"""SHDIQA's distillation losses (pyiqa_fast.losses.distillation; docs/design/shdiqa.md).

The hand-computed cases write out every logit; features are 2-D or 3-D unit (or scaled) vectors,
so each cosine is 0, ±1 or ±1/√2.
"""

from __future__ import annotations

import math

import pytest
import torch

from pyiqa_fast.losses import AffinityKDLoss, ContrastiveKDLoss, affinity_kd_loss, contrastive_kd_loss

F64 = torch.float64


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- CKD: hand-computed -----------------------------------------------------------------------------


def test_ckd_two_orthogonal_blocks():
    # One image, two blocks of types 0 and 1, student = teacher = the unit axes, τ = 1. Each anchor:
    # positive cosine 1, one negative (the other block) of cosine 0:
    # ℓ = −log(e¹ / (e¹ + e⁰)) = log(1 + e⁻¹) = 0.31326168751822286.
    s = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    loss = contrastive_kd_loss(s, s.clone(), torch.tensor([[0, 1]]), tau=1.0)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-7)
    assert math.log(1 + math.exp(-1)) == pytest.approx(0.31326168751822286, abs=1e-15)


def test_ckd_four_blocks_written_out():
    # B = 2, K = 2, τ = 0.5 (logit = 2·cosine); types [[0, 1], [0, 2]]; a = (n, k) row-major.
    # ŝ: s0 = (1, 0), s1 = (0, 1), s2 = (3, 0) → (1, 0), s3 = (1, 1) → (1, 1)/√2
    # t̂: t0 = (1, 0), t1 = (0, 2) → (0, 1), t2 = (−1, 0), t3 = (0, 1)
    # anchor 0 (type 0): pos 2·1 = 2; negatives c1 (type 1), c3 (type 2), both cosine 0; c2 has type 0,
    #   so it is no negative:       ℓ0 = log(e² + 1 + 1) − 2        = log(1 + 2e⁻²)     = 0.23954476622188453
    # anchor 1 (type 1): pos 2; negatives c0: 0, c2: 0, c3: 2·1 = 2
    #                              ℓ1 = log(e² + 1 + 1 + e²) − 2   = log(2 + 2e⁻²)     = 0.8200751916029179
    # anchor 2 (type 0): pos 2·(−1) = −2; negatives c1: 0, c3: 0
    #                              ℓ2 = log(e⁻² + 2) + 2                              = 2.7586236756795133
    # anchor 3 (type 2): pos 2/√2 = √2; negatives c0: √2, c1: √2, c2: −√2
    #                              ℓ3 = log(3e^√2 + e^−√2) − √2    = log(3 + e^(−2√2)) = 1.118122633568316
    # mean = 1.234091566768158
    s = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[3.0, 0.0], [1.0, 1.0]]], dtype=F64)
    t = torch.tensor([[[1.0, 0.0], [0.0, 2.0]], [[-1.0, 0.0], [0.0, 1.0]]], dtype=F64)
    types = torch.tensor([[0, 1], [0, 2]])
    expected = [[0.23954476622188453, 0.8200751916029179], [2.7586236756795133, 1.118122633568316]]
    per = contrastive_kd_loss(s, t, types, tau=0.5, reduction="none")
    assert per.dtype == F64 and per.shape == (2, 2)
    torch.testing.assert_close(per, torch.tensor(expected, dtype=F64), atol=1e-14, rtol=0)
    assert contrastive_kd_loss(s, t, types, tau=0.5).item() == pytest.approx(1.234091566768158, abs=1e-14)
    assert contrastive_kd_loss(s, t, types, tau=0.5, reduction="sum").item() == pytest.approx(4 * 1.234091566768158,
                                                                                             abs=1e-13)
    # The formula, written as one line per anchor, agrees (the definition the comments follow).
    assert expected[0][0] == pytest.approx(math.log(1 + 2 * math.exp(-2)), abs=1e-15)
    assert expected[1][1] == pytest.approx(math.log(3 + math.exp(-2 * math.sqrt(2))), abs=1e-15)


def test_ckd_one_type_batch_has_no_negative():
    # Every block of the batch has type 5: each anchor's denominator is its positive alone,
    # ℓ = log 1 = 0 with zero gradient, and the anchors count in the mean → exactly 0, not NaN.
    s = randn(3, 2, 8, seed=1).requires_grad_()
    t = randn(3, 2, 8, seed=2).requires_grad_()
    loss = contrastive_kd_loss(s, t, torch.full((3, 2), 5))
    assert loss.item() == 0.0
    loss.backward()
    assert (s.grad == 0).all() and (t.grad == 0).all()


def test_ckd_no_negative_happens_to_the_whole_batch_or_to_none():
    # An anchor's negatives are the valid blocks of other types, so with two or more types among
    # the valid blocks every anchor has one, and with one type none has: "ℓ = 0, counted" and
    # "excluded from the mean" differ only for a one-type batch, where excluding would leave an
    # empty mean (NaN). Types [[2, 2], [2, 7]]: all four ℓ > 0, the mean over 4.
    s, t = randn(2, 2, 4, seed=3), randn(2, 2, 4, seed=4)
    per = contrastive_kd_loss(s, t, torch.tensor([[2, 2], [2, 7]]), reduction="none")
    assert (per > 0).all()
    assert contrastive_kd_loss(s, t, torch.tensor([[2, 2], [2, 7]])).item() == pytest.approx(per.mean().item())
    # Pad the type-7 block away: one type left → every valid ℓ = 0 and the loss 0 (not NaN).
    per = contrastive_kd_loss(s, t, torch.tensor([[2, 2], [2, -1]]), reduction="none")
    assert per.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert contrastive_kd_loss(s, t, torch.tensor([[2, 2], [2, -1]])).item() == 0.0


def test_ckd_padding_is_neither_anchor_nor_negative():
    s, t = randn(2, 4, 8, seed=5), randn(2, 4, 8, seed=6)
    types = torch.tensor([[0, 1, -1, -1], [2, 3, 4, 5]])
    per = contrastive_kd_loss(s, t, types, reduction="none")
    assert (per[0, 2:] == 0).all()
    # The same as dropping the padded blocks: image 0 keeps blocks 0, 1 only.
    keep = types.reshape(-1) >= 0
    flat_s, flat_t = s.reshape(1, 8, 8)[:, keep], t.reshape(1, 8, 8)[:, keep]
    dropped = contrastive_kd_loss(flat_s, flat_t, types.reshape(1, 8)[:, keep], reduction="none")
    torch.testing.assert_close(per.reshape(-1)[keep], dropped.reshape(-1), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(contrastive_kd_loss(s, t, types), dropped.mean(), atol=1e-6, rtol=1e-6)
    # All padding: no anchor, loss 0 and still differentiable.
    s.requires_grad_()
    empty = contrastive_kd_loss(s, t, torch.full((2, 4), -1))
    empty.backward()
    assert empty.item() == 0.0 and (s.grad == 0).all()


def test_ckd_same_type_elsewhere_is_not_a_negative():
    # Anchor (0, 0) has type 7; the teacher block (1, 0) also has type 7 → changing it leaves ℓ(0,0).
    s, t = randn(2, 2, 8, seed=7), randn(2, 2, 8, seed=8)
    types = torch.tensor([[7, 1], [7, 2]])
    t2 = t.clone()
    t2[1, 0] = randn(8, seed=9)
    a = contrastive_kd_loss(s, t, types, reduction="none")
    b = contrastive_kd_loss(s, t2, types, reduction="none")
    assert a[0, 0].item() == b[0, 0].item()
    assert a[0, 1].item() != b[0, 1].item()  # for the type-1 anchor it is a negative


# --- CKD: properties -------------------------------------------------------------------------------


def test_ckd_moves_with_the_teacher():
    s, t = randn(4, 2, 16, seed=10), randn(4, 2, 16, seed=11)
    types = torch.tensor([[0, 1], [2, 3], [0, 4], [5, 1]])
    base = contrastive_kd_loss(s, t, types)
    t2 = t.clone()
    t2[2, 1] += 0.5
    assert abs(contrastive_kd_loss(s, t2, types).item() - base.item()) > 1e-4
    # The teacher aligned with the student lowers it.
    assert contrastive_kd_loss(s, s.clone(), types) < base


def test_ckd_permutation_invariance():
    s, t = randn(5, 4, 8, seed=12), randn(5, 4, 8, seed=13)
    types = torch.randint(0, 6, (5, 4), generator=torch.Generator().manual_seed(14))
    base = contrastive_kd_loss(s, t, types)
    images, blocks = torch.randperm(5), torch.randperm(4)
    for perm in ((images, slice(None)), (slice(None), blocks)):
        torch.testing.assert_close(contrastive_kd_loss(s[perm], t[perm], types[perm]), base, atol=1e-6, rtol=1e-6)
    # Not under a permutation of the teacher alone (the positives move).
    assert abs(contrastive_kd_loss(s, t[images], types).item() - base.item()) > 1e-4
    # Positive rescaling of any feature changes nothing (L2-normalised).
    scale = torch.rand(5, 4, 1) * 3 + 0.1
    torch.testing.assert_close(contrastive_kd_loss(s * scale, t / scale, types), base, atol=1e-5, rtol=1e-5)


def test_ckd_gradcheck():
    s = randn(3, 2, 5, seed=15, dtype=F64).requires_grad_()
    t = randn(3, 2, 5, seed=16, dtype=F64).requires_grad_()
    types = torch.tensor([[0, 1], [1, -1], [0, 2]])
    assert torch.autograd.gradcheck(lambda a, b: contrastive_kd_loss(a, b, types, tau=0.3), (s, t))
    assert torch.autograd.gradcheck(lambda a, b: contrastive_kd_loss(a, b, types, reduction="none"), (s, t))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_ckd_low_precision_is_computed_in_fp32(dtype):
    s, t = randn(4, 2, 32, seed=17).to(dtype), randn(4, 2, 32, seed=18).to(dtype)
    types = torch.tensor([[0, 1], [2, 3], [0, 4], [5, 1]])
    loss = contrastive_kd_loss(s, t, types)
    assert loss.dtype == torch.float32
    assert loss.item() == contrastive_kd_loss(s.float(), t.float(), types).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert contrastive_kd_loss(s.float(), t.float(), types).item() == loss.item()


# --- AKD -------------------------------------------------------------------------------------------


def test_akd_two_tokens():
    # Student tokens orthogonal: A^S = I; teacher tokens equal: A^T = all ones.
    # ‖A^S − A^T‖²_F = 0 + 1 + 1 + 0 = 2; / N² = 2 / 4 = 0.5.
    s = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    t = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    loss = affinity_kd_loss(s, t)
    assert loss.dtype == torch.float32 and loss.item() == 0.5


def test_akd_three_tokens_different_widths():
    # N = 3; student D = 2: (1, 0), (0, 1), (1, 1) → a = 1/√2:  A^S = [[1, 0, a], [0, 1, a], [a, a, 1]]
    # teacher D = 3: (1, 0, 0), (1, 0, 0), (0, 0, 5):          A^T = [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    # A^S − A^T = [[0, −1, a], [−1, 0, a], [a, a, 0]]: squares 1 + 1 + 4·½ = 4; / 9 = 0.4444…
    # Image 1: student = teacher direction (scaled) → 0. Mean 2/9, sum 4/9.
    s = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[1.0, 2.0], [2.0, 0.0], [0.0, 3.0]]], dtype=F64)
    t = torch.tensor([[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 5.0]],
                      [[1.0, 2.0, 0.0], [4.0, 0.0, 0.0], [0.0, 0.5, 0.0]]], dtype=F64)  # t[1]: s[1]'s directions
    per = affinity_kd_loss(s, t, reduction="none")
    torch.testing.assert_close(per, torch.tensor([4 / 9, 0.0], dtype=F64), atol=1e-15, rtol=0)
    assert affinity_kd_loss(s, t).item() == pytest.approx(2 / 9, abs=1e-15)
    assert affinity_kd_loss(s, t, reduction="sum").item() == pytest.approx(4 / 9, abs=1e-15)


def test_akd_properties():
    s, t = randn(3, 10, 8, seed=20), randn(3, 10, 12, seed=21)
    base = affinity_kd_loss(s, t)
    assert 0 < base.item() <= 4
    t2 = t.clone()
    t2[1, 3] += 1.0
    assert abs(affinity_kd_loss(s, t2).item() - base.item()) > 1e-4  # the teacher moves it
    assert affinity_kd_loss(s, s * 2.0).item() == pytest.approx(0.0, abs=1e-6)  # same affinities → 0
    images, tokens = torch.randperm(3), torch.randperm(10)
    torch.testing.assert_close(affinity_kd_loss(s[images], t[images]), base, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(affinity_kd_loss(s[:, tokens], t[:, tokens]), base, atol=1e-6, rtol=1e-6)
    assert abs(affinity_kd_loss(s, t[:, tokens]).item() - base.item()) > 1e-4  # not for the teacher alone


def test_akd_gradcheck():
    s = randn(2, 5, 3, seed=22, dtype=F64).requires_grad_()
    t = randn(2, 5, 4, seed=23, dtype=F64).requires_grad_()
    assert torch.autograd.gradcheck(affinity_kd_loss, (s, t))
    assert torch.autograd.gradcheck(lambda a, b: affinity_kd_loss(a, b, reduction="none"), (s, t))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_akd_low_precision_is_computed_in_fp32(dtype):
    s, t = randn(2, 16, 32, seed=24).to(dtype), randn(2, 16, 32, seed=25).to(dtype)
    loss = affinity_kd_loss(s, t)
    assert loss.dtype == torch.float32
    assert loss.item() == affinity_kd_loss(s.float(), t.float()).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert affinity_kd_loss(s.float(), t.float()).item() == loss.item()


# --- modules ---------------------------------------------------------------------------------------


def test_modules_equal_functions():
    s, t = randn(2, 2, 8, seed=26), randn(2, 2, 8, seed=27)
    types = torch.tensor([[0, 1], [2, 0]])
    criterion = ContrastiveKDLoss(tau=0.2, reduction="sum")
    assert repr(criterion) == "ContrastiveKDLoss(tau=0.2, reduction='sum')"
    assert criterion(s, t, types).item() == contrastive_kd_loss(s, t, types, tau=0.2, reduction="sum").item()
    assert ContrastiveKDLoss()(s, t, types).item() == contrastive_kd_loss(s, t, types, tau=0.07).item()
    akd = AffinityKDLoss(reduction="none")
    assert repr(akd) == "AffinityKDLoss(reduction='none')"
    torch.testing.assert_close(akd(s, t), affinity_kd_loss(s, t, reduction="none"), rtol=0, atol=0)


def test_with_the_models():
    # Student and teacher outputs plug straight in: block_valid → type −1 for blocks a sample lacks.
    pytest.importorskip("timm")
    from pyiqa_fast.distortions.block import token_block_map
    from pyiqa_fast.models import create_model

    torch.manual_seed(0)
    student, teacher = create_model("shdiqa_student_tiny"), create_model("shdiqa_teacher_tiny").eval()
    maps = torch.stack([token_block_map(64, 64, (1, 2), 8), token_block_map(64, 64, (2, 2), 8)])
    x = torch.randn(2, 3, 64, 64)
    out = student(x, maps, num_blocks=4, return_features=True)
    with torch.no_grad():
        ref = teacher(x, maps, num_blocks=4, return_features=True)
    types = torch.where(out.block_valid, torch.tensor([[3, 9, 0, 0], [1, 2, 3, 4]]), -1)
    loss = contrastive_kd_loss(out.blocks, ref.blocks, types) + affinity_kd_loss(out.tokens, ref.tokens)
    loss.backward()
    assert torch.isfinite(loss) and student.encoder.blocks[-1].attn.qkv.weight.grad.abs().sum() > 0


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,kwargs,error,match", [
    (([[1.0]], randn(1, 2, 3), torch.zeros(1, 2, dtype=torch.long)), {}, TypeError,
     r"contrastive_kd_loss: student_blocks must be a torch.Tensor, got list"),
    ((torch.zeros(1, 2, 3, dtype=torch.long), randn(1, 2, 3), torch.zeros(1, 2, dtype=torch.long)), {}, TypeError,
     r"student_blocks must be a floating-point tensor, got dtype torch.int64"),
    ((randn(2, 3), randn(2, 3), torch.zeros(2, dtype=torch.long)), {}, ValueError,
     r"student_blocks must have 3 dimensions, got shape \(2, 3\)"),
    ((randn(1, 2, 3), randn(1, 2, 4), torch.zeros(1, 2, dtype=torch.long)), {}, ValueError,
     r"teacher_blocks must have the shape of student_blocks \(B, K, D\) = \(1, 2, 3\), got \(1, 2, 4\)"),
    ((randn(1, 2, 3), randn(1, 2, 3), torch.zeros(1, 2)), {}, TypeError,
     r"block_types must be an integer tensor of type ids, got dtype torch.float32"),
    ((randn(1, 2, 3), randn(1, 2, 3), torch.zeros(2, dtype=torch.long)), {}, ValueError,
     r"block_types must have shape \(B, K\) = \(1, 2\), got \(2,\)"),
    ((randn(1, 2, 3), randn(1, 2, 3), torch.zeros(1, 2, dtype=torch.long)), {"tau": 0.0}, ValueError,
     r"tau must be a finite real number > 0, got 0.0"),
    ((randn(1, 2, 3), randn(1, 2, 3), torch.zeros(1, 2, dtype=torch.long)), {"tau": float("inf")}, ValueError,
     r"tau must be a finite real number > 0, got inf"),
    ((randn(1, 2, 3), randn(1, 2, 3), torch.zeros(1, 2, dtype=torch.long)), {"tau": "0.1"}, TypeError,
     r"tau must be a real number > 0, got str"),
    ((randn(1, 2, 3), randn(1, 2, 3), torch.zeros(1, 2, dtype=torch.long)), {"reduction": "avg"}, ValueError,
     r"reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
])
def test_ckd_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        contrastive_kd_loss(*args, **kwargs)


@pytest.mark.parametrize("args,kwargs,error,match", [
    ((randn(2, 3, 4), "t"), {}, TypeError, r"affinity_kd_loss: teacher_tokens must be a torch.Tensor, got str"),
    ((randn(2, 3, 4), torch.zeros(2, 3, 4, dtype=torch.int32)), {}, TypeError,
     r"teacher_tokens must be a floating-point tensor, got dtype torch.int32"),
    ((randn(2, 3, 4), randn(2, 4, 4)), {}, ValueError,
     r"teacher_tokens must have student_tokens' \(B, N\) = \(2, 3\), got shape \(2, 4, 4\)"),
    ((randn(0, 3, 4), randn(0, 3, 4)), {}, ValueError, r"at least one image and one token, got shape \(0, 3, 4\)"),
    ((randn(2, 3, 4), randn(2, 3, 4)), {"reduction": None}, ValueError, r"reduction must be one of"),
])
def test_akd_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        affinity_kd_loss(*args, **kwargs)


def test_module_argument_errors():
    with pytest.raises(ValueError, match=r"ContrastiveKDLoss: tau must be a finite real number > 0, got -1"):
        ContrastiveKDLoss(tau=-1)
    with pytest.raises(TypeError, match=r"ContrastiveKDLoss: tau must be a real number > 0, got bool"):
        ContrastiveKDLoss(tau=True)
    with pytest.raises(ValueError, match=r"AffinityKDLoss: reduction must be one of"):
        AffinityKDLoss(reduction="batchmean")

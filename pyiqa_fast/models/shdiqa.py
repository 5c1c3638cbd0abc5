"""SHDIQA (CVPR 2025): the BAF student and the quality-aware teacher — a reconstruction.

Li et al., "Distilling Spatially-Heterogeneous Distortion Perception for Blind Image Quality
Assessment", CVPR 2025. The available texts (abstract, supplement) name the parts — Block-wise
Degradation Modelling, a Block-wise Aggregation and Filtering (BAF) module whose aggregation is a
"mask matrix", a quality-aware submodule (the teacher), contrastive and affinity distillation — and
fix the budget (24.2M parameters, supplement Table 5) and the partitions (vertical default,
horizontal, 2×2 grid; supplement Table 3). Everything else here is a reconstruction
(a reconstruction [PROPOSAL]); docs/design/shdiqa.md gives the choices and why.

- :class:`SHDIQAStudent`: DEIQT (docs/design/training.md, :class:`~pyiqa_fast.models.DEIQT`) plus
  BAF — patch tokens attend only within their spatial block (CLS global) in the last
  ``baf_layers`` encoder blocks, through :func:`pyiqa_fast.ops.block_attention`
  (docs/design/ops.md); block-mean features after the final LayerNorm are gated
  (``g = sigmoid(W f + c)``) and appended to the decoder memory (196 + K tokens).
- :class:`SHDIQATeacher`: the same encoder, no decoder, per-block type and level heads.

Both take a per-sample token block map ``(B, H/p, W/p)`` (``BlockDegradation``'s ``block_map``)
or use their fixed partition, and return the features the distillation losses
(:mod:`pyiqa_fast.losses.distillation`) need when asked.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyiqa_fast.models.deiqt import DEIQT, init_linear_and_layernorm, vit_encoder, vit_no_weight_decay
from pyiqa_fast.models.pretrained import DEIT3_SMALL_PATCH16_224, PretrainedReport, load_pretrained_encoder
from pyiqa_fast.models.registry import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PretrainedCfg,
    build_model,
    check_backend,
    register_model,
)
from pyiqa_fast.ops.block_attention import block_attention, partition_groups

__all__ = [
    "NUM_LEVELS",
    "NUM_TYPES",
    "SHDIQAFeatures",
    "SHDIQAStudent",
    "SHDIQATeacher",
    "StudentOutput",
    "TeacherOutput",
    "shdiqa_student",
    "shdiqa_student_tiny",
    "shdiqa_teacher",
    "shdiqa_teacher_tiny",
]

_PAPER = ("X. Li, W. Nie, Y. Zhang, R. Hu, K. Li, X. Zheng, L. Cao, \"Distilling Spatially-Heterogeneous "
          "Distortion Perception for Blind Image Quality Assessment\", CVPR 2025")

#: Distortion types and levels the teacher classifies (SHDIQA supplement §1: 24 Re-IQA types, four levels).
NUM_TYPES = 24
NUM_LEVELS = 4

_PARTITIONS = {"vertical": (1, 2), "horizontal": (2, 1), "grid2x2": (2, 2)}
_PLACEMENTS = ("encoder", "decoder")


class SHDIQAFeatures(NamedTuple):
    """Encoder features of :meth:`SHDIQAStudent.encode` / :meth:`SHDIQATeacher.encode`.

    Attributes:
        cls: Tensor[B, D], the final-normed CLS token.
        tokens: Tensor[B, N, D], the final-normed patch tokens (N = (H/p)·(W/p), 196 at 224²/16).
        blocks: Tensor[B, K, D], block-mean features f_k of the patch tokens (before the student's
            gate); zero for a block with no token.
        block_valid: bool Tensor[B, K], whether block k holds at least one token.
    """

    cls: Tensor
    tokens: Tensor
    blocks: Tensor
    block_valid: Tensor


class StudentOutput(NamedTuple):
    """What ``SHDIQAStudent(x, return_features=True)`` returns.

    Attributes:
        score: Tensor[B], the quality score (as ``forward`` without ``return_features``).
        tokens: Tensor[B, N, D], patch tokens after the final LayerNorm (AKD's z^S).
        blocks: Tensor[B, K, D], block-mean features f_k before the Filtering gate (CKD's s_k).
        block_valid: bool Tensor[B, K], blocks holding at least one token (all True for the
            fixed partition); give an invalid block the type −1 in the CKD loss.
    """

    score: Tensor
    tokens: Tensor
    blocks: Tensor
    block_valid: Tensor


class TeacherOutput(NamedTuple):
    """What ``SHDIQATeacher(x, return_features=True)`` returns.

    Attributes:
        tokens: Tensor[B, N, D], patch tokens after the final LayerNorm (AKD's z^T).
        blocks: Tensor[B, K, D], block-mean features t_k (CKD's positives and negatives).
        type_logits: Tensor[B, K, num_types] (24).
        level_logits: Tensor[B, K, num_levels] (4).
        block_valid: bool Tensor[B, K]; the logits of an invalid block are the heads' biases and
            must be left out of the loss.
    """

    tokens: Tensor
    blocks: Tensor
    type_logits: Tensor
    level_logits: Tensor
    block_valid: Tensor


# --- shared pieces ---------------------------------------------------------------------------------


def _resolve_partition(partition: object) -> tuple[int, int]:
    if isinstance(partition, str):
        if partition not in _PARTITIONS:
            raise ValueError(f"partition must be one of {', '.join(map(repr, _PARTITIONS))} or a "
                             f"(block_rows, block_cols) pair, got {partition!r}")
        return _PARTITIONS[partition]
    if (isinstance(partition, (tuple, list)) and len(partition) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in partition)):
        return int(partition[0]), int(partition[1])
    raise ValueError(f"partition must be one of {', '.join(map(repr, _PARTITIONS))} or a (block_rows, block_cols) "
                     f"pair of positive integers, got {partition!r}")


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    bound = f">= {low}" if high is None else f"in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer {bound}, got {value!r} ({type(value).__name__})")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {bound}, got {value}")
    return int(value)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return value


def _check_image(owner: str, x: object, img_size: int) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner} expects x to be a Tensor[B, 3, {img_size}, {img_size}], got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != img_size or x.shape[3] != img_size:
        raise ValueError(f"{owner} expects x of shape Tensor[B, 3, {img_size}, {img_size}], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{owner} expects a floating-point x, got {x.dtype}")


def _check_plain_attention(encoder: nn.Module, layers: int) -> None:
    """The masked blocks re-run timm's ``Attention`` with ``block_attention``: refuse variants
    whose extra pieces that path would skip (attention dropout, output gating, no fused qkv)."""
    for index in range(len(encoder.blocks) - layers, len(encoder.blocks)):
        attn = encoder.blocks[index].attn
        if getattr(attn, "qkv", None) is None or getattr(attn, "gate", None) is not None or attn.attn_drop.p:
            raise NotImplementedError(f"encoder block {index}: block-masked attention supports timm's plain "
                                      "Attention (fused qkv, no gate, attention dropout 0)")


def _masked_self_attention(attn: nn.Module, x: Tensor, groups: Tensor, backend: str) -> Tensor:
    """timm ``Attention.forward`` with the softmax restricted by ``groups`` (block_attention)."""
    batch, n, _ = x.shape
    qkv = attn.qkv(x).reshape(batch, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    out = block_attention(q, k, v, groups, groups, scale=float(attn.scale), backend=backend)
    out = attn.norm(out.transpose(1, 2).reshape(batch, n, -1))
    return attn.proj_drop(attn.proj(out))


def _encoder_forward(encoder: nn.Module, x: Tensor, groups: Tensor | None, masked_layers: int,
                     backend: str) -> Tensor:
    """timm ``VisionTransformer.forward_features`` with BAF in the last ``masked_layers`` blocks
    (none when ``groups`` is None): Tensor[B, 1 + N, D] after the final LayerNorm."""
    if groups is None or masked_layers == 0:
        return encoder.forward_features(x)
    x = encoder.norm_pre(encoder.patch_drop(encoder._pos_embed(encoder.patch_embed(x))))
    first_masked = len(encoder.blocks) - masked_layers
    for index, blk in enumerate(encoder.blocks):
        if index < first_masked:
            x = blk(x)
        else:  # timm Block.forward with the masked attention
            x = x + blk.drop_path1(blk.ls1(_masked_self_attention(blk.attn, blk.norm1(x), groups, backend)))
            x = x + blk.drop_path2(blk.ls2(blk.mlp(blk.norm2(x))))
    return encoder.norm(x)


def _block_means(tokens: Tensor, patch_ids: Tensor, num_blocks: int) -> tuple[Tensor, Tensor]:
    """Mean of the tokens of each block: ``(Tensor[B, K, D], bool Tensor[B, K])``; a block with no
    token gives zeros and False. ``patch_ids``: Tensor[N] or Tensor[B, N], negative = in no block."""
    ids = patch_ids.long().expand(tokens.shape[0], -1)
    member = (ids.unsqueeze(-1) == torch.arange(num_blocks, device=tokens.device)).to(tokens.dtype)  # (B, N, K)
    counts = member.sum(dim=1)
    blocks = member.transpose(1, 2) @ tokens / counts.clamp(min=1).unsqueeze(-1)
    return blocks, counts > 0


class _BlockPartition:
    """Block layout shared by the student and the teacher: the fixed partition (a non-persistent
    buffer of token group ids, CLS −1) and the checks of a per-sample block map."""

    def _init_partition(self, partition: object, img_size: int, patch_size: int, device) -> None:
        self.partition = _resolve_partition(partition)
        self.grid = (img_size // patch_size, img_size // patch_size)
        rows, cols = self.partition
        if rows > self.grid[0] or cols > self.grid[1]:
            raise ValueError(f"partition {self.partition} needs a token grid of at least {rows}×{cols}, got "
                             f"{self.grid[0]}×{self.grid[1]} (img_size {img_size}, patch_size {patch_size})")
        self.num_blocks = rows * cols
        # (1 + N,) int32: CLS global (−1), then the block of each patch token (row-major).
        self.register_buffer("baf_groups", partition_groups(self.partition, grid=self.grid, cls_tokens=1,
                                                            device=device), persistent=False)

    def _patch_ids(self, block_map: Tensor | None, num_blocks: int | None,
                   x: Tensor) -> tuple[Tensor, Tensor, int]:
        """Patch block ids (Tensor[N] shared, or Tensor[B, N] per sample, int32), the BAF group ids
        with CLS global (Tensor[1 + N] or Tensor[B, 1 + N]) and K."""
        if block_map is None:
            if num_blocks is not None and _check_int("num_blocks", num_blocks, 1) != self.num_blocks:
                raise ValueError(f"num_blocks is {num_blocks} but no block_map was given; the fixed partition "
                                 f"{self.partition} has {self.num_blocks} blocks (pass block_map with num_blocks)")
            return self.baf_groups[1:], self.baf_groups, self.num_blocks
        k = self.num_blocks if num_blocks is None else _check_int("num_blocks", num_blocks, 1)
        batch, (rows, cols) = x.shape[0], self.grid
        if not isinstance(block_map, Tensor):
            raise TypeError(f"block_map must be None or an integer Tensor[B, H/p, W/p] = [{batch}, {rows}, {cols}], "
                            f"got {type(block_map).__name__}")
        if block_map.is_floating_point() or block_map.is_complex() or block_map.dtype == torch.bool:
            raise TypeError(f"block_map must be an integer tensor of block ids, got dtype {block_map.dtype}")
        if tuple(block_map.shape) != (batch, rows, cols):
            raise ValueError(f"block_map must have shape (B, H/p, W/p) = {(batch, rows, cols)}, got "
                             f"{tuple(block_map.shape)}")
        if block_map.device != x.device:
            raise ValueError(f"block_map must be on x's device ({x.device}), got {block_map.device}")
        if block_map.numel():
            if block_map.device.type == "cpu" and not torch.compiler.is_compiling():
                top = int(block_map.max())
                if top >= k:
                    raise ValueError(f"block_map ids must be < num_blocks = {k} (negative = a global token in no "
                                     f"block), got id {top}")
            else:  # no host synchronisation on a GPU
                torch._assert_async((block_map < k).all(), f"block_map ids must be < num_blocks = {k}")
        ids = torch.where(block_map < 0, -1, block_map).reshape(batch, rows * cols).to(torch.int32)
        return ids, F.pad(ids, (1, 0), value=-1), k


# --- student --------------------------------------------------------------------------------------


class SHDIQAStudent(_BlockPartition, DEIQT):
    """SHDIQA's student: DEIQT + Block-wise Aggregation and Filtering (reconstruction).

    A reconstruction [PROPOSAL] (the paper's BAF equations are not in the
    available texts; docs/design/shdiqa.md). The network is :class:`~pyiqa_fast.models.DEIQT`
    with two additions:

    - **Aggregation** (``baf_placement="encoder"``, default): in the self-attention of the last
      ``baf_layers`` encoder blocks, patch token i may attend token j only if both lie in the
      same spatial block; CLS attends to and is attended by every token. Computed by
      :func:`~pyiqa_fast.ops.block_attention` (no N×N mask is built) with the token partition of
      :func:`~pyiqa_fast.ops.partition_groups` (``"vertical"``: token columns 0–6 / 7–13).
    - **Filtering**: block-mean features f_k of the final-normed patch tokens, a gate
      g_k = sigmoid(W_f f_k + c_f) (``block_filter``: D×D + D parameters, 147,840 at D = 384)
      and the filtered f̃_k = g_k ⊙ f_k appended to the decoder memory: 196 + K tokens. Queries,
      decoder and head are DEIQT's.

    ``baf_placement="decoder"`` is Alternative B (docs/design/shdiqa.md): the encoder is left unmasked;
    in the last ``baf_layers`` decoder layers the panel queries are split into K equal groups,
    each attending only to its block's patch tokens and its block's filtered token (the
    CLS-derived query content stays global). ``num_queries`` defaults to the smallest multiple of
    K that is at least 6 (6 for K = 2, 8 for the 2×2 grid).

    ``baf_at_inference`` (default True): whether the aggregation *mask* is applied in eval mode
    (training always applies it). When False, an eval-mode forward uses plain attention (the
    encoder's, or the unmasked decoder cross-attention for Alternative B) but keeps the K
    filtered block tokens in the decoder memory: the decoder was trained on 196 + K tokens, and
    the Filtering step needs no mask, only the partition. The paper does not say which it uses
    (docs/design/shdiqa.md); report both.

    Block partition: the fixed ``partition`` by default (shared by the batch); ``forward(x,
    block_map)`` takes a per-sample token block map instead (``BlockDegradation``'s ``block_map``,
    Tensor[B, H/p, W/p] of ids in [0, K), negative = a global token in no block), which drives
    both the mask and the block means.

    ``SHDIQAStudent()`` with the defaults (ViT-S/16 at 224², vertical, ``baf_layers=1``) has
    24,191,616 parameters = DEIQT's 24,043,776 + 147,840 (supplement Table 5: 24.2M).

    Args:
        partition: ``"vertical"`` (default), ``"horizontal"``, ``"grid2x2"`` or ``(block_rows,
            block_cols)``.
        baf_layers: How many of the last encoder blocks (``baf_placement="encoder"``, 0 to
            ``depth``; 0 = no mask) or decoder layers (``"decoder"``, 0 to ``decoder_depth``) are
            masked. Default 1 (encoder block 12 of 12).
        baf_placement: ``"encoder"`` (the default) or ``"decoder"`` (Alternative B).
        baf_at_inference: Apply the aggregation mask in eval mode too.
        num_queries: Panel queries; None: 6, or with ``baf_placement="decoder"`` the smallest
            multiple of K ≥ 6. Must be a multiple of K for the decoder placement.
        img_size, patch_size, embed_dim, depth, num_heads, mlp_ratio, init_values, decoder_depth,
            decoder_heads, decoder_mlp_ratio, drop_path_rate, normalize_input, mean, std: As
            :class:`~pyiqa_fast.models.DEIQT`.
        backend: ``block_attention`` backend (``"auto"``, ``"reference"``, ``"cpu"``, ``"cuda"``,
            ``"triton"``), passed to every masked attention call.
        device: Device of the parameters.
        dtype: Parameter dtype.

    Raises:
        ValueError: Unknown ``partition``/``baf_placement``/``backend``, ``baf_layers`` out of
            range, a partition larger than the token grid, ``num_queries`` not a multiple of K.
        TypeError: A flag or count of the wrong type.

    Example:
        >>> model = SHDIQAStudent(img_size=64, patch_size=8, embed_dim=96, depth=2).eval()
        >>> model(torch.randn(2, 3, 64, 64)).shape
        torch.Size([2])
    """

    def __init__(self, *, partition: str | tuple[int, int] = "vertical", baf_layers: int = 1,
                 baf_placement: str = "encoder", baf_at_inference: bool = True, num_queries: int | None = None,
                 img_size: int = 224, patch_size: int = 16, embed_dim: int = 384, depth: int = 12,
                 num_heads: int = 6, mlp_ratio: float = 4.0, init_values: float = 1e-4, decoder_depth: int = 1,
                 decoder_heads: int = 6, decoder_mlp_ratio: float = 4.0, drop_path_rate: float = 0.0,
                 normalize_input: bool = False, mean: tuple[float, ...] = IMAGENET_MEAN,
                 std: tuple[float, ...] = IMAGENET_STD, backend: str = "auto",
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        if baf_placement not in _PLACEMENTS:
            raise ValueError(f"baf_placement must be one of {', '.join(map(repr, _PLACEMENTS))}, "
                             f"got {baf_placement!r}")
        k = math.prod(_resolve_partition(partition))
        if num_queries is None:
            num_queries = 6 if baf_placement == "encoder" else -(-6 // k) * k
        num_queries = _check_int("num_queries", num_queries, 1)
        if baf_placement == "decoder" and num_queries % k:
            raise ValueError(f"num_queries must be a multiple of the {k} blocks of partition {partition!r} with "
                             f"baf_placement='decoder' (equal query groups), got {num_queries}")
        super().__init__(img_size=img_size, patch_size=patch_size, embed_dim=embed_dim, depth=depth,
                         num_heads=num_heads, mlp_ratio=mlp_ratio, init_values=init_values, num_queries=num_queries,
                         decoder_depth=decoder_depth, decoder_heads=decoder_heads,
                         decoder_mlp_ratio=decoder_mlp_ratio, drop_path_rate=drop_path_rate,
                         normalize_input=normalize_input, mean=mean, std=std, backend=backend, device=device,
                         dtype=dtype)
        self._init_partition(partition, img_size, patch_size, device)
        self.baf_placement = baf_placement
        self.baf_layers = _check_int("baf_layers", baf_layers, 0, depth if baf_placement == "encoder"
                                     else decoder_depth)
        self.baf_at_inference = _check_bool("baf_at_inference", baf_at_inference)
        if baf_placement == "encoder":
            _check_plain_attention(self.encoder, self.baf_layers)
        # The Filtering gate W_f, c_f (trunc-normal(0.02) / zero like DEIQT's other Linear layers).
        self.block_filter = nn.Linear(embed_dim, embed_dim, device=device, dtype=dtype)
        with torch.no_grad():
            nn.init.trunc_normal_(self.block_filter.weight, std=0.02)
            nn.init.zeros_(self.block_filter.bias)
        # (Q,) query groups of Alternative B: consecutive equal groups, one per block.
        self.register_buffer("query_groups", torch.arange(num_queries, device=device, dtype=torch.int32)
                             // max(num_queries // self.num_blocks, 1), persistent=False)

    def extra_repr(self) -> str:
        return (f"partition={self.partition}, baf_placement={self.baf_placement!r}, baf_layers={self.baf_layers}, "
                f"baf_at_inference={self.baf_at_inference}, backend={self.backend!r}")

    @property
    def baf_active(self) -> bool:
        """Whether the aggregation mask applies now: in training, or in eval with ``baf_at_inference``."""
        return self.training or self.baf_at_inference

    def _encode(self, x: Tensor, block_map: Tensor | None, num_blocks: int | None) -> tuple[SHDIQAFeatures, Tensor]:
        _check_image(type(self).__name__, x, self.img_size)
        patch_ids, groups, k = self._patch_ids(block_map, num_blocks, x)
        if self.normalize_input:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        masked = self.baf_placement == "encoder" and self.baf_active
        z = _encoder_forward(self.encoder, x, groups if masked else None, self.baf_layers, self.backend)
        tokens = z[:, 1:]
        blocks, valid = _block_means(tokens, patch_ids, k)
        return SHDIQAFeatures(z[:, 0], tokens, blocks, valid), patch_ids

    def encode(self, x: Tensor, block_map: Tensor | None = None, *, num_blocks: int | None = None) -> SHDIQAFeatures:
        """Encoder and block means, no decoder (the student stage's BDM view needs only these).

        Args:
            x: Tensor[B, 3, H, W] float (normalised, or [0, 1] RGB when ``normalize_input``).
            block_map: None (the fixed partition) or an integer Tensor[B, H/p, W/p] of block ids
                in [0, K) per token, negative = in no block (int8 from ``BlockDegradation``).
            num_blocks: K for a ``block_map`` (default: the partition's); blocks with no token
                come back as zeros with ``block_valid`` False.

        Returns:
            :class:`SHDIQAFeatures` (cls Tensor[B, D], tokens Tensor[B, N, D], blocks
            Tensor[B, K, D] before the gate, block_valid bool Tensor[B, K]).
        """
        return self._encode(x, block_map, num_blocks)[0]

    def forward_features(self, x: Tensor, block_map: Tensor | None = None, *,
                         num_blocks: int | None = None) -> tuple[Tensor, Tensor]:
        """DEIQT's ``forward_features`` with BAF: ``(cls Tensor[B, D], tokens Tensor[B, N, D])``."""
        features = self.encode(x, block_map, num_blocks=num_blocks)
        return features.cls, features.tokens

    def filter_blocks(self, blocks: Tensor) -> Tensor:
        """Filtering: f̃_k = sigmoid(W_f f_k + c_f) ⊙ f_k, Tensor[B, K, D] → Tensor[B, K, D]."""
        return torch.sigmoid(self.block_filter(blocks)) * blocks

    def forward_decoder(self, cls: Tensor, memory: Tensor, *, memory_key_padding_mask: Tensor | None = None,
                        memory_groups: Tensor | None = None) -> Tensor:
        """Attention-panel decoder over the memory [patch tokens, filtered block tokens].

        Args:
            cls: Tensor[B, D].
            memory: Tensor[B, N + K, D].
            memory_key_padding_mask: bool Tensor[B, N + K], True = left out (blocks with no token).
            memory_groups: Alternative B only: block id of each memory token, Tensor[N + K] or
                Tensor[B, N + K] int (negative = global, ≥ K = seen by no query); None = unmasked.

        Returns:
            Panel outputs Tensor[B, Q, D].
        """
        if memory_groups is not None and self.baf_placement != "decoder":
            raise ValueError("memory_groups must be None with baf_placement='encoder' (the decoder is unmasked), "
                             f"got a tensor of shape {tuple(memory_groups.shape)}")
        q = self.queries.expand(cls.shape[0], -1, -1) + cls.unsqueeze(1)
        first_masked = len(self.decoder) - self.baf_layers
        for index, layer in enumerate(self.decoder):
            if memory_groups is not None and index >= first_masked:
                q = _masked_decoder_layer(layer, q, memory, self.query_groups, memory_groups, self.backend)
            else:
                q = layer(q, memory, memory_key_padding_mask=memory_key_padding_mask)
        return q

    def forward(self, x: Tensor, block_map: Tensor | None = None, *, num_blocks: int | None = None,
                return_features: bool = False) -> Tensor | StudentOutput:
        """Quality scores, and the distillation features when asked.

        Args:
            x: Tensor[B, 3, H, W] float (224² for ViT-S/16): ImageNet-normalised RGB, or [0, 1]
                RGB when built with ``normalize_input=True``.
            block_map: None (the fixed partition) or an integer Tensor[B, H/p, W/p] of per-token
                block ids in [0, K), negative = in no block (``BlockDegradation``'s ``block_map``).
            num_blocks: K for a ``block_map`` (default: the partition's). With
                ``baf_placement="decoder"`` it must equal the partition's (the query groups).
            return_features: Return a :class:`StudentOutput` instead of the score alone.

        Returns:
            Tensor[B] of scores (x's dtype), or ``StudentOutput(score, tokens Tensor[B, N, D],
            blocks Tensor[B, K, D] before the gate, block_valid bool Tensor[B, K])``.

        Raises:
            ValueError: x or block_map of the wrong shape or device, block ids ≥ num_blocks,
                num_blocks given without block_map and different from the partition's.
            TypeError: x not floating, block_map not an integer tensor, num_blocks not an integer.
        """
        if (self.baf_placement == "decoder" and num_blocks is not None
                and _check_int("num_blocks", num_blocks, 1) != self.num_blocks):
            raise ValueError(f"num_blocks must be the partition's {self.num_blocks} with baf_placement='decoder' "
                             f"(the panel queries are grouped per block), got {num_blocks}")
        features, patch_ids = self._encode(x, block_map, num_blocks)
        filtered = self.filter_blocks(features.blocks)
        memory = torch.cat([features.tokens, filtered], dim=1)
        k = filtered.shape[1]
        padding = groups = None
        if block_map is not None:  # a block with no token is left out of the memory
            padding = F.pad(~features.block_valid, (features.tokens.shape[1], 0), value=False)
        if self.baf_placement == "decoder" and self.baf_active:
            block_ids = torch.arange(k, device=x.device, dtype=torch.int32)
            if block_map is None:
                groups = torch.cat([patch_ids, block_ids])
            else:  # an empty block's token gets the id K: no query group sees it
                groups = torch.cat([patch_ids, torch.where(features.block_valid, block_ids, k).to(torch.int32)],
                                   dim=1)
        score = self.head(self.forward_decoder(features.cls, memory, memory_key_padding_mask=padding,
                                               memory_groups=groups)).squeeze(-1).mean(dim=1)
        if return_features:
            return StudentOutput(score, features.tokens, features.blocks, features.block_valid)
        return score


def _masked_decoder_layer(layer: nn.TransformerDecoderLayer, x: Tensor, memory: Tensor, query_groups: Tensor,
                          memory_groups: Tensor, backend: str) -> Tensor:
    """``nn.TransformerDecoderLayer`` (``norm_first=True``, as DEIQT's) with the cross-attention
    restricted by query/memory groups (Alternative B, docs/design/shdiqa.md)."""
    h = layer.norm1(x)
    x = x + layer.dropout1(layer.self_attn(h, h, h, need_weights=False)[0])
    x = x + layer.dropout2(_masked_cross_attention(layer.multihead_attn, layer.norm2(x), memory, query_groups,
                                                   memory_groups, backend))
    h = layer.norm3(x)
    return x + layer.dropout3(layer.linear2(layer.dropout(layer.activation(layer.linear1(h)))))


def _masked_cross_attention(mha: nn.MultiheadAttention, x: Tensor, memory: Tensor, query_groups: Tensor,
                            memory_groups: Tensor, backend: str) -> Tensor:
    """``nn.MultiheadAttention(x, memory, memory)`` (packed in-projection, bias, no dropout)
    through block_attention."""
    batch, nq, dim = x.shape
    heads = mha.num_heads
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
    q = F.linear(x, w_q, b_q).view(batch, nq, heads, dim // heads).transpose(1, 2)
    k = F.linear(memory, w_k, b_k).view(batch, -1, heads, dim // heads).transpose(1, 2)
    v = F.linear(memory, w_v, b_v).view(batch, -1, heads, dim // heads).transpose(1, 2)
    out = block_attention(q, k, v, query_groups, memory_groups, backend=backend)
    return mha.out_proj(out.transpose(1, 2).reshape(batch, nq, dim))


# --- teacher --------------------------------------------------------------------------------------


class SHDIQATeacher(_BlockPartition, nn.Module):
    """SHDIQA's quality-aware submodule (teacher): per-block distortion type and level (reconstruction).

    A reconstruction [PROPOSAL] (docs/design/shdiqa.md): the student's encoder (ViT-S/16, DeiT-III
    blocks, BAF in the last ``baf_layers`` blocks, DeiT-III ImageNet init) with no decoder; on
    the block-mean features t_k of the final-normed patch tokens, ``Linear(D, 24)`` type and
    ``Linear(D, 4)`` level heads. Trained by per-block cross-entropy on BDM crops (supplement §1:
    24 Re-IQA types at four levels); frozen while the student is distilled. Its aggregation mask
    is always applied (it has no decoder to be trained without it), in eval mode too.

    Teacher training draws a partition mode per sample: pass ``block_map`` (per sample) and
    ``num_blocks`` = the largest K of the batch (4 when the 2×2 grid is among the modes); the
    blocks a sample lacks come back with ``block_valid`` False.

    ``SHDIQATeacher()`` with the defaults has 21,685,276 parameters = encoder 21,674,496 + type
    head 9,240 + level head 1,540.

    Args:
        partition: Fixed partition used when no ``block_map`` is given (``"vertical"`` default,
            ``"horizontal"``, ``"grid2x2"``, ``(block_rows, block_cols)``).
        baf_layers: Masked last encoder blocks, 0 to ``depth`` (default 1, as the student).
        num_types: Type classes (24).
        num_levels: Level classes (4).
        img_size, patch_size, embed_dim, depth, num_heads, mlp_ratio, init_values, drop_path_rate,
            normalize_input, mean, std: As :class:`~pyiqa_fast.models.DEIQT`'s encoder.
        backend: ``block_attention`` backend.
        device: Device of the parameters.
        dtype: Parameter dtype.

    Example:
        >>> teacher = SHDIQATeacher(img_size=64, patch_size=8, embed_dim=96, depth=2).eval()
        >>> types, levels = teacher(torch.randn(2, 3, 64, 64))
        >>> types.shape, levels.shape
        (torch.Size([2, 2, 24]), torch.Size([2, 2, 4]))
    """

    def __init__(self, *, partition: str | tuple[int, int] = "vertical", baf_layers: int = 1,
                 num_types: int = NUM_TYPES, num_levels: int = NUM_LEVELS, img_size: int = 224, patch_size: int = 16,
                 embed_dim: int = 384, depth: int = 12, num_heads: int = 6, mlp_ratio: float = 4.0,
                 init_values: float = 1e-4, drop_path_rate: float = 0.0, normalize_input: bool = False,
                 mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD,
                 backend: str = "auto", device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.backend = check_backend(backend)
        self.img_size = img_size
        self.embed_dim = embed_dim
        self.normalize_input = _check_bool("normalize_input", normalize_input)
        self.baf_layers = _check_int("baf_layers", baf_layers, 0, depth)
        factory = {"device": device, "dtype": dtype}
        self.encoder = vit_encoder(img_size=img_size, patch_size=patch_size, embed_dim=embed_dim, depth=depth,
                                   num_heads=num_heads, mlp_ratio=mlp_ratio, init_values=init_values,
                                   drop_path_rate=drop_path_rate, **factory)
        _check_plain_attention(self.encoder, self.baf_layers)
        self._init_partition(partition, img_size, patch_size, device)
        self.type_head = nn.Linear(embed_dim, _check_int("num_types", num_types, 1), **factory)
        self.level_head = nn.Linear(embed_dim, _check_int("num_levels", num_levels, 1), **factory)
        self.register_buffer("mean", torch.tensor(mean, **factory).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, **factory).view(1, -1, 1, 1), persistent=False)
        self.reset_parameters()

    def extra_repr(self) -> str:
        return f"partition={self.partition}, baf_layers={self.baf_layers}, backend={self.backend!r}"

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Random init as DEIQT's encoder (trunc-normal(0.02) Linear weights, pos-embed and CLS; zero
        biases; LayerNorm 1/0); the heads like every other Linear layer."""
        nn.init.trunc_normal_(self.encoder.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.encoder.cls_token, std=0.02)
        init_linear_and_layernorm(self)

    def no_weight_decay(self) -> set[str]:
        """Parameter names trained without weight decay (as DEIQT's: pos-embed, CLS, 1-D parameters)."""
        return vit_no_weight_decay(self)

    def load_pretrained(self, path: str | os.PathLike) -> PretrainedReport:
        """Initialise the encoder from a local ImageNet ViT checkpoint (as
        :meth:`DEIQT.load_pretrained`: DeiT-III ViT-S/16 for the paper-size teacher); the heads
        keep their random init.

        Raises:
            PretrainedWeightsNotFoundError: No such file.
            PretrainedWeightsError: Unreadable, or keys/shapes that differ from the encoder's.
        """
        return load_pretrained_encoder(self.encoder, path, kind="vit", source=DEIT3_SMALL_PATCH16_224)

    def encode(self, x: Tensor, block_map: Tensor | None = None, *, num_blocks: int | None = None) -> SHDIQAFeatures:
        """Encoder (BAF always on) and block means; arguments and result as :meth:`SHDIQAStudent.encode`."""
        _check_image(type(self).__name__, x, self.img_size)
        patch_ids, groups, k = self._patch_ids(block_map, num_blocks, x)
        if self.normalize_input:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        z = _encoder_forward(self.encoder, x, groups, self.baf_layers, self.backend)
        tokens = z[:, 1:]
        blocks, valid = _block_means(tokens, patch_ids, k)
        return SHDIQAFeatures(z[:, 0], tokens, blocks, valid)

    def forward(self, x: Tensor, block_map: Tensor | None = None, *, num_blocks: int | None = None,
                return_features: bool = False) -> tuple[Tensor, Tensor] | TeacherOutput:
        """Per-block distortion type and level logits.

        Args:
            x: Tensor[B, 3, H, W] float (224² for ViT-S/16), normalised as the student's input.
            block_map: None (the fixed partition) or an integer Tensor[B, H/p, W/p] of per-token
                block ids in [0, K), negative = in no block.
            num_blocks: K for a ``block_map`` (default: the partition's).
            return_features: Return a :class:`TeacherOutput` instead of the logits alone.

        Returns:
            ``(type_logits Tensor[B, K, num_types], level_logits Tensor[B, K, num_levels])``, or
            ``TeacherOutput(tokens, blocks, type_logits, level_logits, block_valid)``.

        Raises:
            ValueError, TypeError: As :meth:`SHDIQAStudent.forward`.
        """
        features = self.encode(x, block_map, num_blocks=num_blocks)
        type_logits, level_logits = self.type_head(features.blocks), self.level_head(features.blocks)
        if return_features:
            return TeacherOutput(features.tokens, features.blocks, type_logits, level_logits, features.block_valid)
        return type_logits, level_logits


# --- registry -------------------------------------------------------------------------------------

_STUDENT_CFG = PretrainedCfg(crop_mode="random_crops", protocol="shdiqa", paper=_PAPER)
_STUDENT_TINY_CFG = PretrainedCfg(input_size=(3, 64, 64), crop_mode="random_crops", protocol="shdiqa", paper=_PAPER)
_TEACHER_CFG = PretrainedCfg(paper=_PAPER)
_TEACHER_TINY_CFG = PretrainedCfg(input_size=(3, 64, 64), paper=_PAPER)
_TINY = {"embed_dim": 96, "depth": 2, "num_heads": 6, "img_size": 64, "patch_size": 8}


@register_model(default_cfgs={"": _STUDENT_CFG})
def shdiqa_student(pretrained: bool = False, checkpoint_path: str | os.PathLike | None = None,
                   pretrained_cfg: PretrainedCfg | None = None, **kwargs: Any) -> SHDIQAStudent:
    """SHDIQA's student (reconstruction): DEIQT ViT-S/16 + BAF, 24,191,616 parameters.

    ``create_model("shdiqa_student", pretrained=<local DeiT-III ViT-S/16 file>)`` initialises the
    encoder (:meth:`SHDIQAStudent.load_pretrained`); keyword arguments override
    :class:`SHDIQAStudent`'s (``partition=``, ``baf_placement=``, ``backend=``, ...).
    """
    return build_model(SHDIQAStudent, _STUDENT_CFG, pretrained, checkpoint_path, pretrained_cfg, {}, kwargs)


@register_model(default_cfgs={"": _STUDENT_TINY_CFG})
def shdiqa_student_tiny(pretrained: bool = False, checkpoint_path: str | os.PathLike | None = None,
                        pretrained_cfg: PretrainedCfg | None = None, **kwargs: Any) -> SHDIQAStudent:
    """A small SHDIQA student for tests and demos: D 96, 2 encoder blocks, 6 heads, 8×8 patches on
    64² input (an 8×8 token grid), 408,288 parameters (not a paper configuration)."""
    return build_model(SHDIQAStudent, _STUDENT_TINY_CFG, pretrained, checkpoint_path, pretrained_cfg, _TINY, kwargs)


@register_model(default_cfgs={"": _TEACHER_CFG})
def shdiqa_teacher(pretrained: bool = False, checkpoint_path: str | os.PathLike | None = None,
                   pretrained_cfg: PretrainedCfg | None = None, **kwargs: Any) -> SHDIQATeacher:
    """SHDIQA's teacher (reconstruction): the student's ViT-S/16 encoder + per-block type (24) and
    level (4) heads, 21,685,276 parameters; ``pretrained=<path>`` initialises the encoder."""
    return build_model(SHDIQATeacher, _TEACHER_CFG, pretrained, checkpoint_path, pretrained_cfg, {}, kwargs)


@register_model(default_cfgs={"": _TEACHER_TINY_CFG})
def shdiqa_teacher_tiny(pretrained: bool = False, checkpoint_path: str | os.PathLike | None = None,
                        pretrained_cfg: PretrainedCfg | None = None, **kwargs: Any) -> SHDIQATeacher:
    """A small SHDIQA teacher matching :func:`shdiqa_student_tiny`'s encoder (D 96, 2 blocks, 6 heads,
    8×8 patches at 64²), 251,740 parameters (not a paper configuration)."""
    return build_model(SHDIQATeacher, _TEACHER_TINY_CFG, pretrained, checkpoint_path, pretrained_cfg, _TINY, kwargs)

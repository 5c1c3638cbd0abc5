"""DEIQT: ViT-S/16 (DeiT-III blocks) encoder + attention-panel decoder (METHODS.md §2).

Qin et al., "Data-Efficient Image Quality Assessment with Attention-Panel Decoder", AAAI 2023
(arXiv 2304.04952). Architecture after METHODS.md §2.1, which reads the official code
[CODE narthchin/DEIQT:models/deiqt.py @ 33a142a]. The encoder is timm's ``VisionTransformer``;
timm is imported when a model is built, never when ``pyiqa_fast`` is imported.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyiqa_fast.models.pretrained import DEIT3_SMALL_PATCH16_224, PretrainedReport, load_pretrained_encoder
from pyiqa_fast.models.registry import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PretrainedCfg,
    build_model,
    check_backend,
    register_model,
)

__all__ = ["DEIQT", "deiqt_tiny", "deiqt_vit_s16", "vit_encoder"]

_PAPER = ("G. Qin, R. Hu, Y. Liu, X. Zheng, H. Liu, X. Li, Y. Zhang, \"Data-Efficient Image Quality "
          "Assessment with Attention-Panel Decoder\", AAAI 2023")


def _import_vision_transformer():
    try:
        from timm.models.vision_transformer import VisionTransformer
    except ImportError as exc:
        raise ImportError("DEIQT needs timm, which is not installed: pip install pyiqa-fast[models]") from exc
    return VisionTransformer


def init_linear_and_layernorm(root: nn.Module) -> None:
    """The official DEIQT init of every layer under ``root``: trunc-normal(0.02) Linear weights,
    zero biases, LayerNorm weight 1 and bias 0 (shared by the SHDIQA models)."""
    for module in root.modules():
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def vit_no_weight_decay(root: nn.Module) -> set[str]:
    """Names of ``root``'s parameters trained without weight decay: ``encoder.pos_embed``,
    ``encoder.cls_token`` and every 1-D parameter (biases, LayerNorm, LayerScale)."""
    return {name for name, p in root.named_parameters()
            if p.ndim <= 1 or name in ("encoder.pos_embed", "encoder.cls_token")}


def vit_encoder(*, img_size: int = 224, patch_size: int = 16, embed_dim: int = 384, depth: int = 12,
                num_heads: int = 6, mlp_ratio: float = 4.0, init_values: float = 1e-4, drop_path_rate: float = 0.0,
                device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> nn.Module:
    """DEIQT's encoder (see :class:`DEIQT`): timm's ``VisionTransformer`` with DeiT-III blocks, no
    classifier, CLS without position embedding, final LayerNorm; weights not initialised here (the
    owner's ``reset_parameters`` does). Shared with SHDIQA's student and teacher
    (docs/design/shdiqa.md), whose encoders are this one."""
    VisionTransformer = _import_vision_transformer()
    return VisionTransformer(
        img_size=img_size, patch_size=patch_size, in_chans=3, num_classes=0, global_pool="",
        embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=True,
        init_values=init_values, class_token=True, no_embed_class=True, final_norm=True,
        drop_path_rate=drop_path_rate, norm_layer=partial(nn.LayerNorm, eps=1e-6), act_layer=nn.GELU,
        weight_init="skip", device=device, dtype=dtype)


class DEIQT(nn.Module):
    """DEIQT blind-IQA network: one quality score per 224×224 crop.

    Encoder (timm ViT, DeiT-III blocks): 16×16 patch embedding; a learned absolute position
    embedding ``(1, N, D)`` added to the patch tokens *before* the CLS token is prepended (the CLS
    token has none; timm ``no_embed_class=True``); ``depth`` pre-norm blocks (LayerNorm eps 1e-6 →
    MHSA with qkv bias → LayerScale γ₁ → residual; LayerNorm → MLP D→4D→D, GELU → LayerScale γ₂ →
    residual; LayerScale init 1e-4; drop-path 0 by default); final LayerNorm on all tokens.
    Decoder ("attention panel"): ``num_queries`` learnable queries plus the CLS vector broadcast to
    each of them, one ``nn.TransformerDecoderLayer`` (``norm_first=True``, GELU, FFN 4D, dropout 0,
    batch-first) with self-attention among the queries and cross-attention to the patch tokens, no
    final norm; a bias-free ``Linear(D, 1)`` on each query output, averaged over the queries.

    ``DEIQT()`` with the defaults is the paper's network (``deiqt_vit_s16``): 24,043,776
    parameters = encoder 21,674,496 + decoder 2,369,280.

    Choices where METHODS.md §2 is silent (not reconstructions of a [PROPOSAL]; the official code
    fixes all of them):

    - the decoder LayerNorms keep ``nn.TransformerDecoderLayer``'s eps 1e-5 (official code);
    - random init follows the official code: trunc-normal(0.02) for ``cls_token``, ``pos_embed``,
      the queries and every ``nn.Linear`` weight (decoder attention ``out_proj`` included), zero
      Linear biases, LayerNorm 1/0, LayerScale at ``init_values``; the patch-embedding conv and the
      decoder attention ``in_proj`` keep PyTorch's defaults;
    - ``forward`` returns ``Tensor[B]`` (the official code returns ``[B, 1]``).

    Args:
        img_size: Input side (the position embedding is sized for it); the paper uses 224.
        patch_size: Patch side.
        embed_dim: Token width D.
        depth: Number of encoder blocks.
        num_heads: Encoder attention heads.
        mlp_ratio: Encoder MLP hidden width / D.
        init_values: LayerScale init.
        num_queries: Attention-panel queries.
        decoder_depth: Decoder layers (the paper: 1).
        decoder_heads: Decoder attention heads.
        decoder_mlp_ratio: Decoder FFN width / D.
        drop_path_rate: Stochastic depth of the encoder (the paper: 0).
        normalize_input: If True, ``forward`` takes RGB in [0, 1] and applies ``mean``/``std``
            itself; if False (default, as the official code) it takes normalised input.
        mean: Normalisation mean (ImageNet), used when ``normalize_input``.
        std: Normalisation std (ImageNet), used when ``normalize_input``.
        backend: Backend of the fused pyiqa_fast ops the model calls. DEIQT itself calls none (its
            attention is timm's / PyTorch's); the argument is kept for subclasses (SHDIQA's
            block-masked attention) and stored as ``self.backend``.
        device: Device to build the parameters on (``"meta"`` for shape-only models).
        dtype: Parameter dtype.

    Example:
        >>> model = DEIQT(embed_dim=96, depth=2).eval()
        >>> model(torch.randn(2, 3, 224, 224)).shape
        torch.Size([2])
    """

    def __init__(self, *, img_size: int = 224, patch_size: int = 16, embed_dim: int = 384, depth: int = 12,
                 num_heads: int = 6, mlp_ratio: float = 4.0, init_values: float = 1e-4, num_queries: int = 6,
                 decoder_depth: int = 1, decoder_heads: int = 6, decoder_mlp_ratio: float = 4.0,
                 drop_path_rate: float = 0.0, normalize_input: bool = False,
                 mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD,
                 backend: str = "auto", device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.backend = check_backend(backend)
        self.img_size = img_size
        self.embed_dim = embed_dim
        self.num_queries = num_queries
        self.normalize_input = normalize_input
        factory = {"device": device, "dtype": dtype}

        self.encoder = vit_encoder(img_size=img_size, patch_size=patch_size, embed_dim=embed_dim, depth=depth,
                                   num_heads=num_heads, mlp_ratio=mlp_ratio, init_values=init_values,
                                   drop_path_rate=drop_path_rate, **factory)
        self.queries = nn.Parameter(torch.zeros(1, num_queries, embed_dim, **factory))
        self.decoder = nn.ModuleList(
            nn.TransformerDecoderLayer(d_model=embed_dim, nhead=decoder_heads,
                                       dim_feedforward=int(embed_dim * decoder_mlp_ratio), dropout=0.0,
                                       activation=F.gelu, batch_first=True, norm_first=True, **factory)
            for _ in range(decoder_depth))
        self.head = nn.Linear(embed_dim, 1, bias=False, **factory)
        self.register_buffer("mean", torch.tensor(mean, **factory).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, **factory).view(1, -1, 1, 1), persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Random init as the official code (see the class docstring)."""
        nn.init.trunc_normal_(self.encoder.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.encoder.cls_token, std=0.02)
        nn.init.trunc_normal_(self.queries, std=0.02)
        init_linear_and_layernorm(self)

    def no_weight_decay(self) -> set[str]:
        """Parameter names trained without weight decay (METHODS.md §2.3): position embedding,
        CLS token, biases and every other 1-D parameter (LayerNorm, LayerScale)."""
        return vit_no_weight_decay(self)

    def load_pretrained(self, path: str | os.PathLike) -> PretrainedReport:
        """Initialise the encoder from a local ImageNet ViT checkpoint, as DEIQT's recipe does
        (``head.*`` dropped); the panel queries, decoder and head keep their random init.

        Args:
            path: timm's state dict of the matching ViT (for the paper's DEIQT:
                ``deit3_small_patch16_224``, e.g. ``.fb_in22k_ft_in1k``; ``torch.save`` or
                ``.safetensors``) or facebookresearch/deit's checkpoint (``deit_3_small_224_21k.pth``:
                ``{"model": ...}``, ``gamma_1``/``gamma_2``). ``~`` and environment variables expanded.

        Returns:
            The :class:`~pyiqa_fast.models.pretrained.PretrainedReport` of the load.

        Raises:
            PretrainedWeightsNotFoundError: No such file (the message says which checkpoint is expected
                and where to get it).
            PretrainedWeightsError: Unreadable, not a state dict, or keys/shapes that differ from the
                encoder's (every one named), e.g. weights of another ViT size or input size.
        """
        return load_pretrained_encoder(self.encoder, path, kind="vit", source=DEIT3_SMALL_PATCH16_224)

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != self.img_size or x.shape[3] != self.img_size:
            raise ValueError(f"{type(self).__name__} expects Tensor[B, 3, {self.img_size}, {self.img_size}], "
                             f"got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{type(self).__name__} expects a floating-point input, got {x.dtype}")

    def forward_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder.

        Args:
            x: ``Tensor[B, 3, H, W]`` (normalised, or [0, 1] RGB when ``normalize_input``).

        Returns:
            ``(cls, tokens)``: the final-normed CLS token ``Tensor[B, D]`` and patch tokens
            ``Tensor[B, N, D]`` (N = 196 at 224² with 16² patches).
        """
        self._check_input(x)
        if self.normalize_input:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        z = self.encoder.forward_features(x)
        return z[:, 0], z[:, 1:]

    def forward_decoder(self, cls: Tensor, tokens: Tensor) -> Tensor:
        """Attention-panel decoder: ``Tensor[B, D]``, ``Tensor[B, N, D]`` → panel outputs ``Tensor[B, Q, D]``."""
        q = self.queries.expand(cls.shape[0], -1, -1) + cls.unsqueeze(1)
        for layer in self.decoder:
            q = layer(q, tokens)
        return q

    def forward(self, x: Tensor) -> Tensor:
        """Quality scores.

        Args:
            x: ``Tensor[B, 3, 224, 224]`` float. By default ImageNet-normalised RGB (``(x01 - mean) /
                std`` with ``x01`` in [0, 1]), as in DEIQT's data pipeline (METHODS.md §2.2); RGB in
                [0, 1] when built with ``normalize_input=True``.

        Returns:
            ``Tensor[B]``: unbounded regression scores on the scale of the training labels (e.g.
            KonIQ ``MOS_zscore`` 0–100; higher is better). Untrained weights give values near 0.
        """
        cls, tokens = self.forward_features(x)
        return self.head(self.forward_decoder(cls, tokens)).squeeze(-1).mean(dim=1)


_DEIQT_CFGS = {"": PretrainedCfg(crop_mode="random_crops", protocol="deiqt", paper=_PAPER)}


@register_model(default_cfgs=_DEIQT_CFGS, aliases=("deiqt_small", "deiqt"))
def deiqt_vit_s16(pretrained: bool = False, checkpoint_path: str | os.PathLike | None = None,
                  pretrained_cfg: PretrainedCfg | None = None, **kwargs: Any) -> DEIQT:
    """The paper's DEIQT: ViT-S/16 (D 384, 12 blocks, 6 heads) + 6-query panel, 24,043,776 parameters.

    Random init unless ``checkpoint_path`` (a local state dict of this model) is given. The
    paper's DeiT-III ImageNet initialisation of the encoder: ``create_model("deiqt_vit_s16",
    pretrained=<local DeiT-III ViT-S/16 file>)`` (:meth:`DEIQT.load_pretrained`). Keyword arguments
    override :class:`DEIQT`'s (e.g. ``backend=``, ``normalize_input=``).
    """
    return build_model(DEIQT, _DEIQT_CFGS[""], pretrained, checkpoint_path, pretrained_cfg, {}, kwargs)


@register_model(default_cfgs={"": PretrainedCfg(crop_mode="random_crops", protocol="deiqt", paper=_PAPER)})
def deiqt_tiny(pretrained: bool = False, checkpoint_path: str | os.PathLike | None = None,
               pretrained_cfg: PretrainedCfg | None = None, **kwargs: Any) -> DEIQT:
    """A small DEIQT for tests and demos: same structure, D 96, 2 encoder blocks, 6 heads (dim 16),
    6 queries, one decoder layer, 224² input (not a paper configuration)."""
    return build_model(DEIQT, _DEIQT_CFGS[""], pretrained, checkpoint_path, pretrained_cfg,
                       {"embed_dim": 96, "depth": 2}, kwargs)

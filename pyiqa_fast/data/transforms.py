"""Plain torch/Pillow image transforms for the training and test pipelines (METHODS.md §2.2, §5.5).

All transforms take and return a ``Tensor[3, H, W]`` (uint8 0..255 or float 0..1, CPU) so they
compose with :class:`~pyiqa_fast.data.datasets.IQADataset`; random ones draw from an optional
``torch.Generator`` (default: torch's global generator, seeded per DataLoader worker).

DEIQT (§2.2): train = RandomHorizontalFlip → (KonIQ only) Resize to (512, 384) in (h, w) order →
RandomCrop 224 → to float [0, 1] → ImageNet normalisation; test = the same without the flip,
``PATCH_NUM`` random crops whose predictions are averaged (:class:`MultiCrop`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Transform = Callable[[torch.Tensor], torch.Tensor]


def _check(img: torch.Tensor) -> None:
    if not isinstance(img, torch.Tensor) or img.dim() != 3:
        raise TypeError(f"expected Tensor[C, H, W]; got {type(img).__name__}"
                        + (f" of shape {tuple(img.shape)}" if isinstance(img, torch.Tensor) else ""))


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


class RandomHorizontalFlip:
    """Flip the width axis with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        self.p, self.generator = p, generator

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        _check(img)
        if torch.rand((), generator=self.generator).item() < self.p:
            return img.flip(-1)
        return img

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Resize:
    """Resize to ``size = (h, w)`` exactly (aspect ratio not kept), bilinear.

    uint8 input goes through Pillow's bilinear resize (antialiased, as torchvision's PIL path that
    DEIQT and DP-IQA use); float input through ``F.interpolate(..., antialias=True)``.
    """

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = (int(size[0]), int(size[1]))

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        _check(img)
        h, w = self.size
        if tuple(img.shape[-2:]) == (h, w):
            return img
        if img.dtype == torch.uint8:
            from PIL import Image

            pil = Image.fromarray(img.permute(1, 2, 0).numpy())
            arr = np.asarray(pil.resize((w, h), Image.BILINEAR))
            if arr.ndim == 2:
                arr = arr[:, :, None]
            return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
        out = F.interpolate(img[None].float(), size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
        return out.to(img.dtype)

    def __repr__(self) -> str:
        return f"Resize(size={self.size})"


class RandomCrop:
    """A uniformly random ``size × size`` crop (an image smaller than ``size`` raises)."""

    def __init__(self, size: int, generator: torch.Generator | None = None) -> None:
        self.size, self.generator = int(size), generator

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        _check(img)
        h, w = img.shape[-2:]
        s = self.size
        if h < s or w < s:
            raise ValueError(f"RandomCrop({s}): image is {h}x{w}, smaller than the crop")
        top = int(torch.randint(0, h - s + 1, (), generator=self.generator))
        left = int(torch.randint(0, w - s + 1, (), generator=self.generator))
        return img[:, top:top + s, left:left + s]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size})"


class CenterCrop:
    """The central ``size × size`` crop."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        _check(img)
        h, w = img.shape[-2:]
        s = self.size
        if h < s or w < s:
            raise ValueError(f"CenterCrop({s}): image is {h}x{w}, smaller than the crop")
        top, left = (h - s) // 2, (w - s) // 2
        return img[:, top:top + s, left:left + s]


class ToFloat:
    """uint8 0..255 → float32 0..1 (float input is returned as float32 unchanged)."""

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        _check(img)
        if img.dtype == torch.uint8:
            return img.to(torch.float32).div_(255.0)
        return img.to(torch.float32)

    def __repr__(self) -> str:
        return "ToFloat()"


class Normalize:
    """``(img - mean) / std`` per channel on a float image (default ImageNet statistics)."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        _check(img)
        if not img.is_floating_point():
            raise TypeError("Normalize expects a float image in [0, 1]; put ToFloat() first")
        return (img - self.mean.to(img)) / self.std.to(img)

    def __repr__(self) -> str:
        return "Normalize()"


class MultiCrop:
    """Apply a random ``transform`` ``n`` times: Tensor[3, H, W] → Tensor[n, 3, h, w].

    DEIQT's test protocol averages the predictions of ``PATCH_NUM`` random crops of an image.
    """

    def __init__(self, transform: Transform, n: int) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1; got {n}")
        self.transform, self.n = transform, int(n)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.transform(img) for _ in range(self.n)])

    def __repr__(self) -> str:
        return f"MultiCrop({self.transform!r}, n={self.n})"


def deiqt_transform(train: bool, dataset: str | None = None, crop: int = 224, n_crops: int = 1,
                    generator: torch.Generator | None = None) -> Transform:
    """DEIQT's train/test pipeline (METHODS.md §2.2; CODE narthchin/DEIQT:IQA/build.py).

    Args:
        train: Add the random horizontal flip.
        dataset: Catalogue name; ``"koniq10k"`` adds the Resize to (h, w) = (512, 384).
        crop: Random crop size.
        n_crops: 1 → Tensor[3, crop, crop]; > 1 → Tensor[n_crops, 3, crop, crop] of independent
            crops (the test-time ``PATCH_NUM``).
        generator: Random source for flips and crops.

    Returns:
        A callable: Tensor[3, H, W] uint8/float → float32, ImageNet-normalised.

    Example:
        >>> t = deiqt_transform(train=False, n_crops=3)
        >>> t(torch.zeros(3, 300, 400, dtype=torch.uint8)).shape
        torch.Size([3, 3, 224, 224])
    """
    from pyiqa_fast.data.catalogue import get_dataset_info

    steps: list[Transform] = [RandomHorizontalFlip(generator=generator)] if train else []
    if dataset is not None and get_dataset_info(dataset).name == "koniq10k":
        steps.append(Resize((512, 384)))
    steps += [RandomCrop(crop, generator=generator), ToFloat(), Normalize()]
    pipeline = Compose(steps)
    return MultiCrop(pipeline, n_crops) if n_crops > 1 else pipeline


def dpiqa_transform(size: int = 512) -> Transform:
    """DP-IQA's in-the-wild pipeline (METHODS.md §5.5): Resize to size×size → float [0, 1].

    No crop, flip or normalisation, train and test alike [CODE RomGai/DP-IQA].

    Example:
        >>> dpiqa_transform()(torch.zeros(3, 100, 80, dtype=torch.uint8)).shape
        torch.Size([3, 512, 512])
    """
    return Compose([Resize((size, size)), ToFloat()])

"""IQA models: registry (``create_model``, ``list_models``) and architectures.

Importing this package registers every architecture but imports no model dependency (timm is
imported when a timm-based model is built).

Example:
    >>> from pyiqa_fast.models import create_model, list_models
    >>> "deiqt_vit_s16" in list_models()
    True
"""

from __future__ import annotations

from pyiqa_fast.models import deiqt, shdiqa  # noqa: F401  (register the DEIQT and SHDIQA architectures)
from pyiqa_fast.models.deiqt import DEIQT
from pyiqa_fast.models.pretrained import (
    PretrainedReport,
    PretrainedWeightsError,
    PretrainedWeightsNotFoundError,
    load_pretrained_encoder,
)
from pyiqa_fast.models.registry import (
    CheckpointError,
    PretrainedCfg,
    UnknownModelError,
    create_model,
    get_pretrained_cfg,
    list_models,
    load_checkpoint,
    register_model,
)
from pyiqa_fast.models.shdiqa import SHDIQAFeatures, SHDIQAStudent, SHDIQATeacher, StudentOutput, TeacherOutput

__all__ = [
    "DEIQT",
    "CheckpointError",
    "PretrainedCfg",
    "PretrainedReport",
    "PretrainedWeightsError",
    "PretrainedWeightsNotFoundError",
    "SHDIQAFeatures",
    "SHDIQAStudent",
    "SHDIQATeacher",
    "StudentOutput",
    "TeacherOutput",
    "UnknownModelError",
    "create_model",
    "get_pretrained_cfg",
    "list_models",
    "load_checkpoint",
    "load_pretrained_encoder",
    "register_model",
]

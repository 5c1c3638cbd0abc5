"""Training: :class:`Trainer`, config dataclasses and YAML loading, checkpoints, protocols, DDP.

Example:
    >>> from pyiqa_fast.train import Protocol
    >>> Protocol.preset("deiqt").select
    'best_test_plcc'
"""

from pyiqa_fast.train.checkpoint import CheckpointError, CheckpointMismatchError, load_checkpoint, save_checkpoint
from pyiqa_fast.train.config import (
    Config,
    ConfigError,
    DataConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    apply_overrides,
    config_to_dict,
    load_config,
    validate_config,
)
from pyiqa_fast.train.protocols import PROTOCOLS, Protocol, list_protocols
from pyiqa_fast.train.trainer import Trainer, TrainingDivergedError, build_optimizer, lr_at_step

__all__ = [
    "Config", "ConfigError", "DataConfig", "ModelConfig", "OptimConfig", "TrainConfig", "apply_overrides",
    "config_to_dict", "load_config", "validate_config", "Protocol", "PROTOCOLS", "list_protocols", "Trainer",
    "TrainingDivergedError", "lr_at_step", "build_optimizer",
    "CheckpointError", "CheckpointMismatchError", "load_checkpoint", "save_checkpoint",
]

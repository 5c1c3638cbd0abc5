"""The method recipes, registered in ``pyiqa_fast.train.stages.RECIPES`` on import: ``shdiqa``
(teacher, then the distilled BAF student). DEIQT's one-stage recipe lives in stages.py."""

from pyiqa_fast.train.recipes import shdiqa  # noqa: F401

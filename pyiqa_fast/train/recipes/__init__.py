"""The method recipes, registered in ``pyiqa_fast.train.stages.RECIPES`` on import: ``shdiqa``
(teacher, then the distilled BAF student). DEIQT's one-stage recipe lives in stages.py."""

from pyiqa_fast.train.recipes import shdiqa  # noqa: F401


def paper_cell(cfg):
    """The published SRCC/PLCC of ``cfg``'s recipe on its dataset and protocol (``{"table", "srcc",
    "plcc"}``, maybe a ``"note"``), or None where the recipe has no such cell."""
    module = {"shdiqa": shdiqa}.get(cfg.recipe)
    return module.paper_cell(cfg) if module is not None else None

"""The stage loop: a two-stage toy recipe (tests/train/_common.py: a TinyNet teacher, then a student
distilled from its weights file) hands a checkpoint from stage 1 to stage 2 through the context,
resumes bit-identically inside either stage and across the boundary, reports every named loss,
and refuses recipes whose stages do not fit together."""

from __future__ import annotations

import json

import pytest
import torch

from pyiqa_fast.train import ConfigError, Trainer
from pyiqa_fast.train.stages import MOSStage, StageContext, recipe_stages
from tests.train._common import DistilledStudent, tiny_config, tiny_factory


def toy(out_dir, *extra):
    return Trainer(tiny_config(out_dir, "recipe=toy2", "stages.student.optim.lr=5e-3", *extra),
                   model_factory=tiny_factory)


def weights(trainer, stage):
    return torch.load(trainer.stage_weights(trainer.stages[stage], 0), weights_only=True)["model"]


def test_two_stages_hand_over_weights_and_report_every_loss(tmp_path):
    trainer = toy(tmp_path)
    run = trainer.fit()
    assert [s["name"] for s in run["stages"]] == ["teacher", "student"] and run["stopped_early"] is False
    assert json.loads((tmp_path / "results.json").read_text())["summary"] == run["summary"]
    for name in ("teacher", "student"):
        assert (tmp_path / name / "model_repeat00.pt").is_file() and (tmp_path / name / "results.json").is_file()
    student = json.loads((tmp_path / "student" / "results.json").read_text())
    for epoch in student["repeats"][0]["epochs"]:
        assert set(epoch["losses"]) == {"mos", "kd"}
        assert epoch["train_loss"] == pytest.approx(sum(epoch["losses"].values()), rel=1e-6)
        assert epoch["lr"] <= 5e-3  # the stage's own optim.lr
    teacher = json.loads((tmp_path / "teacher" / "results.json").read_text())
    assert set(teacher["repeats"][0]["epochs"][0]["losses"]) == {"mos"}
    # The student read the teacher's file: its checkpoint's identity names it.
    last = torch.load(tmp_path / "student" / "checkpoints" / "last.pt", weights_only=True)
    assert last["identity"]["stage"]["inputs"] == {"teacher": str(tmp_path / "teacher" / "model_repeat00.pt")}
    assert not all(torch.equal(a, b) for a, b in zip(weights(trainer, 0).values(), weights(trainer, 1).values(),
                                                       strict=True))


@pytest.mark.parametrize("stop", ["stages.teacher.train.max_steps=3", "stages.student.train.max_steps=2"],
                         ids=["inside-stage-1", "inside-stage-2"])
def test_resume_is_bit_identical_across_the_stage_boundary(tmp_path, stop):
    full = toy(tmp_path / "a")
    full.fit()
    first = toy(tmp_path / "b", stop)
    assert first.fit()["stopped_early"] is True
    second = toy(tmp_path / "b")
    run = second.fit(resume=True)
    assert run["stopped_early"] is False
    if "student" in stop:
        assert any("teacher: finished in an earlier run" in m for m in second.messages)
    for stage in (0, 1):
        a, b = weights(full, stage), weights(second, stage)
        assert all(torch.equal(a[k], b[k]) for k in a), f"stage {stage}"
    ra = json.loads((tmp_path / "a" / "student" / "results.json").read_text())["repeats"][0]["epochs"]
    rb = json.loads((tmp_path / "b" / "student" / "results.json").read_text())["repeats"][0]["epochs"]
    assert [{**e, "time_s": 0} for e in ra] == [{**e, "time_s": 0} for e in rb]


def test_a_stage_whose_input_is_missing_names_it(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, "recipe=toy2"), model_factory=tiny_factory)
    trainer.stage = trainer.stages[1]
    with pytest.raises(FileNotFoundError, match=r"stage 'student' reads the weights of stage 'teacher' for repeat 0, "
                                                r"but .*teacher/model_repeat00.pt does not exist"):
        trainer._inputs(trainer.stages[1], 0)


@pytest.mark.parametrize(("stages", "message"), [
    ([MOSStage("a"), MOSStage("a")], "two stages are named 'a'"),
    ([DistilledStudent()], r"stage 'student' reads \['teacher'\], which are not earlier stages"),
    ([], "has no stages"),
])
def test_stages_that_do_not_fit_together_are_refused(tmp_path, stages, message):
    with pytest.raises(ValueError, match=message):
        Trainer(tiny_config(tmp_path), model_factory=tiny_factory, stages=stages)


def test_recipe_and_stage_overrides_are_checked(tmp_path):
    with pytest.raises(ValueError, match=r"unknown recipe 'toy3'; did you mean toy2"):
        recipe_stages(tiny_config(tmp_path, "recipe=toy3"))
    with pytest.raises(ValueError, match=r"overrides for \['techer'\], but recipe 'toy2' has stages"):
        toy(tmp_path, "stages.techer.optim.lr=1e-3")
    with pytest.raises(ConfigError, match=r"config stages.student: optim.lr must be a number > 0; got -1"):
        toy(tmp_path, "stages.student.optim.lr=-1")
    with pytest.raises(ValueError, match="resumes from its folder"):
        toy(tmp_path).fit(resume=str(tmp_path / "x.pt"))


def test_the_single_stage_recipe_writes_where_it_always_did(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, "train.epochs=1"), model_factory=tiny_factory)
    assert [type(s) for s in trainer.stages] == [MOSStage] and not trainer.multi_stage
    results = trainer.fit()
    assert (tmp_path / "results.json").is_file() and (tmp_path / "model_repeat00.pt").is_file()
    assert "stage" not in torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["identity"]
    assert results["repeats"][0]["epochs"][0]["losses"] == {"mos": results["repeats"][0]["epochs"][0]["train_loss"]}
    assert isinstance(StageContext(trainer.cfg, 0, trainer.device).inputs, dict)

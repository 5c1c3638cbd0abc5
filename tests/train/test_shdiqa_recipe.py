"""SHDIQA's recipe on tiny models (pyiqa_fast/train/recipes/shdiqa.py): the teacher trains on BDM
crops, the student regresses the MOS and distils the frozen teacher, every loss term is finite and
falls over a few CPU steps, no gradient reaches the teacher, a student without a matching teacher is
refused, and views="bdm" alternates the terms."""

from __future__ import annotations

import json

import pytest
import torch

from pyiqa_fast.models import create_model
from pyiqa_fast.train import Trainer
from pyiqa_fast.train.recipes.shdiqa import load_teacher
from tests.train._common import tiny_config

TINY = ["recipe=shdiqa", "model.name=shdiqa_student_tiny", "model.kwargs={}", "data.synthetic_size=24",
        "data.synthetic_image_size=72", "data.crop_size=64", "data.batch_size=4", "optim.lr=1e-3",
        "optim.warmup_epochs=0", "optim.decay_epochs=10", "stages.teacher.model.name=shdiqa_teacher_tiny",
        "stages.teacher.train.epochs=1", "train.epochs=1"]


def shdiqa(out_dir, *extra):
    return Trainer(tiny_config(out_dir, *TINY, *extra))


def epochs(out_dir, stage):
    return json.loads((out_dir / stage / "results.json").read_text())["repeats"][0]["epochs"]


def test_teacher_then_student_with_every_term(tmp_path):
    run = shdiqa(tmp_path).fit()
    assert [s["name"] for s in run["stages"]] == ["teacher", "student"] and run["stopped_early"] is False
    teacher, student = epochs(tmp_path, "teacher"), epochs(tmp_path, "student")
    assert set(teacher[0]["losses"]) == {"type", "level"} and "srcc" not in teacher[0]
    assert set(student[0]["losses"]) == {"mos", "ckd", "akd"} and "srcc" in student[0]
    for e in teacher + student:
        assert all(torch.isfinite(torch.tensor(v)) for v in e["losses"].values())


def test_loss_terms_fall_and_the_teacher_gets_no_gradient(tmp_path):
    trainer = shdiqa(tmp_path, "stages.teacher.train.max_steps=1")
    trainer.fit()
    first = Trainer(tiny_config(tmp_path, *TINY, "stages.teacher.train.epochs=1"))
    first.fit(resume=True)  # finishes the teacher, trains the student
    teacher_file = tmp_path / "teacher" / "model_repeat00.pt"
    stage = first.stages[1]
    from pyiqa_fast.train.stages import StageContext

    cfg = first._stage_cfg
    ctx = StageContext(cfg, 0, torch.device("cpu"), inputs={"teacher": str(teacher_file)})
    model = stage.build_model(ctx, first._make_model)
    frozen = {k: m.eval().requires_grad_(False) for k, m in stage.build_frozen(ctx).items()}
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(4, 3, 64, 64, generator=g), torch.rand(4, generator=g) * 100
    history = []
    for _ in range(6):
        ctx.step = 0  # the same BDM draw every step: the terms must fall on a fixed batch
        terms = stage.losses(model, frozen, (x, y), ctx)
        opt.zero_grad()
        sum(terms.values()).backward()
        opt.step()
        terms = {k: v.detach() for k, v in terms.items()}
        history.append({k: v.item() for k, v in terms.items()})
    for key in ("mos", "ckd", "akd"):
        assert history[-1][key] < history[0][key], (key, [h[key] for h in history])
    assert all(p.grad is None for p in frozen["teacher"].parameters())


def test_views_bdm_alternates_regression_and_distillation(tmp_path):
    shdiqa(tmp_path).fit()
    trainer = shdiqa(tmp_path / "bdm", "recipe_options.views=bdm")
    trainer.out_dir = str(tmp_path / "bdm")
    stage = trainer.stages[1]
    from pyiqa_fast.train.stages import StageContext

    ctx = StageContext(trainer.cfg, 0, torch.device("cpu"),
                       inputs={"teacher": str(tmp_path / "teacher" / "model_repeat00.pt")})
    model = stage.build_model(ctx, trainer._make_model)
    frozen = stage.build_frozen(ctx)
    batch = (torch.rand(2, 3, 64, 64), torch.rand(2) * 100)
    ctx.step = 0
    assert set(stage.losses(model, frozen, batch, ctx)) == {"mos"}
    ctx.step = 1
    assert set(stage.losses(model, frozen, batch, ctx)) == {"ckd", "akd"}


def test_a_teacher_of_another_partition_or_width_is_refused(tmp_path):
    teacher = create_model("shdiqa_teacher_tiny", partition="grid2x2")
    path = tmp_path / "teacher.pt"
    torch.save({"format": 1, "identity": {"model": {"name": "shdiqa_teacher_tiny", "kwargs": {"partition": "grid2x2"}}},
                "model": teacher.state_dict()}, path)
    with pytest.raises(ValueError, match=r"does not fit the student: partition: teacher \(2, 2\) vs student \(1, 2\)"):
        load_teacher(str(path), create_model("shdiqa_student_tiny"))
    torch.save({"format": 1, "identity": {"model": {"name": "deiqt_tiny", "kwargs": {}}},
                "model": create_model("deiqt_tiny").state_dict()}, path)
    with pytest.raises(ValueError, match="reads a teacher, but .* holds a 'deiqt_tiny'"):
        load_teacher(str(path), create_model("shdiqa_student_tiny"))


def test_a_student_without_its_teacher_is_refused(tmp_path):
    trainer = shdiqa(tmp_path)
    with pytest.raises(FileNotFoundError, match="stage 'student' reads the weights of stage 'teacher'"):
        trainer._inputs(trainer.stages[1], 0)


def test_recipe_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match=r"recipe_options.views must be 'two' or 'bdm', got 'three'"):
        shdiqa(tmp_path, "recipe_options.views=three")
    with pytest.raises(ValueError, match=r"recipe_options for recipe 'shdiqa': unknown \['gamma'\]"):
        shdiqa(tmp_path, "recipe_options.gamma=1")


def test_paper_cells_beside_ours(tmp_path, capsys):
    from pyiqa_fast.train import apply_overrides
    from pyiqa_fast.train.cli import run_eval
    from pyiqa_fast.train.recipes import paper_cell

    cfg = tiny_config(tmp_path, *TINY)
    assert paper_cell(cfg) is None  # the synthetic set has no published cell
    livec = apply_overrides(tiny_config(tmp_path, *TINY), ["data.dataset=livec"])
    assert paper_cell(livec) == {"table": "SHDIQA-supp Table 3 (vertical)", "srcc": 0.909, "plcc": 0.922}
    de20 = apply_overrides(tiny_config(tmp_path, *TINY), ["data.dataset=koniq", "protocol=shdiqa_de20"])
    assert paper_cell(de20)["table"] == "SHDIQA-supp Table 1 (20 %)" and "swapped" in paper_cell(de20)["note"]
    assert paper_cell(apply_overrides(tiny_config(tmp_path), ["data.dataset=livec"])) is None  # DEIQT's recipe
    # eval of a trained student: our numbers (no cell for the synthetic set: no paper line)
    shdiqa(tmp_path).fit()
    capsys.readouterr()
    assert run_eval(str(tmp_path / "student" / "checkpoints" / "last.pt")) == 0
    out = capsys.readouterr()
    assert '"srcc"' in out.out and "paper" not in out.err

"""DistributedDataParallel with gloo on 2 CPU processes: same results as one process on the same data, for a
single-stage recipe and for the two-stage toy recipe (the stage loop)."""

from __future__ import annotations

import json
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pyiqa_fast.train import Trainer
from tests.train._common import tiny_config, tiny_factory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str, *extra: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        trainer = Trainer(tiny_config(out_dir, "data.batch_size=2", *extra), model_factory=tiny_factory)
        res = trainer.fit()
        torch.save(trainer.model.state_dict(), f"{out_dir}/rank{rank}.pt")
        if "repeats" not in res:  # a multi-stage run: the last stage's record
            with open(f"{out_dir}/{res['stages'][-1]['name']}/results.json") as fh:
                res = json.load(fh)
        with open(f"{out_dir}/rank{rank}.json", "w") as fh:
            json.dump(res["repeats"][0]["epochs"], fh)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
@pytest.mark.parametrize("recipe", ["deiqt", "toy2"], ids=["one-stage", "two-stage"])
def test_two_gloo_processes_match_one(tmp_path, recipe):
    torch.set_num_threads(1)
    single = Trainer(tiny_config(tmp_path / "one", "data.batch_size=4", f"recipe={recipe}"), model_factory=tiny_factory)
    run = single.fit()
    last = tmp_path / "one" / run["stages"][-1]["name"] / "results.json" if "stages" in run else None
    ref = (json.loads(last.read_text()) if last else run)["repeats"][0]["epochs"]
    out = tmp_path / "two"
    out.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(out), f"recipe={recipe}"), nprocs=2, join=True)
    w0, w1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)  # DDP keeps the replicas identical
    ref_w = single.model.state_dict()
    for k in ref_w:
        torch.testing.assert_close(w0[k], ref_w[k], rtol=1e-4, atol=1e-5)
    got = json.loads((out / "rank0.json").read_text())
    assert json.loads((out / "rank1.json").read_text())[-1]["plcc"] == got[-1]["plcc"]  # gathered metrics
    for a, b in zip(ref, got, strict=True):
        assert a["n"] == b["n"]
        for key in ("train_loss", "srcc", "plcc", "krcc", "rmse"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key
    files = sorted(p.name for p in out.iterdir())
    assert "results.json" in files and ("checkpoints" in files or "student" in files)  # written by rank 0


def _shdiqa_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    from tests.train.test_shdiqa_recipe import TINY

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        trainer = Trainer(tiny_config(out_dir, *TINY, "data.batch_size=2"))
        trainer.fit()
        torch.save(trainer.model.state_dict(), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_shdiqa_teacher_and_student_stages_under_two_gloo_processes(tmp_path):
    # BDM views are drawn per rank (StageContext.generator), so the run is not the one-process run
    # with twice the batch; DDP must keep the replicas identical and rank 0 write the results.
    mp.spawn(_shdiqa_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    student = json.loads((tmp_path / "student" / "results.json").read_text())["repeats"][0]["epochs"]
    assert set(student[-1]["losses"]) == {"mos", "ckd", "akd"} and student[-1]["n"] >= 2
    assert (tmp_path / "teacher" / "model_repeat00.pt").is_file()

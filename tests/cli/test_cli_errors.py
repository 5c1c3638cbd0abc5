"""Bad input to ``pyiqa-fast train|eval|score``: one line on stderr, exit 2 (unusable input) or 1 (a
failed run or a result that is not a number), never a traceback nor exit 0 on a broken result."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch import nn

from pyiqa_fast.cli import main
from pyiqa_fast.data import images
from pyiqa_fast.train import Trainer, config_to_dict
from tests.data.test_images import _png_header
from tests.train._common import TinyNet, tiny_config, tiny_factory


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


def _demo(*sets: str, out) -> list[str]:
    args = ["train", "--config", "deiqt_demo", "--quiet", "--set", f"train.out_dir={out}"]
    for s in sets:
        args += ["--set", s]
    return args


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A finished tiny run (TinyNet on the synthetic set); ``pyiqa-fast eval/score`` build TinyNet for it."""
    Trainer(tiny_config(tmp_path / "run", "train.epochs=1"), model_factory=tiny_factory).fit()
    monkeypatch.setattr(Trainer, "_make_model",
                        lambda self, cfg=None, pretrained=True: TinyNet(**self.cfg.model.kwargs))
    return tmp_path / "run"


def _photo(path, size=(24, 20), seed=0):
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return str(path)


# ---- config


@pytest.mark.parametrize("override, message", [
    ("train.epochs=0", "config train.epochs must be an integer >= 1; got 0"),
    ("data.batch_size=0", "config data.batch_size must be an integer >= 1; got 0"),
    ("data.eval_batch_size=-2", "config data.eval_batch_size must be an integer >= 1; got -2"),
    ("optim.lr=0", "config optim.lr must be a number > 0; got 0"),
    ("optim.lr=-1e-3", "config optim.lr must be a number > 0; got -0.001"),
    ("data.num_workers=-1", "config data.num_workers must be an integer >= 0; got -1"),
    ("data.crop_size=0", "config data.crop_size must be an integer >= 1; got 0"),
    ("train.epochs=2.5", "config train.epochs must be an integer >= 1; got 2.5"),
    ("train.epochs=abc", "config train.epochs must be an integer; got 'abc'"),
    ("train.epochs=null", "config train.epochs must be an integer >= 1; got None"),
    ("optim.betas=[0.9, 1.5]", "config optim.betas must be a list of 2 numbers in [0, 1); got [0.9, 1.5]"),
    ("data.resize=[64]", "config data.resize must be a list of 2 integers >= 1 or null; got [64]"),
    ("train.seed=-1", "config train.seed must be an integer >= 0; got -1"),
    ("optim.loss=huber", "config optim.loss must be one of smooth_l1, mse, l1; got 'huber'"),
    ("protocol=deiq", "config protocol: unknown protocol 'deiq'; did you mean deiqt"),
    ("protocol_overrides.repeats=0", "config protocol_overrides.repeats must be an integer >= 1, got 0"),
    ("data.resize=[64,", "override 'data.resize=[64,': the value is not valid YAML (line 1, column"),
])
def test_train_refuses_bad_config_values(tmp_path, capsys, override, message):
    assert main(_demo(override, out=tmp_path / "run")) == 2
    err = _err(capsys)
    assert err.startswith("pyiqa-fast train: ") and message in err
    assert not (tmp_path / "run").exists()  # refused before anything ran


def test_invalid_yaml_config_names_file_line_and_column(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: 2\n  seed: [1, 2\nmodel:\n  name: x\n")
    assert main(["train", "--config", str(path)]) == 2
    err = _err(capsys)
    assert err.startswith(f"pyiqa-fast train: config {path}: invalid YAML at line 4, column 6: ")
    assert "while parsing a flow sequence expected ',' or ']', but got ':'" in err
    path.write_text("train:\n  epochs: 2\n bad: 1\n")
    assert main(["train", "--config", str(path)]) == 2
    assert f"config {path}: invalid YAML at line 3, column 2: " in _err(capsys)
    path = tmp_path / "bad.json"
    path.write_text('{"train": {"epochs": 2,}}')
    assert main(["train", "--config", str(path)]) == 2
    assert f"config {path}: invalid JSON at line 1, column 24" in _err(capsys)
    path.write_bytes(b"train:\n  epochs: \xff\n")
    assert main(["train", "--config", str(path)]) == 2
    assert "not UTF-8 text" in _err(capsys)


# ---- checkpoints


def test_nan_weights_are_refused_by_name(run, tmp_path, capsys):
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    ckpt["model"]["conv2.weight"][0, 0, 0, 0] = float("nan")
    ckpt["model"]["head.bias"][:] = float("inf")
    bad = tmp_path / "nan.pt"
    torch.save(ckpt, bad)
    photo = _photo(tmp_path / "a.png")
    for command in (["eval", "--checkpoint", str(bad)], ["score", "--checkpoint", str(bad), photo]):
        assert main(command) == 2
        err = _err(capsys)
        assert f"{bad} holds non-finite weights in 2 of 6 tensors: conv2.weight (1 NaN, 0 inf of 576), " \
               "head.bias (0 NaN, 1 inf of 1)" in err


def test_empty_or_truncated_checkpoint(run, tmp_path, capsys):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert main(["eval", "--checkpoint", str(empty)]) == 2
    assert f"pyiqa-fast eval: checkpoint {empty} is empty (0 bytes)" in _err(capsys)
    cut = tmp_path / "cut.pt"
    cut.write_bytes((run / "checkpoints" / "last.pt").read_bytes()[:1000])
    assert main(["score", "--checkpoint", str(cut), _photo(tmp_path / "a.png")]) == 2
    err = _err(capsys)
    assert f"cannot read checkpoint {cut} (1000 bytes; truncated or not a torch.save file?): " in err
    assert not err.endswith(": ")  # the reason is there
    assert main(["eval", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "no checkpoint at" in _err(capsys)


def test_checkpoint_missing_entries(run, tmp_path, capsys):
    last = run / "checkpoints" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    del ckpt["repeat"]
    torch.save(ckpt, last)
    # resume: was a bare KeyError: 'repeat'
    assert main([*_demo(out=run), "--resume", str(last)]) == 2
    err = _err(capsys)
    assert f"checkpoint {last} lacks 'repeat': a training checkpoint (checkpoints/last.pt) holds format, " in err
    del ckpt["model"]
    torch.save(ckpt, last)
    assert main(["eval", "--checkpoint", str(last)]) == 2
    assert f"checkpoint {last} lacks 'model'" in _err(capsys)


def test_checkpoint_of_another_model_is_one_line_exit_1(run, tmp_path, capsys):
    assert main(["eval", "--checkpoint", str(run / "checkpoints" / "last.pt"), "--set", "model.kwargs={width: 4}"]) == 1
    err = _err(capsys)
    assert "does not fit model tiny_conv {'width': 4} of the config: " in err
    assert "5 shape mismatches (conv1.weight: checkpoint (8, 3, 3, 3) vs model (4, 3, 3, 3)" in err


def test_eval_of_constant_predictions_is_not_a_success(run, tmp_path, capsys):
    path = run / "model_repeat00.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"] = {k: torch.zeros_like(v) for k, v in ckpt["model"].items()}  # every prediction 0
    torch.save(ckpt, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the metrics warn about the constant input
        status = main(["eval", "--checkpoint", str(path), "--config", str(_yaml(run, tmp_path))])
    assert status == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["srcc"] != json.loads(out)["srcc"]  # NaN, still printed
    assert "pyiqa-fast eval: the result is not a number (SRCC nan, PLCC nan on 5 test image(s))" in err


def _yaml(run, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(json.loads(json.dumps(config_to_dict(tiny_config(run, "train.epochs=1"))))))
    return path


class _Constant(nn.Module):
    """Finite loss, zero gradients, the same score for every image."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((1, 2, 3)) * self.w * 0


def test_train_with_a_nan_result_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Trainer, "_make_model", lambda self, cfg=None, pretrained=True: _Constant())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["train", "--config", str(_yaml(tmp_path / "run", tmp_path)), "--quiet"])
    assert status == 1
    err = capsys.readouterr().err
    assert "pyiqa-fast train: the result is not a number (SRCC nan, PLCC nan over 1 repeat(s), test sets of 5 " in err
    assert str(tmp_path / "run" / "results.json") in err


# ---- score: images


def test_score_reads_16_bit_and_float_images_as_their_8_bit_equivalent(run, tmp_path, capsys):
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 65536, (20, 24), dtype=np.uint16)
    paths = {"g8.png": np.rint(grey / 257).astype(np.uint8), "g16.png": grey,
             "f.tif": (grey / 65535).astype(np.float32)}
    for name, array in paths.items():
        Image.fromarray(array).save(tmp_path / name)
    capsys.readouterr()

    def score(name):  # one image per call: the test crops are drawn per (seed, image index)
        assert main(["score", "--checkpoint", str(run / "checkpoints" / "last.pt"), str(tmp_path / name)]) == 0
        return float(capsys.readouterr().out.strip().splitlines()[-1].split()[-1])

    scores = [score(n) for n in paths]
    assert all(np.isfinite(scores))
    assert scores[1] == pytest.approx(scores[0], abs=0.01) and scores[2] == pytest.approx(scores[1], abs=1e-3)
    # what the old path did: convert("RGB") clipped the 16-bit values to 255 (a white image)
    Image.fromarray(np.full((20, 24), 255, np.uint8)).save(tmp_path / "white.png")
    assert abs(score("white.png") - scores[1]) > 0.2


@pytest.mark.parametrize("case", ["bomb", "lab", "float_range", "small", "not_an_image"])
def test_score_refuses_unreadable_images_in_one_line(run, tmp_path, capsys, case):
    path = tmp_path / f"{case}.{'tif' if case in ('lab', 'float_range') else 'png'}"
    if case == "bomb":
        _png_header(path, 100_000, 100_000)
        expected = f"{path}: image of 10,000,000,000 pixels exceeds the limit of {images.MAX_IMAGE_PIXELS:,} pixels"
    elif case == "lab":
        Image.new("LAB", (24, 20)).save(path)
        expected = f"{path}: Pillow mode 'LAB' (TIFF file) is not supported"
    elif case == "float_range":
        Image.fromarray(np.full((20, 24), 3.0, np.float32)).save(path)
        expected = f"{path}: float image (mode F) has values in [3, 3]; expected [0, 1]"
    elif case == "small":
        _photo(path, size=(12, 30))
        expected = f"{path}: image 12x30 is smaller than the model's 16x16 test crops (data.crop_size)"
    else:
        path.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        expected = f"{path}: cannot decode image file"
    assert main(["score", "--checkpoint", str(run / "checkpoints" / "last.pt"), _photo(tmp_path / "ok.png"),
                 str(path)]) == 2
    err = _err(capsys)
    assert err.startswith("pyiqa-fast score: ") and expected in err


def test_dataloader_worker_errors_are_the_original_message(tmp_path):
    from pyiqa_fast.data.images import ImageReadError
    from pyiqa_fast.utils.errors import error_message

    class Broken(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise ImageReadError(f"KonIQ-10k: {tmp_path}/x.png: cannot decode image file: truncated")

    with pytest.raises(ImageReadError) as err:
        next(iter(torch.utils.data.DataLoader(Broken(), num_workers=1)))
    assert "Traceback" in str(err.value)  # what torch re-raises
    assert error_message(err.value) == f"KonIQ-10k: {tmp_path}/x.png: cannot decode image file: truncated"
    assert error_message(KeyError("unknown 'x'")) == "unknown 'x'"


def test_demo_stopped_early_or_with_a_nan_result(tmp_path, monkeypatch, capsys):
    assert main(["demo", "--quick", "--set", "train.max_steps=1", "-o", str(tmp_path / "a")]) == 0  # was IndexError
    assert "stopped early (train.max_steps)" in capsys.readouterr().out
    monkeypatch.setattr(Trainer, "_make_model", lambda self, cfg=None, pretrained=True: _Constant())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["demo", "--quick", "--config", "deiqt_demo", "--set", "train.epochs=1", "-o",
                     str(tmp_path / "b")]) == 1
    assert "pyiqa-fast demo: the result is not a number (SRCC, PLCC NaN" in _err(capsys)

"""The build, the native module, the pure-Python fallback and the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import pyiqa_fast

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    environment.pop("TRITON_INTERPRET", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment,
                          cwd=ROOT, timeout=300)


def test_build_info_describes_the_extension():
    info = pyiqa_fast.build_info()
    assert info["available"], info.get("reason")
    assert info["version"] == pyiqa_fast.__version__
    import torch

    assert info["torch_version"] == torch.__version__
    assert "margin_ranking_loss" in info["cpu_kernels"]
    assert ("margin_ranking_loss" in info["cuda_kernels"]) == info["with_cuda"]
    assert info["cxx_standard"] >= 202002


def test_import_is_lazy():
    result = run_python(
        "import sys, pyiqa_fast, pyiqa_fast.ops, pyiqa_fast.losses; "
        "print(sorted(m for m in ('triton', 'pyiqa_fast._C') if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_pure_python_fallback_runs_the_reference_and_says_so():
    code = """
import sys, warnings
sys.modules["pyiqa_fast._C"] = None  # as if the extension were not built
import torch
from pyiqa_fast import BackendUnavailableError
from pyiqa_fast.ops import margin_ranking_loss
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    loss = margin_ranking_loss(torch.randn(8), torch.rand(8))
print("loss", float(loss))
print("warned", any("reference backend" in str(w.message) and "_C" in str(w.message) for w in caught))
try:
    margin_ranking_loss(torch.randn(8), torch.rand(8), backend="cpu")
except BackendUnavailableError as exc:
    print("refused", exc)
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "warned True" in result.stdout
    assert "refused margin_ranking_loss(backend='cpu'): cannot run — pyiqa_fast._C is not importable" in result.stdout
    assert "use backend='reference'" in result.stdout
    env = run_python("import sys; sys.modules['pyiqa_fast._C'] = None\nfrom pyiqa_fast.cli import main; main(['env'])")
    assert "pyiqa_fast._C unavailable, only the reference backends run" in env.stdout


KERNEL_OPS = ["margin_ranking_loss", "dsm_pool", "block_attention", "distort"]
CUDA_KERNEL_OPS = [op for op in KERNEL_OPS if (ROOT / f"csrc/kernels/{op}/{op}_cuda.cu").exists()]


@pytest.mark.parametrize("op", KERNEL_OPS)
def test_kernels_compile_and_pass_without_torch(tmp_path, op):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler on PATH")
    binary = tmp_path / f"test_{op}"
    sources = sorted(str(p) for p in (ROOT / f"csrc/kernels/{op}").glob("*_cpu.cpp"))
    assert sources, f"no csrc/kernels/{op}/*_cpu.cpp"
    defines, libraries = [], []
    if op == "distort" and Path("/usr/include/jpeglib.h").exists():  # distort's jpeg is libjpeg
        defines, libraries = ["-DPYIQA_FAST_WITH_LIBJPEG=1"], ["-ljpeg"]
    # -Wno-unknown-pragmas: the host/device headers carry CUDA's `#pragma unroll` (common/philox.h).
    subprocess.run([cxx, "-std=c++20", "-O2", "-Wall", "-Werror", "-Wno-unknown-pragmas", f"-I{ROOT / 'csrc'}",
                    *defines, str(ROOT / f"csrc/tests/test_{op}.cpp"), *sources, *libraries,
                    "-o", str(binary)], check=True, timeout=300)
    result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("op", CUDA_KERNEL_OPS)
def test_cuda_kernel_compiles_standalone_with_nvcc(tmp_path, op):
    nvcc = next((p for p in ("/usr/local/cuda/bin/nvcc", shutil.which("nvcc")) if p and os.path.exists(p)), None)
    if nvcc is None:
        pytest.skip("nvcc is not installed: the CUDA sources cannot be compiled here")
    subprocess.run([nvcc, "-std=c++20", "-arch=sm_90", "-c", f"-I{ROOT / 'csrc'}",
                    str(ROOT / f"csrc/kernels/{op}/{op}_cuda.cu"),
                    "-o", str(tmp_path / "k.o")], check=True, timeout=600)


def test_env_command_lists_backends_per_op():
    result = run_python("from pyiqa_fast.cli import main; raise SystemExit(main(['env', '--json']))")
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    backends = env["backends"]["margin_ranking_loss"]
    assert set(backends) == {"reference", "cpu", "cuda", "triton"}
    assert backends["reference"]["available"] and backends["cpu"]["available"]
    for state in backends.values():
        assert state["available"] or state["reason"]
    text = subprocess.run([sys.executable, "-m", "pyiqa_fast", "env"], capture_output=True, text=True, cwd=ROOT)
    assert text.returncode == 0 and "margin_ranking_loss" in text.stdout and "torch" in text.stdout


def test_console_script_is_installed():
    script = Path(sysconfig.get_path("scripts")) / "pyiqa-fast"  # a system Python may use /usr/local/bin
    assert script.exists(), f"pip install -e . should install the pyiqa-fast console script ({script})"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and pyiqa_fast.__version__ in result.stdout


def test_demo_prints_a_table(tmp_path):
    pytest.importorskip("skimage")
    result = subprocess.run([sys.executable, "-m", "pyiqa_fast", "demo", "--quick", "--ops", "-o", str(tmp_path),
                             "--set", "train.progress=false", "-n", "64", "--repeats", "2"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "SRCC" in result.stdout and "PLCC" in result.stdout and "held-out" in result.stdout
    assert (tmp_path / "results.json").is_file()
    assert "backend" in result.stdout and "cpu" in result.stdout and "reference" in result.stdout
    assert "dsm_pool" in result.stdout and "block_attention" in result.stdout


def test_cli_bad_input_is_one_line_and_nonzero():
    result = subprocess.run([sys.executable, "-m", "pyiqa_fast", "demo", "-n", "1"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "pyiqa-fast demo: error: --batch-size must be >= 2, got 1"


def test_cpp_op_registrations_do_not_depend_on_import_order():
    # The Triton path imports ops.py before _C exists; the C++ op must still get its fake kernel.
    code = """
import torch
from pyiqa_fast.ops.margin_ranking_loss import ops
from pyiqa_fast.ops import margin_ranking_loss
pred, target = torch.randn(16), torch.rand(16)
margin_ranking_loss(pred, target, backend="cpu")
compiled = torch.compile(lambda p, t: margin_ranking_loss(p, t, backend="cpu"), fullgraph=True)
print("compiled", abs(float(compiled(pred, target)) - float(margin_ranking_loss(pred, target))) < 1e-6)
with torch.autocast("cpu", dtype=torch.bfloat16):
    print("autocast", torch.ops.pyiqa_fast.margin_ranking_loss(pred.bfloat16(), target.bfloat16(), 0.25, None,
                                                               "mean")[0].dtype)
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "compiled True" in result.stdout and "autocast torch.float32" in result.stdout


def test_dsm_pool_registrations_do_not_depend_on_import_order():
    # dsm_pool's autograd is registered from Python: importing ops.py before _C must not lose it.
    code = """
import torch
from pyiqa_fast.ops.dsm_pool import ops
from pyiqa_fast.ops import dsm_pool
ref, dist = torch.rand(1, 3, 8, 8, requires_grad=True), torch.rand(1, 3, 8, 8)
dsm_pool(ref, dist, backend="cpu").sum().backward()
print("grad", ref.grad.abs().sum().item() > 0)
compiled = torch.compile(lambda r, d: dsm_pool(r, d, backend="cpu"), fullgraph=True)
print("compiled", torch.equal(compiled(ref.detach(), dist), dsm_pool(ref.detach(), dist, backend="cpu")))
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "grad True" in result.stdout and "compiled True" in result.stdout


def test_backend_environment_variable():
    code = ("import torch; from pyiqa_fast.ops.margin_ranking_loss.api import BACKENDS; "
            "print(BACKENDS.resolve('auto', torch.device('cpu'), torch.float32, False, n=8).name)")
    assert run_python(code, PYIQA_FAST_BACKEND="reference").stdout.strip() == "reference"
    bad = run_python(code, PYIQA_FAST_BACKEND="fastest")
    assert bad.returncode != 0 and "PYIQA_FAST_BACKEND must be one of" in bad.stderr and "'fastest'" in bad.stderr


def test_cmake_stops_with_a_clear_message_without_torch(tmp_path):
    cmake = Path(sys.executable).parent / "cmake"
    base_python = getattr(sys, "_base_executable", None)
    if not cmake.exists() or not base_python:
        pytest.skip("needs the venv's cmake and a base interpreter")
    if subprocess.run([base_python, "-c", "import torch"], capture_output=True).returncode == 0:
        pytest.skip(f"{base_python} has torch installed: no torch-less interpreter to configure with")
    result = subprocess.run([str(cmake), "-S", str(ROOT), "-B", str(tmp_path), f"-DPython_EXECUTABLE={base_python}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert "cannot import torch" in output and "pip install --no-build-isolation" in output

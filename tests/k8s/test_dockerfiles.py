"""Dockerfiles: the install step each image runs resolves to uv.lock's versions.

No Docker engine here, so the builder stage's two commands (`uv export` to constraints,
`uv pip install -c ... PACKAGES`) run against a throwaway venv instead.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from serving.model_repo import XGBOOST_RUNTIME
from tests.k8s.conftest import ROOT

DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
# image -> (modules the image must import, entrypoint module or console script)
ENTRYPOINTS = {
    "serving": (
        ["mlserver", "mlserver_xgboost", "ml.settings", "serving.mlserver_runtime"],
        "mlserver",
    ),
    "transformer": (["kserve", "ml.settings"], "serving.transformer"),
    "ui": (["gradio", "mlflow", "ml.settings"], "ui"),
    "pipeline": (["kfp", "mlflow", "psycopg2", "boto3", "pipelines"], "bvp"),
    "sagemaker": (
        ["fastapi", "uvicorn", "xgboost", "serving.sagemaker_app"],
        "serving.sagemaker_app",
    ),
}


def _uv() -> str:
    candidates = (os.environ.get("UV"), ROOT / ".tools/uv/bin/uv", shutil.which("uv"))
    for cand in candidates:
        if cand and Path(cand).exists():
            return str(cand)
    pytest.skip("uv not found: make setup installs .tools/uv (or set UV=/path/to/uv)")


def _args(path: Path) -> dict[str, str]:
    args = {}
    for m in re.finditer(r'^ARG (\w+)=(".*?"|\S+)$', path.read_text(), re.M):
        args[m.group(1)] = m.group(2).strip('"')
    return args


def _locked(constraints: Path) -> dict[str, str]:
    """name -> version pinned by `uv export` for this image (one fork of the lock)."""
    from packaging.markers import Marker

    pins = {}
    for name, version, marker in re.findall(
        r"^([\w.-]+)==([^\s;]+)(?: ; (.+))?$", constraints.read_text(), re.M
    ):
        if (
            not marker or Marker(marker).evaluate()
        ):  # this interpreter, like the image's
            pins[name.lower().replace("_", "-")] = version
    return pins


def _install(tmp_path: Path, image: str, dry_run: bool) -> tuple[str, Path]:
    uv, a = _uv(), _args(ROOT / "docker" / f"{image}.Dockerfile")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    constraints, overrides = tmp_path / "constraints.txt", tmp_path / "overrides.txt"
    extras = [x for e in a["EXTRAS"].split() for x in ("--extra", e)]
    subprocess.run(
        [
            uv,
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--no-hashes",
            *extras,
            "-o",
            str(constraints),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    overrides.write_text(a["OVERRIDES"] + "\n")
    venv = tmp_path / "venv"
    subprocess.run(
        [uv, "venv", "-q", str(venv), "--python", sys.executable], env=env, check=True
    )
    cmd = [
        uv,
        "pip",
        "install",
        "--python",
        str(venv / "bin/python"),
        "--constraint",
        str(constraints),
        "--override",
        str(overrides),
        *(["--dry-run"] if dry_run else ["-q", "--link-mode=copy"]),
        *[
            str(ROOT) + p[1:] if p.startswith(".") else p
            for p in shlex.split(a["PACKAGES"])
        ],
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr, venv


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.stem.split(".")[0])
def test_dockerfile_shape(path):
    text = path.read_text()
    stages = re.findall(r"^FROM (.+)$", text, re.M)
    assert len(stages) == 2 and all("--platform=linux/amd64" in s for s in stages)
    base = _args(path)["PYTHON_IMAGE"]
    assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base)
    final = text.split("\nFROM ")[-1]
    assert re.search(r"^USER 10001:10001$", final, re.M)
    assert "uv" not in final.split("COPY --from=builder", 1)[0]
    assert not re.search(r"apt-get|gcc|build-essential", final)


def test_overrides_match_pyproject():
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"][
        "override-dependencies"
    ]
    for path in DOCKERFILES:
        assert [_args(path)["OVERRIDES"].replace("'", '"')] == [
            o.replace("'", '"') for o in overrides
        ], path.name


@pytest.mark.parametrize("image", sorted(ENTRYPOINTS))
def test_image_requirements_resolve_to_locked_versions(tmp_path, image):
    out, _ = _install(tmp_path, image, dry_run=True)
    resolved = dict(re.findall(r"^ \+ ([\w.-]+)==(\S+)$", out, re.M))
    assert resolved, out
    locked = _locked(tmp_path / "constraints.txt")
    project = "btc-volatility-predictor"
    mismatched = {
        n: (v, locked.get(n))
        for n, v in resolved.items()
        if n != project and locked.get(n) != v
    }
    assert mismatched == {}
    assert "nvidia-nccl-cu12" not in resolved


def _implementation(dockerfile: Path) -> str:
    m = re.search(r"MLSERVER_MODEL_IMPLEMENTATION=(\S+)", dockerfile.read_text())
    assert m, dockerfile
    return m.group(1)


def test_serving_image_runs_the_validating_runtime():
    """The image serves what the local repository serves (V2 input checks included)."""
    assert _implementation(ROOT / "docker" / "serving.Dockerfile") == XGBOOST_RUNTIME


@pytest.mark.slow
@pytest.mark.parametrize("image", ["serving", "transformer"])
def test_image_installs_and_entrypoint_imports(tmp_path, image):
    modules, entry = ENTRYPOINTS[image]
    _, venv = _install(tmp_path, image, dry_run=False)
    code = f"import {', '.join(modules)}"
    if entry == "mlserver":
        assert (venv / "bin" / "mlserver").exists()
        module, cls = _implementation(ROOT / "docker" / f"{image}.Dockerfile").rsplit(
            ".", 1
        )
        code += f"; from {module} import {cls}"
    else:
        root = entry.split(".")[0]
        if (
            not (ROOT / root / (entry.split(".", 1)[-1] + ".py")).exists()
            and not (ROOT / entry.replace(".", "/") / "__main__.py").exists()
        ):
            pytest.skip(f"entrypoint {entry} is not in this checkout yet")
        code += f"; import importlib.util as u; assert u.find_spec({entry!r})"
    proc = subprocess.run(
        [str(venv / "bin/python"), "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr

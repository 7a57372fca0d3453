"""An installed wheel: every config file composes from it, and it installs one package, ntm_cli."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import every_option

from ntm_cli.composition import config_dir

REPO = Path(__file__).resolve().parent.parent

# Run with the wheel alone on the path: compose each option (the list comes from the source tree).
COMPOSE_ALL = """
import json, sys
from ntm_cli.composition import compose, config_dir
from ntm_cli.config import typed_train, validate_train
for overrides in json.loads(sys.argv[1]):
    validate_train(typed_train(compose("train", overrides)))
print(config_dir())
"""


def test_an_installed_wheel_carries_every_config_and_no_top_level_tasks(tmp_path):
    """Build a wheel from a copy of the sources, install it elsewhere, and use it outside the repository."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("ntm_cli", "conf", "tasks"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", src], check=True)
    (wheel,) = (tmp_path / "dist").glob("ntm-*.whl")
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", site, wheel], check=True)
    shutil.rmtree(src)  # nothing may come from the sources any more

    assert sorted(p.name for p in site.iterdir() if not p.name.endswith(".dist-info")) == ["bin", "ntm_cli"]
    env = {**os.environ, "PYTHONPATH": str(site)}
    options = json.dumps(every_option(config_dir()))
    proc = subprocess.run(
        [sys.executable, "-c", COMPOSE_ALL, options], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == site / "ntm_cli" / "conf"
    proc = subprocess.run([sys.executable, "-c", "import tasks"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "No module named 'tasks'" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "ntm_cli", "train", "experiment=graves2014/copy_ff", "--cfg", "job"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "name: feedforward" in proc.stdout and "memory_n: 128" in proc.stdout

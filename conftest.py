"""Which exercise notebooks a pytest run executes.

Each chapter has a learner copy (``course/<ch>/exercises.ipynb``, stubs that
fail their checks until solved) and the solutions it is made from
(``course/<ch>/solutions/exercises.ipynb``).

* A learner grades a chapter by naming it: ``pytest course/01_neurons``. That run
  executes the chapter's lessons and the learner copy, not the solutions.
* Every other run (plain ``pytest``, ``pytest course``) executes the solutions
  and leaves the learner copies to ``tests/test_exercises.py``, which checks
  that each of their checks fails for the right reason.
"""

from pathlib import Path

COURSE = Path(__file__).resolve().parent / "course"


def _chapter_of(path: Path):
    try:
        rel = path.resolve().relative_to(COURSE)
    except ValueError:
        return None
    return rel.parts[0] if rel.parts else None


def _graded_chapters(config) -> set:
    """Chapters named on the command line (a chapter folder or a file in it)."""
    chapters = set()
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0])
        if _chapter_of(path) is not None:
            chapters.add(_chapter_of(path))
    return chapters


def pytest_ignore_collect(collection_path: Path, config):
    if collection_path.suffix != ".ipynb" and collection_path.name != "solutions":
        return None
    chapter = _chapter_of(collection_path)
    if chapter is None:
        return None
    graded = chapter in _graded_chapters(config)
    if collection_path.name == "exercises.ipynb" and collection_path.parent.name == chapter:
        return not graded
    if collection_path.name == "solutions" or collection_path.parent.name == "solutions":
        named = any(Path(config.invocation_params.dir, a.split("::")[0]).resolve() == collection_path.resolve()
                    for a in config.args)
        return graded and not named
    return None

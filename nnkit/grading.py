"""Self-grading for the course's exercises.

A check cell in an ``exercises.ipynb`` calls :func:`check` with a short title, a
test function and a hint. The test compares the learner's code with nnkit's
reference on random inputs and raises ``AssertionError`` when they differ. An
exercise that is not attempted yet still raises ``NotImplementedError`` from its
stub. Either way the check prints a friendly line and raises, so the cell (and
``pytest --nbval`` on the chapter) fails until the exercise is solved.

:func:`grade` runs a chapter's exercises notebook alone (no lessons) and returns
one :class:`CheckResult` per check; :func:`main` (what ``python3 tasks.py grade 05``
runs) prints them as a table::

    #  exercise                        result    hint
    1  delta of softmax cross-entropy  PASS
    2  dense layer backward            NOT DONE  dX = dZ @ W.T, dW = X.T @ dZ, ...

A check cell's title and hint are read from its ``check("title", test, hint=...)``
call; its result from how the cell ended: no error is PASS, ``ExerciseNotDone``
is NOT DONE, any other error (a wrong answer, or the learner's code raising) is
FAIL with the error's first line.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["check", "ExerciseNotDone", "ExerciseFailed", "CheckResult", "grade", "format_table",
           "exercises_notebook"]


class ExerciseNotDone(AssertionError):
    """The exercise still holds its ``NotImplementedError`` stub."""


class ExerciseFailed(AssertionError):
    """The exercise runs but gives a wrong answer (or raises)."""


def check(title: str, test: Callable[[], object], hint: str = "") -> None:
    """Run ``test()``; print a pass line, or a fail line with ``hint`` and raise.

    >>> check("two plus two", lambda: None)
    PASS: two plus two
    """
    try:
        test()
    except NotImplementedError:
        print(f"NOT DONE: {title}\n  Replace the `raise NotImplementedError` with your code.")
        if hint:
            print(f"  Hint: {hint}")
        raise ExerciseNotDone(f"{title}: not attempted yet") from None
    except AssertionError as err:
        print(f"FAIL: {title}\n  {err}")
        if hint:
            print(f"  Hint: {hint}")
        raise ExerciseFailed(f"{title}: {err}") from None
    except Exception as err:
        # The learner's code raised: say so in one line, keep the traceback (chained) to debug with.
        print(f"FAIL: {title}\n  your code raised {type(err).__name__}: {err}")
        if hint:
            print(f"  Hint: {hint}")
        raise ExerciseFailed(f"{title}: your code raised {type(err).__name__}: {err}") from err
    print(f"PASS: {title}")


@dataclass
class CheckResult:
    """The outcome of one check cell: ``status`` is ``"PASS"``, ``"FAIL"`` or ``"NOT DONE"``."""

    number: int
    title: str
    status: str
    hint: str
    detail: str = ""  # for FAIL: the error's first line


def _check_call(source: str) -> tuple[str, str] | None:
    """(title, hint) of the ``check(...)`` call in a cell's source, or None if it has none."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check":
            args = list(node.args) + [None] * 3
            hint_node = next((k.value for k in node.keywords if k.arg == "hint"), args[2])
            title = ast.literal_eval(args[0]) if isinstance(args[0], ast.Constant) else "?"
            hint = ast.literal_eval(hint_node) if isinstance(hint_node, ast.Constant) else ""
            return str(title), str(hint)
    return None


def exercises_notebook(chapter: str, solutions: bool = False, course: str | Path | None = None) -> Path:
    """The exercises notebook of ``chapter``: a number (``"05"``), a folder name or a path.

    ``solutions=True`` gives ``solutions/exercises.ipynb`` instead of the learner copy.
    """
    path = Path(chapter)
    if path.suffix == ".ipynb" and path.exists():
        return path
    if path.is_dir():
        folder = path
    else:
        root = Path(course) if course is not None else Path(__file__).resolve().parent.parent / "course"
        matches = sorted(p for p in root.glob(f"{chapter.zfill(2)}*") if p.is_dir()) if root.is_dir() else []
        if len(matches) != 1:
            names = ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[:2].isdigit())) \
                if root.is_dir() else f"(no folder {root})"
            raise ValueError(f"grade: no single chapter matches {chapter!r}; the chapters are: {names}")
        folder = matches[0]
    notebook = folder / "solutions" / "exercises.ipynb" if solutions else folder / "exercises.ipynb"
    if not notebook.exists():
        raise ValueError(f"grade: {notebook} does not exist")
    return notebook


def grade(notebook: str | Path, timeout: int = 600) -> tuple[list[CheckResult], list[str]]:
    """Execute an exercises notebook (errors allowed) and grade each check cell.

    Returns the check results in order and a list of problems outside the check
    cells (a set-up or exercise cell that raised), each a one-line string.
    """
    try:
        import nbclient
        import nbformat
    except ImportError as err:
        raise ImportError(f"grading needs Jupyter's nbclient ({err}): pip install \"nnkit[course]\"") from None
    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(notebook.parent)}})
    # The kernel's own start-up warnings would land in the middle of the table.
    client.execute(stderr=subprocess.DEVNULL)
    results, problems = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
        call = _check_call(cell.source)
        if call is None:
            for err in errors:
                first = (err["evalue"] or "").strip().splitlines()
                problems.append(f"cell {index + 1} raised {err['ename']}: {first[0] if first else ''}")
            continue
        title, hint = call
        if not errors:
            status, detail = "PASS", ""
        elif errors[0]["ename"] == "ExerciseNotDone":
            status, detail = "NOT DONE", ""
        else:
            status = "FAIL"
            text = errors[0]["evalue"] or ""
            if errors[0]["ename"] == "ExerciseFailed" and text.startswith(f"{title}: "):
                text = text[len(title) + 2:]
            elif errors[0]["ename"] != "ExerciseFailed":
                text = f"{errors[0]['ename']}: {text}"
            # NumPy's assertion messages start with a blank line and run over several: keep the gist.
            detail = " ".join(line.strip() for line in text.splitlines() if line.strip())
        results.append(CheckResult(len(results) + 1, title, status, hint, detail))
    return results, problems


def format_table(results: list[CheckResult], width: int | None = None) -> str:
    """One row per check: number, title, PASS / FAIL / NOT DONE, and the hint (for FAIL also why).

    Long hints wrap under the hint column; ``width`` defaults to the terminal's.
    """
    width = width or shutil.get_terminal_size((100, 24)).columns
    title_w = max([len("exercise")] + [len(r.title) for r in results])
    indent = 2 + 2 + title_w + 2 + 8 + 2
    room = max(30, width - indent)
    head = f"{'#':>2}  {'exercise':<{title_w}}  {'result':<8}  hint"
    lines = [head, "-" * min(width, indent + room)]
    for r in results:
        notes = [] if r.status == "PASS" else [r.hint] if r.hint else []
        if r.status == "FAIL" and r.detail:
            notes.insert(0, f"why: {r.detail}")
        wrapped = [part for note in notes for part in textwrap.wrap(note, room)] or [""]
        lines.append(f"{r.number:>2}  {r.title:<{title_w}}  {r.status:<8}  {wrapped[0]}".rstrip())
        lines.extend(" " * indent + part for part in wrapped[1:])
    done = sum(r.status == "PASS" for r in results)
    lines.append(f"{done} of {len(results)} checks pass")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 tasks.py grade",
                                     description="Run one chapter's exercises notebook and print a table of its checks.")
    parser.add_argument("chapter", help="a chapter number (05), folder name, or an exercises notebook")
    parser.add_argument("--solutions", action="store_true", help="grade solutions/exercises.ipynb instead")
    args = parser.parse_args(argv)
    try:
        notebook = exercises_notebook(args.chapter, solutions=args.solutions)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"Grading {notebook} (the exercises only, not the lessons) ...", flush=True)
    results, problems = grade(notebook)
    print(format_table(results))
    for problem in problems:
        print(f"note: {problem}")
    return 0 if results and all(r.status == "PASS" for r in results) and not problems else 1


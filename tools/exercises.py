"""Make each chapter's learner copy of the exercises from its solutions.

The single source is ``course/<chapter>/solutions/exercises.ipynb``. In it, the
body of every exercise sits between two marker lines::

    def sigmoid(z):
        # BEGIN SOLUTION
        return 1 / (1 + np.exp(-z))
        # END SOLUTION

The learner copy ``course/<chapter>/exercises.ipynb`` is the same notebook with
each marked block replaced by ``raise NotImplementedError`` (same indentation),
with outputs cleared. Cells that show the solutions' own prose (tagged
``solution-only``) are left out.

    python tools/exercises.py           # write every learner copy
    python tools/exercises.py --check   # exit 1 if any learner copy is stale
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "course"
BLOCK = re.compile(r"^([ \t]*)# BEGIN SOLUTION\n.*?^[ \t]*# END SOLUTION\n?", re.M | re.S)


def solution_sources() -> list[Path]:
    return sorted(COURSE.glob("*/solutions/exercises.ipynb"))


def learner_path(solution: Path) -> Path:
    return solution.parent.parent / "exercises.ipynb"


def strip_solution(source: str) -> str:
    """Replace every marked solution block with a stub that raises."""

    def stub(match: re.Match) -> str:
        indent = match.group(1)
        return f'{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError("exercise not attempted yet")\n'

    out = BLOCK.sub(stub, source)
    if "BEGIN SOLUTION" in out or "END SOLUTION" in out:
        raise ValueError(f"unbalanced solution markers in:\n{source}")
    return out


def learner_notebook(solution_nb: dict) -> dict:
    nb = copy.deepcopy(solution_nb)
    cells = []
    for cell in nb["cells"]:
        if "solution-only" in cell.get("metadata", {}).get("tags", []):
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            source = strip_solution(source)
            cell["outputs"] = []
            cell["execution_count"] = None
        cell["source"] = source
        cells.append(cell)
    nb["cells"] = cells
    return nb


def render(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale learner copies")
    args = parser.parse_args(argv)
    stale = []
    for solution in solution_sources():
        text = render(learner_notebook(json.loads(solution.read_text(encoding="utf-8"))))
        target = learner_path(solution)
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(target)
        if not args.check:
            target.write_text(text, encoding="utf-8")
    for path in stale:
        print(("stale: " if args.check else "wrote: ") + str(path.relative_to(ROOT)))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Self-grading for the course's exercises.

A check cell in an ``exercises.ipynb`` calls :func:`check` with a short title, a
test function and a hint. The test compares the learner's code with nnkit's
reference on random inputs and raises ``AssertionError`` when they differ. An
exercise that is not attempted yet still raises ``NotImplementedError`` from its
stub. Either way the check prints a friendly line and raises, so the cell (and
``pytest --nbval`` on the chapter) fails until the exercise is solved.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["check", "ExerciseNotDone", "ExerciseFailed"]


class ExerciseNotDone(AssertionError):
    """The exercise still holds its ``NotImplementedError`` stub."""


class ExerciseFailed(AssertionError):
    """The exercise runs but gives a wrong answer."""


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
    print(f"PASS: {title}")

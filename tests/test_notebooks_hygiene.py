"""Lessons stay true: they use only nnkit's public names, and assert nothing about wall-clock time.

A private name (``ops._sum_to``, ``t._xp``) may change or vanish with any refactoring, and a lesson
built on it breaks or, worse, silently teaches what is no longer so. A timed assert (``speedup >=
10``) fails on a busy machine for no fault of the code: timings are shown, and speed is measured in
``benchmarks/``. Both rules are checked statically, on every code cell of every notebook.
"""

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NNKIT = ROOT / "nnkit"
TIMERS = {"perf_counter", "perf_counter_ns", "time", "time_ns", "monotonic", "monotonic_ns", "process_time",
          "timeit", "repeat", "default_timer"}  # as time.X() or timeit.X()
BARE_TIMERS = {"perf_counter", "perf_counter_ns", "monotonic", "process_time", "default_timer"}  # from-imported


def notebooks():
    return sorted(p for p in (ROOT / "course").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def code_of(path: Path) -> str:
    """The notebook's code cells, in order, with IPython magics and shell lines left out."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    return "\n\n".join(re.sub(r"^\s*[%!].*$", "", cell, flags=re.M) for cell in cells)


def nnkit_private_names() -> set:
    """Every single-underscore name nnkit defines: functions, classes, attributes, slots."""
    names = set()
    for source in NNKIT.rglob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                names.add(node.value)  # __slots__ entries
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str, library_private: set) -> list[str]:
    """Private names of nnkit objects that a piece of code touches."""
    tree = ast.parse(source)
    aliases, own = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update((a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] == "nnkit")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "nnkit":
            aliases.update(a.asname or a.name for a in node.names)
        # Names the notebook defines itself (its own Value._backward, TinyModule._params) are its own.
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            own.add(node.name)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "nnkit":
            found += [f"from {node.module} import {a.name}" for a in node.names if _is_private(a.name)]
            found += [f"from {node.module} import ..." for part in node.module.split(".") if _is_private(part)]
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            root = node.value
            while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
                root = root.func if isinstance(root, ast.Call) else root.value
            on_nnkit = isinstance(root, ast.Name) and root.id in aliases
            if on_nnkit or (node.attr in library_private and node.attr not in own):
                found.append(ast.unparse(node))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr")
              and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str) and _is_private(node.args[1].value)):
            found.append(ast.unparse(node))
    return found


def timed_asserts(source: str) -> list[str]:
    """Assert statements whose condition depends on a wall-clock measurement."""
    tree = ast.parse(source)

    def calls_timer(node) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                f = sub.func
                if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in ("time", "timeit"):
                    if f.attr in TIMERS:
                        return True
                elif isinstance(f, ast.Name) and (f.id in BARE_TIMERS or f.id in timing_functions):
                    return True
        return False

    def names_in(node) -> set:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}

    def targets_of(node) -> set:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}

    # A function that reads the clock and returns something is a timer too (best_time(fn, repeats)).
    timing_functions: set = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(isinstance(s, ast.Return) and s.value is not None
                                                     for s in ast.walk(node)):
            timing_functions.add(node.name) if calls_timer(node) else None
    # Taint, in source order: names computed from a clock reading, followed through assignments,
    # loops and appends; a name assigned something else afterwards is clean again.
    tainted: set = set()
    tainted_keys: set = set()

    def is_tainted(node) -> bool:
        return calls_timer(node) or bool(names_in(node) & tainted) or any(
            isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant) and n.slice.value in tainted_keys
            for n in ast.walk(node))

    def timing_keys(record: ast.Dict) -> set:
        keys = set()
        for k, v in zip(record.keys, record.values):
            if isinstance(v, ast.Dict):
                keys |= timing_keys(v)
            elif isinstance(k, ast.Constant) and is_tainted(v):
                keys.add(k.value)
        return keys

    found = []
    steps = [n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For,
                                                         ast.Call, ast.Assert))]
    for node in sorted(steps, key=lambda n: (n.lineno, n.col_offset)):
        if isinstance(node, ast.Assert):
            if is_tainted(node.test):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.For):
            names = targets_of(node.target)
            tainted = tainted | names if is_tainted(node.iter) else tainted - names
        elif isinstance(node, ast.Call):
            if (isinstance(node.func, ast.Attribute) and node.func.attr in ("append", "extend", "update", "setdefault")
                    and isinstance(node.func.value, ast.Name) and any(is_tainted(a) for a in node.args)):
                tainted.add(node.func.value.id)
        elif node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if isinstance(node.value, ast.Dict):
                # A record with a timing among other fields: only that field's key is a timing.
                tainted_keys.update(timing_keys(node.value))
            elif is_tainted(node.value) or (isinstance(node, ast.AugAssign) and names_in(node.target) & tainted):
                for t in targets:
                    tainted |= targets_of(t) | ({t.value.id} if isinstance(t, ast.Subscript)
                                                and isinstance(t.value, ast.Name) else set())
            else:
                for t in targets:
                    tainted -= targets_of(t)
    return found


LIBRARY_PRIVATE = nnkit_private_names()


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: str(p.relative_to(ROOT / "course")))
def test_notebook_uses_only_public_names(path):
    uses = private_uses(code_of(path), LIBRARY_PRIVATE)
    assert not uses, f"{path.name} touches private nnkit names (make them public, or show the code): {uses}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: str(p.relative_to(ROOT / "course")))
def test_notebook_asserts_nothing_about_wall_clock_time(path):
    asserts = timed_asserts(code_of(path))
    assert not asserts, f"{path.name} asserts on timings (show them; measure speed in benchmarks/): {asserts}"


# The checks themselves, on the kinds of code they must catch and must let pass.
@pytest.mark.parametrize("source", [
    "import nnkit\nprint(inspect.getsource(nnkit.ops._make))",
    "import nnkit\nx = nnkit.ops._sum_to(nnkit.tensor(g), (3, 1))",
    "from nnkit.nn import recurrent\nprint(recurrent._rnn_scan)",
    "from nnkit import nn\nf = nn.TransformerEncoderLayer._sa_block",
    "from nnkit.ops import _sum_to",
    "import nnkit\nt = nnkit.ones(2)\nprint(t._xp.__name__)",
    "import nnkit as nk\ngetattr(nk.autograd, '_run')",
])
def test_private_uses_are_caught(source):
    assert private_uses(source, LIBRARY_PRIVATE)


@pytest.mark.parametrize("source", [
    "class Value:\n    def __init__(self):\n        self._backward = lambda: None\nv = Value()\nv._backward()",
    "import nnkit\nprint(nnkit.__version__, nnkit.tensor([1.0]).shape)",
    "class TinyModule:\n    def __init__(self):\n        self._params = {}\nTinyModule()._params",
])
def test_own_and_dunder_names_pass(source):
    assert not private_uses(source, LIBRARY_PRIVATE)


@pytest.mark.parametrize("source", [
    "start = time.perf_counter()\nf()\nt = time.perf_counter() - start\nassert t < 10",
    "t0 = time.time()\nf()\nelapsed = time.time() - t0\nratio = elapsed / 2\nassert ratio > 10 * other",
    "def best_time(fn):\n    s = time.perf_counter()\n    fn()\n    return time.perf_counter() - s\n"
    "timings = {'a': best_time(f)}\nspeedup = timings['a'] / 2\nassert speedup >= 10",
    "runs = {}\nfor k in ks:\n    s = time.perf_counter()\n    runs[k] = {'acc': 1.0, 'seconds': time.perf_counter() - s}\n"
    "assert runs['a']['seconds'] < 1",
    "seconds = []\nfor n in sizes:\n    s = time.perf_counter()\n    seconds.append(time.perf_counter() - s)\n"
    "slope = np.polyfit(np.log(sizes), np.log(seconds), 1)[0]\nassert slope > 1.5",
])
def test_timed_asserts_are_caught(source):
    assert timed_asserts(source)


def test_untimed_asserts_pass():
    source = ("start = time.perf_counter()\nacc = train()\nseconds = time.perf_counter() - start\n"
              "print(seconds)\nassert acc > 0.9\nruns = {'a': {'acc': acc, 'seconds': seconds}}\nassert runs['a']['acc'] > 0.9\nflops = [2 * n * n for n in sizes]\nassert flops[1] == 4 * flops[0]")
    assert not timed_asserts(source)

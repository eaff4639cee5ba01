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
    """Assert statements whose condition depends on a wall-clock measurement.

    A taint analysis in source order: a clock reading taints what is computed from it, through
    assignments, loops, appends and functions that return it; a name assigned something else is
    clean again. Records keep their fields apart: in ``{"acc": a, "seconds": t}`` or a function
    returning ``(peak, seconds, grads)``, only the timing field is tainted, so asserting on the
    accuracy or the memory of a timed run is allowed.
    """
    tree = ast.parse(source)
    tainted: set = set()                 # names holding a timing
    fields: dict = {}                    # record name -> its timing keys or tuple positions
    returns_timing: set = set()          # functions returning a timing
    returns_fields: dict = {}            # functions returning a tuple with timings at these positions
    function_of = {ret: fn.name for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)
                   for ret in ast.walk(fn) if isinstance(ret, ast.Return)}

    def is_timer_call(node) -> bool:
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in ("time", "timeit"):
            return f.attr in TIMERS
        return isinstance(f, ast.Name) and (f.id in BARE_TIMERS or f.id in returns_timing)

    def root_name(node):
        while isinstance(node, ast.Subscript):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    def tainted_expr(node) -> bool:
        if isinstance(node, ast.Call) and is_timer_call(node):
            return True
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and root_name(node) in fields:
            return node.slice.value in fields[root_name(node)]     # one field of a record
        if isinstance(node, ast.Name):
            return node.id in tainted
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            for gen in node.generators:
                if not bind_record_items(gen.target, gen.iter) and tainted_expr(gen.iter):
                    return True
            parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            return any(tainted_expr(part) for part in parts)
        return any(tainted_expr(child) for child in ast.iter_child_nodes(node))

    def bind_record_items(target, iterable) -> bool:
        """Looping over a record collection (``R``, ``R.values()``, ``R.items()``): the loop variable
        is one record and keeps its fields apart. Returns whether ``iterable`` was such a loop."""
        items = (isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute)
                 and iterable.func.attr in ("items", "values"))
        base = iterable.func.value if items else iterable
        name = root_name(base)
        if name not in fields:
            return False
        if items and iterable.func.attr == "items" and isinstance(target, ast.Tuple) and len(target.elts) == 2:
            target = target.elts[1]
        if isinstance(target, ast.Name):
            fields[target.id] = fields[name]
        elif isinstance(target, ast.Tuple):
            tainted.update(n.id for i, n in enumerate(target.elts) if isinstance(n, ast.Name) and i in fields[name])
        return True

    def record_fields(value):
        """The timing fields of a record built by ``value``, or None if it is not a record."""
        if isinstance(value, ast.Dict):
            keys = set()
            for k, v in zip(value.keys, value.values):
                sub = record_fields(v)
                keys |= sub if sub is not None else ({k.value} if isinstance(k, ast.Constant) and tainted_expr(v)
                                                     else set())
            return keys
        if isinstance(value, (ast.DictComp, ast.ListComp)):
            return record_fields(value.value if isinstance(value, ast.DictComp) else value.elt)
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in returns_fields:
            return returns_fields[value.func.id]
        return None

    def targets_of(node) -> set:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}

    found = []
    steps = [n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For,
                                                         ast.Call, ast.Assert, ast.Return))]
    for node in sorted(steps, key=lambda n: (n.lineno, n.col_offset)):
        if isinstance(node, ast.Assert):
            if tainted_expr(node.test):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.Return):
            if node.value is not None and node in function_of:
                if isinstance(node.value, ast.Tuple):
                    positions = {i for i, e in enumerate(node.value.elts) if tainted_expr(e)}
                    if positions:
                        returns_fields[function_of[node]] = positions
                elif tainted_expr(node.value):
                    returns_timing.add(function_of[node])
        elif isinstance(node, ast.For):
            names = targets_of(node.target)
            if not bind_record_items(node.target, node.iter):
                tainted = tainted | names if tainted_expr(node.iter) else tainted - names
        elif isinstance(node, ast.Call):
            if (isinstance(node.func, ast.Attribute) and node.func.attr in ("append", "extend", "update", "setdefault")
                    and isinstance(node.func.value, ast.Name) and any(tainted_expr(a) for a in node.args)):
                tainted.add(node.func.value.id)
        elif node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            record = record_fields(node.value)
            for t in targets:
                name = root_name(t)
                if record is not None and isinstance(t, ast.Tuple):      # unpacked: the timing positions
                    for i, elt in enumerate(t.elts):
                        (tainted.update if i in record else tainted.difference_update)(targets_of(elt))
                elif record is not None and name is not None:
                    if record:
                        fields[name] = fields.get(name, set()) | record if isinstance(t, ast.Subscript) else record
                    elif isinstance(t, ast.Name):
                        fields.pop(name, None)
                        tainted.discard(name)
                elif tainted_expr(node.value) or (isinstance(node, ast.AugAssign) and tainted_expr(node.target)):
                    tainted |= targets_of(t) | ({name} if isinstance(t, ast.Subscript) and name else set())
                elif isinstance(t, ast.Name) or isinstance(t, ast.Tuple):
                    for clean in targets_of(t):
                        tainted.discard(clean)
                        fields.pop(clean, None)
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


def test_records_keep_their_timing_field_apart():
    source = ("def measure(k):\n    s = time.perf_counter()\n    peak = run(k)\n    seconds = time.perf_counter() - s\n"
              "    return peak, seconds\n"
              "results = {k: measure(k) for k in (0, 1)}\nassert results[1][0] < 0.5 * results[0][0]\n"
              "assert results[1][1] < results[0][1]\nr = measure(2)\nassert r[0] > 0\n"
              "for k, (peak, seconds) in results.items():\n    assert peak > 0\n    assert seconds < 1\n"
              "best = {k: rec[0] for k, rec in results.items()}\nassert best[0] > best[1]\n"
              "slow = [rec[1] for rec in results.values()]\nassert slow[0] > 0\n"
              "mem, t = measure(3)\nassert mem > 0\nassert t < 2")
    assert timed_asserts(source) == ["assert results[1][1] < results[0][1]", "assert seconds < 1",
                                     "assert slow[0] > 0", "assert t < 2"]


def test_untimed_asserts_pass():
    source = ("start = time.perf_counter()\nacc = train()\nseconds = time.perf_counter() - start\n"
              "print(seconds)\nassert acc > 0.9\nruns = {'a': {'acc': acc, 'seconds': seconds}}\nassert runs['a']['acc'] > 0.9\nflops = [2 * n * n for n in sizes]\nassert flops[1] == 4 * flops[0]")
    assert not timed_asserts(source)

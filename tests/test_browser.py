"""Chapter 01's lesson, run the way a learner runs it: in JupyterLab, in a real browser.

nbval proves that the lesson's code runs in a kernel. It cannot see the front end:
that JupyterLab's own "Run All Cells" gets through the lesson, and that the neuron
explorer renders as a live ipywidgets slider that redraws its plot, rather than as
the text ``interactive(children=(FloatSlider(...`` that a learner gets when the
widget front end is missing or broken.

Needs Chromium (Debian: ``apt-get install chromium``) and the ``playwright``
package, and is skipped without them. Playwright's own browser download is not
used.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

COURSE = Path(__file__).resolve().parents[1] / "course"
NOTEBOOK = "01_neurons/01_neurons.ipynb"

# From starting JupyterLab to the last check; shutting down comes on top.
BUDGET_S = 110

# How long ipywidgets gets to draw the explorer, or to redraw it after its
# slider moves; it normally needs well under a second.
WIDGET_WAIT_S = 20

# An Output widget draws a traceback a little after the kernel reports idle
# (up to about 0.1 s here), so tracebacks are looked for only after this pause.
RENDER_LAG_MS = 2000

# Playwright adds --headless (headless=True) and a fresh --user-data-dir itself.
# Without the background-networking flags Chromium keeps calling Google's
# services, which floods a closed network and slows everything down.
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# User settings of the throwaway JupyterLab, written before it starts.
USER_SETTINGS = {
    # The "official Jupyter news" prompt covers the notebook and fetches from the web.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # JupyterLab marks the notebook as changed as soon as it opens it; autosave
    # would then write the executed lesson back into the repository.
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    # Keep every cell in the page, so that the checks see cells scrolled out of view.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

# The notebook's own model (JupyterLab exposes it with expose_app_in_browser) tells
# exactly which cells ran and which raised; the page alone cannot tell an error
# from other stderr output, or an empty cell from one that never ran.
NOTEBOOK_STATE_JS = """(path) => {
    const panel = Array.from(window.jupyterapp?.shell.widgets('main') ?? [])
        .find(widget => widget.context?.path === path);
    if (!panel || !panel.context.isReady) return null;
    const kernel = panel.sessionContext.session?.kernel;
    return {
        kernel: kernel ? `${kernel.connectionStatus}/${kernel.status}` : 'none',
        cells: panel.content.widgets.map(cell => ({
            type: cell.model.type,
            source: cell.model.sharedModel.getSource(),
            running: cell.model.executionState === 'running',
            count: cell.model.executionCount ?? null,
            errors: (cell.model.type === 'code' ? cell.model.outputs.toJSON() : [])
                .filter(output => output.output_type === 'error')
                .map(output => output.traceback.join('\\n')),
        })),
    };
}"""

# Errors inside a widget's own output (the explorer's callback raising, say) are
# in no cell's outputs in the model, only on the page.
RENDERED_TRACEBACKS_JS = """(root) => Array.from(root.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
    .map(output => output.innerText)
    .filter(text => text.includes('Traceback'))"""

# What a widget looks like when the browser side of ipywidgets is not working.
WIDGET_AS_TEXT = re.compile(r"\w+\(children=\(|\w*Slider\(value=")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class LessonFailure(Exception):
    """Something a learner would see go wrong; the message says what."""


class Deadline:
    def __init__(self, seconds):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def expired(self):
        return time.monotonic() >= self._end

    def ms(self):
        """What is left, for Playwright, which reads a timeout of 0 as "wait forever"."""
        return max(1.0, (self._end - time.monotonic()) * 1000)


def _find_chromium():
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path, chars=4000):
    return path.read_text(errors="replace")[-chars:]


@contextmanager
def _jupyterlab(tmp, deadline):
    """Start JupyterLab on course/ in isolation; yield its URL, token and log file."""
    settings_dir = tmp / "user-settings"
    for plugin, values in USER_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    token = secrets.token_hex(24)
    # The learner's own Jupyter and IPython configuration, kernels and
    # extensions stay out; the environment's (under sys.prefix) still count.
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        JUPYTER_TOKEN=token,  # not on the command line, where other users could read it
    )
    env.pop("MPLBACKEND", None)  # would replace the inline backend and hide the plots
    port = _free_port()
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # fail rather than quietly serve elsewhere
        f"--ServerApp.root_dir={COURSE}",
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        # An absolute path, so that opening a notebook leaves no
        # .ipynb_checkpoints folder behind in the course.
        f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",
        "--LabApp.extension_manager=readonly",  # the default one queries PyPI
        "--LabApp.expose_app_in_browser=True",
    ]
    log_path = tmp / "jupyterlab.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_answering(server, url, token, log_path, deadline)
        yield url, token, log_path
    finally:
        # SIGTERM lets JupyterLab shut its kernels down before it exits.
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_answering(server, url, token, log_path, deadline):
    # A proxy from the environment must not get between us and loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
    while True:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {server.returncode} before answering; "
                        f"its log:\n{_tail(log_path)}", pytrace=False)
        try:
            with opener.open(request, timeout=2):
                return
        except OSError:  # not listening yet (urllib's errors are OSErrors)
            pass
        if deadline.expired():
            pytest.fail(f"JupyterLab did not answer on {url} within {deadline.seconds} s; "
                        f"its log:\n{_tail(log_path)}", pytrace=False)
        time.sleep(0.25)


def _handle_dialog(page):
    """Accept the kernel choice JupyterLab may ask for; fail on any other dialog."""
    dialog = page.locator(".jp-Dialog").first
    if not dialog.count():
        return
    if dialog.locator(".jp-Dialog-header").inner_text().strip() == "Select Kernel":
        # The preselected kernel is the environment's own Python.
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        return
    raise LessonFailure(f"JupyterLab showed a dialog:\n{dialog.inner_text()}")


def _cell_name(cells, index):
    lines = cells[index]["source"].strip().splitlines() or ["(empty)"]
    return f"cell {index + 1} ({lines[0][:60]})"


def _open_notebook(page, url, token, deadline):
    page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}", timeout=deadline.ms())
    while True:
        _handle_dialog(page)
        state = page.evaluate(NOTEBOOK_STATE_JS, NOTEBOOK)
        kernel = state["kernel"] if state else "not open yet"
        if kernel == "connected/idle":
            return
        if kernel.endswith("/dead"):
            raise LessonFailure("the kernel died on start; see the JupyterLab log")
        if deadline.expired():
            raise LessonFailure(f"the notebook's kernel was not ready within {deadline.seconds} s "
                                f"(kernel: {kernel})")
        page.wait_for_timeout(250)


def _run_all_cells(page, deadline):
    """Run the lesson from JupyterLab's menus; return the cells' final state."""
    # Cleared first, so that execution counts saved in the file cannot pass for a run.
    page.get_by_role("menuitem", name="Edit", exact=True).click()
    page.get_by_role("menuitem", name="Clear Outputs of All Cells", exact=True).click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    while True:
        _handle_dialog(page)
        state = page.evaluate(NOTEBOOK_STATE_JS, NOTEBOOK)
        cells = state["cells"]
        code = [cell for cell in cells if cell["type"] == "code" and cell["source"].strip()]
        # After an error JupyterLab drops the rest of the queue, so a failed run
        # finishes with cells that have no execution count.
        finished = (state["kernel"] == "connected/idle"
                    and not any(cell["running"] for cell in code)
                    and (any(cell["errors"] for cell in code)
                         or all(cell["count"] is not None for cell in code)))
        if finished:
            return cells
        if deadline.expired():
            running = [_cell_name(cells, i) for i, cell in enumerate(cells) if cell["running"]]
            raise LessonFailure(f"Run All Cells did not finish within {deadline.seconds} s "
                                f"(kernel: {state['kernel']}; still queued or running: "
                                f"{', '.join(running) or 'none'})")
        page.wait_for_timeout(250)


def _assert_ran_cleanly(cells):
    failures = [f"{_cell_name(cells, i)}:\n{ANSI.sub('', error)}"
                for i, cell in enumerate(cells) for error in cell["errors"]]
    if failures:
        raise LessonFailure("the lesson raised under Run All Cells:\n\n" + "\n\n".join(failures))
    not_run = [_cell_name(cells, i) for i, cell in enumerate(cells)
               if cell["type"] == "code" and cell["source"].strip() and cell["count"] is None]
    if not_run:
        raise LessonFailure("Run All Cells left cells unexecuted: " + ", ".join(not_run))


def _rendered_tracebacks(page, cells):
    return [f"{_cell_name(cells, i)}:\n{text}"
            for i, node in enumerate(page.locator(".jp-Notebook .jp-Cell").all())
            for text in node.evaluate(RENDERED_TRACEBACKS_JS)]


def _find_explorer(page, cells, deadline):
    """The first cell that shows a slider and a plot, once ipywidgets has drawn it."""
    explorer = (page.locator(".jp-Notebook .jp-CodeCell")
                .filter(has=page.locator(".widget-slider .noUi-handle"))
                .filter(has=page.locator(".jp-OutputArea-output img"))
                .first)
    patience = Deadline(WIDGET_WAIT_S)
    while not explorer.count():
        as_text = [text[:300] for text in page.locator(
            '.jp-OutputArea-output[data-mime-type="text/plain"]').all_inner_texts()
            if WIDGET_AS_TEXT.search(text)]
        if as_text:
            raise LessonFailure("widgets rendered as plain text, so the browser side of ipywidgets "
                                "is not working:\n" + "\n".join(as_text))
        if patience.expired() or deadline.expired():
            tracebacks = "".join(f"\n{report}" for report in _rendered_tracebacks(page, cells))
            raise LessonFailure(f"no cell shows an ipywidgets slider together with a plot{tracebacks}")
        page.wait_for_timeout(100)
    return explorer


def _image_sources(cell):
    return cell.evaluate("cell => Array.from(cell.querySelectorAll('img'), img => img.src).join('\\n')")


def _fail_on_tracebacks(explorer):
    tracebacks = explorer.evaluate(RENDERED_TRACEBACKS_JS)
    if tracebacks:
        raise LessonFailure("the explorer raised after its slider moved:\n" + "\n\n".join(tracebacks))


def _assert_live_explorer(page, cells, deadline):
    """The slider is a working widget: moving it with the keyboard redraws the plot."""
    explorer = _find_explorer(page, cells, deadline)
    page.wait_for_timeout(RENDER_LAG_MS)
    tracebacks = _rendered_tracebacks(page, cells)
    if tracebacks:
        raise LessonFailure("the page shows tracebacks:\n\n" + "\n\n".join(tracebacks))
    handle = explorer.locator(".widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    if not handle.is_visible():
        raise LessonFailure("the explorer's slider handle is not visible")
    value_before = handle.get_attribute("aria-valuenow")
    images_before = _image_sources(explorer)
    handle.press("ArrowRight")
    patience = Deadline(WIDGET_WAIT_S)
    while not (_image_sources(explorer) not in ("", images_before)
               and page.evaluate(NOTEBOOK_STATE_JS, NOTEBOOK)["kernel"] == "connected/idle"):
        _fail_on_tracebacks(explorer)
        if patience.expired() or deadline.expired():
            raise LessonFailure(f"moving the explorer's slider (value {value_before} -> "
                                f"{handle.get_attribute('aria-valuenow')}) did not redraw its plot "
                                f"within {patience.seconds} s")
        page.wait_for_timeout(100)
    page.wait_for_timeout(RENDER_LAG_MS)
    _fail_on_tracebacks(explorer)


@contextmanager
def _browser_page(sync_api, executable, deadline):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=CHROMIUM_ARGS, timeout=deadline.ms())
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            # No single click or lookup may eat the whole budget unnoticed.
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


@pytest.mark.browser
def test_lesson_runs_in_jupyterlab_with_a_live_explorer(tmp_path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)")
    chromium = _find_chromium()
    if chromium is None:
        pytest.skip("Chromium not found at /usr/bin/chromium or on PATH "
                    "(Debian and Ubuntu: apt-get install chromium)")
    if not (COURSE / NOTEBOOK).is_file():
        pytest.fail(f"course/{NOTEBOOK} is missing")
    deadline = Deadline(BUDGET_S)
    with _jupyterlab(tmp_path, deadline) as (url, token, log_path), \
            _browser_page(sync_api, chromium, deadline) as page:
        console_errors = []

        def keep_errors(message):
            if message.type == "error":
                console_errors.append(message.text)

        page.on("console", keep_errors)
        try:
            _open_notebook(page, url, token, deadline)
            cells = _run_all_cells(page, deadline)
            _assert_ran_cleanly(cells)
            _assert_live_explorer(page, cells, deadline)
            return
        except (LessonFailure, sync_api.Error) as exc:
            # Reported below, outside this block, so that the report is not
            # buried under a chained traceback that repeats it.
            failure = exc
        screenshot = tmp_path / "failure.png"
        try:
            page.screenshot(path=screenshot, timeout=10_000)
        except sync_api.Error as shot_error:
            screenshot = f"none ({shot_error})"
        console = "\n".join(list(dict.fromkeys(console_errors))[-10:]) or "none"
        pytest.fail(f"{failure}\n\nscreenshot: {screenshot}\nJupyterLab log: {log_path}\n"
                    f"browser console errors:\n{console}", pytrace=False)

"""A JupyterLab server on a copy of the course, and an offline Chromium, for browser tests.

Used by ``test_browser_slides.py`` and ``test_browser_widgets.py`` (the offline browser
also by ``test_site.py``). The server runs on 127.0.0.1 with its own HOME, settings,
runtime and workspace folders in a temporary directory (nothing of the user's Jupyter
set-up is read or written); the browser context aborts and records every request to
another host.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_jupyter_dirs(work: Path) -> dict[str, str]:
    """Environment variables that send every file Jupyter writes into ``work``."""
    dirs = {
        "HOME": "_home",
        "JUPYTER_CONFIG_DIR": "_config",
        "JUPYTER_DATA_DIR": "_data",
        "JUPYTER_RUNTIME_DIR": "_runtime",
        "JUPYTERLAB_SETTINGS_DIR": "_settings",
        "JUPYTERLAB_WORKSPACES_DIR": "_workspaces",
        "IPYTHONDIR": "_ipython",
        "MPLCONFIGDIR": "_mpl",
    }
    for sub in dirs.values():
        (work / sub).mkdir(exist_ok=True)
    return {name: str(work / sub) for name, sub in dirs.items()}


@contextlib.contextmanager
def jupyter_lab(work: Path, notebooks: list[str]) -> Iterator[str]:
    """Serve a copy of ``notebooks`` (files or folders relative to the course root) from
    ``work``, with every Jupyter directory (and HOME) private to ``work``.

    Yields the server's base URL; the server is always stopped.
    """
    for rel in notebooks:
        src, dst = ROOT / rel, work / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    settings = work / "_settings" / "@jupyterlab"
    for ext, name, value in [
        ("notebook-extension", "tracker", {"windowingMode": "none"}),
        ("apputils-extension", "notification", {"fetchNews": "false"}),
    ]:
        (settings / ext).mkdir(parents=True, exist_ok=True)
        (settings / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
    env = dict(
        os.environ,
        COURSE_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        **private_jupyter_dirs(work),
    )
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        "--LabApp.expose_app_in_browser=True",
        f"--ServerApp.root_dir={work}",
        "--allow-root",
    ]
    log = open(work / "server.log", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(
                        "JupyterLab did not start:\n" + (work / "server.log").read_text()[-3000:]
                    ) from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def offline_browser(
    sync_api,
    viewport: tuple[int, int] = (1400, 950),
    args: list[str] | None = None,
) -> Iterator[tuple[object, list[str]]]:
    """A Chromium context whose requests to any host but this machine are aborted.

    Args:
        sync_api: ``playwright.sync_api``.
        viewport: the page size in CSS pixels, ``(width, height)``.
        args: Chromium's command-line flags (default ``CHROMIUM_ARGS``).

    Yields ``(context, left)`` where ``left`` lists every request that tried to leave.
    """
    left: list[str] = []

    def route(r):
        host = urllib.parse.urlsplit(r.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            left.append(r.request.url)
            r.abort()

    with sync_api.sync_playwright() as p:
        flags = CHROMIUM_ARGS if args is None else args
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        try:
            ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            ctx.route("**/*", route)
            yield ctx, left
        finally:
            browser.close()


def shot(page, folder: Path, name: str) -> Path:
    """Save a screenshot ``folder/name.png`` and print its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path

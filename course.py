#!/usr/bin/env python3
"""One entry point for students, instructors and CI (standard library only).

Students:
    python3 course.py lab        set up (once) and open the course in JupyterLab
    python3 course.py test       set up (once, with the test tools) and run every test

Instructors and authors:
    python3 course.py build NN_topic | --all  [--only lecture|solution]
                                 sync text sources, execute, re-release (course_utils.authoring)
    python3 course.py workspace  create/refresh the student workspace my_work/ (lab does it)
    python3 course.py site [--solutions]
                                 build the course website into build/site (course_utils.site)
    python3 course.py edition OUT_DIR [--force]
                                 write the student edition (no solutions, hidden tests or
                                 instructor cells) into OUT_DIR, outside this repository

Options for lab and test (anywhere after the command; everything else is passed on to
JupyterLab or pytest, e.g. ``course.py lab --port 8890``, ``course.py test -k ode``):
    --gpu           install PyTorch's CUDA build instead of the CPU build (remembered;
                    --cpu switches back)
    --current-env   use the Python environment that runs this script (a conda
                    environment, say) instead of creating .venv/

The first run creates ``.venv/`` and installs the course package into it: on Linux the
CPU-only PyTorch wheel from PyTorch's CPU index (falling back to the configured pip index
when that index cannot be reached), on macOS and Windows PyTorch from PyPI (CPU builds
there). ``lab`` installs what JupyterLab needs; ``test`` adds the test tools. Nothing is
reinstalled until ``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP_NAME = ".course-install.json"
FIRST_NOTEBOOK = "notebooks/00_start_here.ipynb"
WORKSPACE = "my_work"
WORKSPACE_MANIFEST = ".course-copies.json"
# PyTorch's own wheel indexes: CPU-only builds (Linux), CUDA builds (Windows --gpu).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu126"
PROBE_TIMEOUT_S = 5.0
# Two pytest workers; pyproject's `--dist loadfile` keeps each notebook's cells on one
# worker (one kernel, in order).
PYTEST_ARGS = ["-n", "2"]
# JupyterLab options of the course: serve the whole course, no news or update checks
# (the pop-up asking to fetch Jupyter news; the course needs no network).
LAB_OPTIONS = [
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
]
# JupyterLab's own "get notified about Jupyter news?" toast is decided by this setting
# (news_url=None only stops the server fetching): default it to "no" for the course,
# in a namespaced overrides file of the environment (the user's settings still win).
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}
}
LAB_OVERRIDES_FILE = "share/jupyter/lab/settings/overrides.d/flows-course.json"
# Seconds JupyterLab gets to shut down (kernels included) after a forwarded signal.
STOP_GRACE_S = 20.0


def _say(msg: str) -> None:
    print(f"[course] {msg}", flush=True)


def _venv_python(venv: Path = VENV) -> Path:
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return venv / sub


# --------------------------------------------------------------------------- install


def torch_requirement(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The torch requirement of ``pyproject.toml`` (e.g. ``"torch>=2.2,<2.14"``).

    Raises:
        SystemExit: if pyproject.toml lists no torch dependency.
    """
    text = pyproject.read_text(encoding="utf-8")
    m = re.search(r"""["'](torch\s*[<>=!~][^"']*)["']""", text)
    if m is None:
        sys.exit(f"error: {pyproject} lists no torch requirement")
    return m.group(1).replace(" ", "")


def index_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``url`` answers within ``timeout`` seconds (any HTTP status counts)."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout)
    except urllib.error.HTTPError:
        return True  # the server answered
    except (OSError, ValueError):
        return False
    return True


def torch_index(platform: str, variant: str) -> str | None:
    """The PyTorch index to take torch from, or None for the configured pip index.

    Args:
        platform: ``sys.platform`` of the machine that installs (``linux``, ``darwin``,
            ``win32``).
        variant: ``"cpu"`` or ``"gpu"``.

    PyPI's Linux wheels are CUDA builds (about 900 MB plus several GB of CUDA libraries);
    its macOS and Windows wheels are CPU-only. So the CPU build needs PyTorch's CPU index
    on Linux only, and a GPU build needs PyTorch's CUDA index on Windows only.
    """
    if variant not in ("cpu", "gpu"):
        raise ValueError(f"variant must be 'cpu' or 'gpu', got {variant!r}")
    if platform.startswith("linux"):
        return TORCH_CPU_INDEX if variant == "cpu" else None
    if platform.startswith("win") and variant == "gpu":
        return TORCH_CUDA_INDEX
    return None


def torch_install_command(py: str | Path, index: str, requirement: str) -> list[str]:
    """The pip command that installs torch alone from ``index`` (PyTorch's documented
    ``pip install torch --index-url ...``); the configured index is not consulted."""
    return [str(py), "-m", "pip", "install", "--index-url", index, requirement]


def package_install_command(py: str | Path, root: Path, extras: Sequence[str]) -> list[str]:
    """The pip command that installs the course package (editable) with ``extras``."""
    target = f"{root}[{','.join(sorted(extras))}]" if extras else str(root)
    return [str(py), "-m", "pip", "install", "-e", target]


def _fingerprint(root: Path = ROOT) -> str:
    return hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()


def _read_stamp(venv: Path) -> dict:
    try:
        stamp = json.loads((venv / STAMP_NAME).read_text())
        return stamp if isinstance(stamp, dict) else {}
    except (OSError, ValueError):
        return {}


def needs_install(stamp: dict, fingerprint: str, extras: Sequence[str], variant: str) -> bool:
    """Whether an install is due: pyproject changed, an extra is missing or the torch
    build differs. An install with more extras serves a command that needs fewer, so
    ``lab`` (no extras) after ``test`` (test tools) installs nothing, and vice versa
    ``test`` installs once."""
    return (
        stamp.get("fingerprint") != fingerprint
        or not set(extras) <= set(stamp.get("extras", []))
        or stamp.get("torch") != variant
    )


_SHOWN = ("Collecting", "Downloading", "Installing", "Successfully", "ERROR", "error:")
_NOISE = "WARNING: Location 'file://"  # pip config listing local mirrors that do not exist


def _run_pip(cmd: list[str], t0: float) -> int:
    """Run pip, showing its progress lines (with elapsed seconds) and its errors."""
    full = [*cmd[:4], "--disable-pip-version-check", "--progress-bar", "off", *cmd[4:]]
    proc = subprocess.Popen(
        full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if not line or line.startswith(_NOISE):
            continue
        tail = [*tail[-40:], line]
        if line.lstrip().startswith(_SHOWN) or line.startswith("WARNING"):
            print(f"[course] {time.perf_counter() - t0:5.0f} s  {line.strip()}", flush=True)
    rc = proc.wait()
    if rc != 0:
        print("\n".join(tail[-25:]), file=sys.stderr)
    return rc


def ensure_env(
    extras: Sequence[str] = ("test",),
    *,
    gpu: bool | None = None,
    venv: Path = VENV,
    probe: Callable[[str], bool] = index_reachable,
) -> Path:
    """Create ``venv`` and install the course package unless already up to date.

    Args:
        extras: optional-dependency groups of pyproject.toml to install (``()`` for the
            student's lean install, ``("test",)`` for the test tools).
        gpu: True for a CUDA build of torch, False for the CPU build, None for what was
            installed before (CPU on a new environment).
        venv: the virtual environment's directory.
        probe: tells whether a URL can be reached (replaced in tests).

    Returns:
        The environment's Python.
    """
    if sys.version_info < (3, 10):  # noqa: UP036 - this script runs before any install
        sys.exit(f"error: Python >= 3.10 is needed, this is {sys.version.split()[0]}")
    py = _venv_python(venv)
    stamp = _read_stamp(venv) if py.exists() else {}
    variant = {True: "gpu", False: "cpu", None: stamp.get("torch", "cpu")}[gpu]
    fingerprint = _fingerprint()
    if py.exists() and not needs_install(stamp, fingerprint, extras, variant):
        return py
    t0 = time.perf_counter()
    if not py.exists():
        _say(f"creating the virtual environment {venv} ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    first = not stamp
    _say(
        "installing the course package and its dependencies"
        + (" (first time: 1-5 minutes, mostly PyTorch; progress below)" if first else "")
        + " ..."
    )
    if stamp.get("torch") not in (None, variant):
        _say(f"switching PyTorch to the {variant.upper()} build")
        subprocess.run([str(py), "-m", "pip", "uninstall", "-y", "-q", "torch"], check=False)
    index = torch_index(sys.platform, variant)
    if index is not None and (first or stamp.get("torch") != variant):
        if probe(index):
            _say(f"PyTorch ({variant.upper()} build) from {index}")
            if _run_pip(torch_install_command(py, index, torch_requirement()), t0) != 0:
                _say(f"installing from {index} failed; taking torch from pip's configured index")
        else:
            _say(
                f"{index} cannot be reached; taking torch from pip's configured index instead"
                + (" (on Linux that may be the larger CUDA build)" if variant == "cpu" else "")
            )
    if _run_pip(package_install_command(py, ROOT, extras), t0) != 0:
        sys.exit(
            "error: installation failed (see pip's message above). "
            "Delete .venv and try again; see README 'Troubleshooting'."
        )
    installed = set(extras)
    if stamp.get("fingerprint") == fingerprint:
        installed |= set(stamp.get("extras", []))
    (venv / STAMP_NAME).write_text(
        json.dumps(
            {"fingerprint": fingerprint, "extras": sorted(installed), "torch": variant},
            indent=1,
        )
        + "\n"
    )
    _say(f"installed in {time.perf_counter() - t0:.0f} s")
    return py


# ------------------------------------------------------------------------- workspace


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_workspace(root: Path = ROOT) -> tuple[list[str], list[str]]:
    """Fill ``my_work/`` with a copy of every exercise it does not have yet.

    A student's copy is never overwritten or removed. Copies are recorded (with the
    exercise's hash) in ``my_work/.course-copies.json`` so that an exercise that changed
    since it was copied (after ``git pull``) can be pointed out.

    Returns:
        ``(copied, updated)``: names newly copied, and names whose exercise changed
        since the student's copy was made (their copy is left as it is).
    """
    work = root / WORKSPACE
    work.mkdir(exist_ok=True)
    manifest_path = work / WORKSPACE_MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    copied, updated = [], []
    for src in sorted((root / "exercises").glob("*.ipynb")):
        dst = work / src.name
        if not dst.exists():
            shutil.copyfile(src, dst)
            manifest[src.name] = _sha(src)
            copied.append(src.name)
        elif src.name in manifest and manifest[src.name] != _sha(src):
            updated.append(src.name)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return copied, updated


def cmd_workspace(args: list[str], root: Path = ROOT) -> int:
    if args:
        print(f"error: workspace takes no arguments, got {args}", file=sys.stderr)
        return 2
    copied, updated = ensure_workspace(root)
    if copied:
        _say(f"copied {len(copied)} exercise(s) into {WORKSPACE}/: {', '.join(copied)}")
    _say(f"your answers live in {WORKSPACE}/ (git ignores it; the course never overwrites it)")
    for name in updated:
        _say(
            f"exercises/{name} changed since your copy was made; {WORKSPACE}/{name} is "
            f"untouched. For the new version: rename your copy and run this command again."
        )
    return 0


# ---------------------------------------------------------------------- subprocesses


def _we_share_terminal() -> bool:
    """Whether this process is in the terminal's foreground process group."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, AttributeError, ValueError):
        return False


def _send_if_running(proc: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to ``proc`` unless it has exited (a race with its exit is no error)."""
    if proc.poll() is None:
        try:
            proc.send_signal(signum)
        except OSError:
            pass


def _forwarding_signals(proc: subprocess.Popen) -> Callable[[], None]:
    """Forward SIGTERM/SIGHUP (and SIGINT when the child did not get it) to ``proc``.

    A Ctrl-C in a terminal reaches the whole foreground process group, so JupyterLab
    gets it directly and asks to confirm the shutdown: this process then only waits. A
    SIGINT sent without a terminal is passed on as SIGTERM. Returns a function
    that restores the previous handlers.
    """

    def forward(signum, _frame):
        if signum == signal.SIGINT:
            if _we_share_terminal():
                return  # JupyterLab got the same Ctrl-C from the terminal
            # Without a terminal JupyterLab keeps Python's default SIGINT handler: a second
            # SIGINT (the group's and ours) would interrupt its shutdown with a traceback.
            # SIGTERM stops it cleanly whether or not it also got the group's SIGINT.
            signum = signal.SIGTERM
        _send_if_running(proc, signum)

    names = ["SIGINT", "SIGTERM", "SIGHUP"] if os.name != "nt" else ["SIGINT", "SIGBREAK"]
    old = {}
    for name in names:
        sig = getattr(signal, name, None)
        if sig is not None:
            old[sig] = signal.signal(sig, forward)

    def restore() -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    return restore


def run_forwarding(cmd: list[str], *, cwd: Path, env: dict | None = None) -> int:
    """Run ``cmd``, forward stop signals to it, wait for it; never a traceback here.

    After a forwarded SIGTERM the child has ``STOP_GRACE_S`` seconds to exit before it is
    killed. Returns the child's exit status (0 for a clean stop on a signal).
    """
    proc = subprocess.Popen(cmd, cwd=cwd, env=env)
    restore = _forwarding_signals(proc)
    try:
        while True:
            try:
                rc = proc.wait()
                break
            except KeyboardInterrupt:  # pragma: no cover - handler replaced above
                continue
    finally:
        restore()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    # a child stopped by a signal we forwarded has stopped as asked
    return 0 if rc in (-signal.SIGTERM, -signal.SIGINT, 130, 143) else rc


# ------------------------------------------------------------------------- commands


def _split_options(args: list[str]) -> tuple[dict, list[str]]:
    """Take course.py's own options (--gpu, --cpu, --current-env) out of ``args``."""
    opts = {"gpu": None, "current_env": False}
    rest = []
    for i, a in enumerate(args):
        if a == "--":
            rest.extend(args[i + 1 :])
            break
        if a == "--gpu":
            opts["gpu"] = True
        elif a == "--cpu":
            opts["gpu"] = False
        elif a == "--current-env":
            opts["current_env"] = True
        else:
            rest.append(a)
    return opts, rest


def _python(opts: dict, extras: Sequence[str]) -> Path:
    if opts["current_env"]:
        return Path(sys.executable)
    return ensure_env(extras, gpu=opts["gpu"])


def write_lab_overrides(prefix: Path) -> Path | None:
    """Write the course's JupyterLab setting defaults (no news toast) into the
    environment at ``prefix``; returns the file, or None if it cannot be written."""
    path = Path(prefix) / LAB_OVERRIDES_FILE
    text = json.dumps(LAB_OVERRIDES, indent=1) + "\n"
    try:
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    except OSError as exc:
        _say(f"note: could not write {path} ({exc}); JupyterLab may ask about news")
        return None
    return path


def cmd_lab(args: list[str]) -> int:
    opts, rest = _split_options(args)
    py = _python(opts, ())
    write_lab_overrides(Path(sys.prefix) if opts["current_env"] else VENV)
    first = not (ROOT / WORKSPACE).exists()
    cmd_workspace([])
    target = FIRST_NOTEBOOK if first else f"{WORKSPACE}/"
    _say(f"starting JupyterLab at {target} (stop it with Ctrl-C, twice to skip the question)")
    extra = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    # Serve the whole course (notebooks/, exercises/, my_work/, ...) and open one path in
    # it; passing a file instead would make its folder the root and hide the rest.
    opts_lab = [
        f"--ServerApp.root_dir={ROOT}",
        f"--LabApp.default_url=/lab/tree/{target}",
        *LAB_OPTIONS,
    ]
    rc = run_forwarding([str(py), "-m", "jupyter", "lab", *opts_lab, *extra, *rest], cwd=ROOT)
    _say(f"JupyterLab stopped (exit status {rc})")
    return rc


def cmd_test(args: list[str]) -> int:
    opts, rest = _split_options(args)
    extras = ("test", "browser") if shutil.which("chromium") else ("test",)
    py = _python(opts, extras)
    t0 = time.perf_counter()
    rc = subprocess.call([str(py), "-m", "pytest", *PYTEST_ARGS, *rest], cwd=ROOT)
    if rc == 0:
        rc = subprocess.call([str(py), "-m", "ruff", "check", "."], cwd=ROOT)
    if rc == 0:
        rc = subprocess.call([str(py), "-m", "ruff", "format", "--check", "."], cwd=ROOT)
    _say(f"test command finished in {time.perf_counter() - t0:.0f} s with exit status {rc}")
    return rc


def cmd_build(args: list[str]) -> int:
    """``course_utils.authoring build ARGS`` in the course environment (test extras);
    the arguments and the exit status pass through unchanged."""
    py = ensure_env(("test",))
    return subprocess.call([str(py), "-m", "course_utils.authoring", "build", *args], cwd=ROOT)


def cmd_site(args: list[str]) -> int:
    """``course_utils.site build ARGS`` (the website into build/site; ``--solutions`` for
    instructors) in the course environment (test extras, which hold Sphinx)."""
    py = ensure_env(("test",))
    return subprocess.call([str(py), "-m", "course_utils.site", "build", *args], cwd=ROOT)


def cmd_edition(args: list[str]) -> int:
    opts, rest = _split_options(args)
    py = _python(opts, ())
    return subprocess.call([str(py), "-m", "course_utils.edition", *rest], cwd=ROOT)


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "lab": cmd_lab,
    "test": cmd_test,
    "build": cmd_build,
    "workspace": cmd_workspace,
    "edition": cmd_edition,
    "site": cmd_site,
}


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(__doc__)
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        print(
            f"error: expected one of {', '.join(COMMANDS)}, got {argv[:1] or 'nothing'}",
            file=sys.stderr,
        )
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

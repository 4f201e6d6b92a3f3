#!/usr/bin/env python3
"""One entry point for students, instructors and CI.

    python3 course.py lab     # set everything up, open JupyterLab at notebooks/00_start_here.ipynb
    python3 course.py test    # set everything up, run the whole test suite
    python3 course.py build NN_topic | --all   # authors: sync text sources, execute, release
    python3 course.py site [--solutions]       # the course website in build/site

Both commands create a virtual environment in ``.venv`` (once), install the course
package with its test extra into it (again only when ``pyproject.toml`` changed), and
then run JupyterLab or pytest from that environment. Only the Python standard library
is used here, so the script works on a fresh machine with nothing but Python >= 3.10.

Extra arguments after ``test`` go to pytest (``python3 course.py test -k ode``); extra
arguments after ``lab`` go to JupyterLab (``python3 course.py lab --port 8890``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".course-install-stamp"
FIRST_NOTEBOOK = "notebooks/00_start_here.ipynb"
# Two pytest workers; pyproject's `--dist loadfile` keeps each notebook's cells on one
# worker (one kernel, in order).
PYTEST_ARGS = ["-n", "2"]


def _venv_python() -> Path:
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return VENV / sub


def _install_fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_env(extras: str = "test") -> Path:
    """Create .venv and install the package (editable) unless already up to date."""
    if sys.version_info < (3, 10):  # noqa: UP036 - this script runs before any install
        sys.exit(f"error: Python >= 3.10 is needed, this is {sys.version.split()[0]}")
    py = _venv_python()
    if not py.exists():
        print(f"[course] creating virtual environment in {VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    wanted = f"{_install_fingerprint()} [{extras}]"
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return py
    print(
        "[course] installing the course package and its dependencies (about a minute) ...",
        flush=True,
    )
    t0 = time.perf_counter()
    cmd = [
        str(py),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "-q",
        "-e",
        f"{ROOT}[{extras}]",
    ]
    result = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    # Some machines' pip configuration lists local mirrors that do not exist; pip warns
    # once per package about each. Show everything else pip said.
    noise = "WARNING: Location 'file://"
    sys.stderr.write(
        "".join(ln for ln in result.stderr.splitlines(keepends=True) if not ln.startswith(noise))
    )
    if result.returncode != 0:
        sys.exit(
            "error: installation failed (see pip's message above). "
            "Delete .venv and try again; see README 'Troubleshooting'."
        )
    STAMP.write_text(wanted + "\n")
    print(f"[course] installed in {time.perf_counter() - t0:.0f} s", flush=True)
    return py


def cmd_lab(args: list[str]) -> int:
    py = ensure_env("test")
    print(f"[course] starting JupyterLab at {FIRST_NOTEBOOK} (stop it with Ctrl-C) ...", flush=True)
    extra = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    # Serve the whole repository (notebooks/, exercises/, solutions/) and open the first
    # notebook; passing the file itself would make notebooks/ the root and hide the rest.
    opts = [f"--ServerApp.root_dir={ROOT}", f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}"]
    return subprocess.call([str(py), "-m", "jupyter", "lab", *opts, *extra, *args], cwd=ROOT)


def cmd_test(args: list[str]) -> int:
    extras = "test,browser" if shutil.which("chromium") else "test"
    py = ensure_env(extras)
    t0 = time.perf_counter()
    rc = subprocess.call([str(py), "-m", "pytest", *PYTEST_ARGS, *args], cwd=ROOT)
    if rc == 0:
        rc = subprocess.call([str(py), "-m", "ruff", "check", "."], cwd=ROOT)
    if rc == 0:
        rc = subprocess.call([str(py), "-m", "ruff", "format", "--check", "."], cwd=ROOT)
    print(
        f"[course] test command finished in {time.perf_counter() - t0:.0f} s with exit status {rc}",
        flush=True,
    )
    return rc


def cmd_build(args: list[str]) -> int:
    """Sync notebooks with their text sources, execute them, re-release exercises."""
    py = ensure_env("test")
    return subprocess.call([str(py), "-m", "course_utils.authoring", "build", *args], cwd=ROOT)


def cmd_site(args: list[str]) -> int:
    """Build the course website into build/site (``--solutions``: instructors' build)."""
    py = ensure_env("test")
    return subprocess.call([str(py), "-m", "course_utils.site", "build", *args], cwd=ROOT)


def main(argv: list[str]) -> int:
    commands = {"lab": cmd_lab, "test": cmd_test, "build": cmd_build, "site": cmd_site}
    if not argv or argv[0] not in commands:
        print(__doc__)
        print(
            f"error: expected one of {', '.join(commands)}, got {argv[:1] or 'nothing'}",
            file=sys.stderr,
        )
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``course-grade gradescope``: a Gradescope autograder bundle for one topic.

The zip holds ``setup.sh`` (installs bubblewrap, then Python packages pinned to the
versions this machine grades with, torch from the CPU wheel index, then this package;
it refuses a Python older than :data:`MIN_PYTHON`: choose the base image
:data:`BASE_IMAGE`), and
``run_autograder`` (grades ``/autograder/submission/*.ipynb`` into
``/autograder/results/results.json`` with the same grader code), next to the package
sources, the topic's solution notebook and its hidden spec. Gradescope unpacks the
zip into ``/autograder/source/`` and copies ``run_autograder`` to ``/autograder/``.

The autograder root is ``$AUTOGRADER_ROOT`` (default ``/autograder``) and the Python
interpreter ``$COURSE_GRADE_PYTHON`` (default ``python3``), so the bundle can be run
locally against a fake directory tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

from . import GradingError

__all__ = ["build_gradescope_bundle", "cli_gradescope", "cli_autograde"]

# what the grader needs in the container (the package's own dependencies are
# installed with --no-deps so JupyterLab is not pulled into the image)
_RUNTIME = ["numpy", "torch", "scipy", "sympy", "matplotlib", "ipython", "nbformat"]
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same inputs give the same zip

BASE_IMAGE = "Ubuntu 24.04 (Python 3.12)"
MIN_PYTHON = (3, 11)  # what the pinned versions (numpy 2.4, scipy 1.17, ...) support

_SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
# Supported base image: {base_image}; the pinned packages need Python >= {min_py}.
set -euo pipefail
AG="${{AUTOGRADER_ROOT:-/autograder}}"
PY="${{COURSE_GRADE_PYTHON:-python3}}"
cd "$AG/source"
if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
  apt-get update -qq || true
  # bubblewrap: the sandbox of every submission (the grader falls back to a separate
  # unprivileged uid where the container refuses namespaces)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip python3-venv \\
      bubblewrap > /dev/null || true
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < {min_py_tuple})'; then
  echo "course-grade: this autograder needs Python >= {min_py} (base image {base_image});" \\
       "$("$PY" -V 2>&1) is too old: choose that base image in Gradescope" >&2
  exit 1
fi
"$PY" -m pip install --upgrade pip > /dev/null || true
# CPU wheel of torch (no CUDA download); other packages pinned to the grading machine's
"$PY" -m pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt \\
    || "$PY" -m pip install --break-system-packages \\
        --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
"$PY" -m pip install --no-deps . || "$PY" -m pip install --no-deps --break-system-packages .
# instructor files: root only. The package: readable by the unprivileged uid that runs
# each submission. Nothing here is writable by it.
chmod -R go-rwx "$AG/source/solutions" "$AG/source/grading"
chmod -R go-w,a+rX "$AG/source/course_utils"
"""

_RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission, in a fresh container (as root).
set -uo pipefail
AG="${{AUTOGRADER_ROOT:-/autograder}}"
PY="${{COURSE_GRADE_PYTHON:-python3}}"
mkdir -p "$AG/results"
# the student's code runs as another user (or in bubblewrap): it must not read the
# submission folder (the grader refuses to start if it can) nor write the results
chmod -R go-rwx "$AG/submission" 2> /dev/null || true
chmod go-w "$AG/results"
export PYTHONPATH="$AG/source${{PYTHONPATH:+:$PYTHONPATH}}"
cd "$AG/source"
exec "$PY" -m course_utils.grading --root "$AG/source" autograde {topic} \\
    --submission-dir "$AG/submission" --results "$AG/results/results.json" --timeout {timeout:g}
"""


def _requirements() -> str:
    lines = []
    for name in _RUNTIME:
        try:
            version = metadata.version(name).split("+")[0]
        except metadata.PackageNotFoundError:
            continue
        lines.append(f"{name}=={version}")
    return "\n".join(lines) + "\n"


def _add(zf: zipfile.ZipFile, name: str, data: bytes, *, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_gradescope_bundle(
    topic: str,
    out: str | Path,
    *,
    root: str | Path | None = None,
    timeout: float = 60.0,
    force: bool = False,
) -> Path:
    """Write the Gradescope autograder zip for ``topic``; returns its path.

    Raises:
        TypeError: ``root`` or ``out`` is not a path, ``topic`` not a str.
        FileNotFoundError: ``root`` is not an existing folder.
        GradingError: unknown topic, missing spec, or ``out`` exists and not ``force``.
    """
    from ._grader import Topic, _checked_arguments

    root, out, topic = _checked_arguments(root, out, topic)
    if out.exists() and not force:
        raise GradingError(f"{out} exists; pass --force to overwrite it")
    Topic.load(root, topic)  # validates the spec and the solution before bundling
    pkg = Path(__file__).resolve().parents[1]
    project = pkg.parent
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        setup = _SETUP_SH.format(
            base_image=BASE_IMAGE,
            min_py=".".join(map(str, MIN_PYTHON)),
            min_py_tuple=repr(MIN_PYTHON),
        )
        _add(zf, "setup.sh", setup.encode(), executable=True)
        _add(
            zf,
            "run_autograder",
            _RUN.format(topic=topic, timeout=timeout).encode(),
            executable=True,
        )
        _add(zf, "requirements.txt", _requirements().encode())
        for extra in ("pyproject.toml", "README.md"):
            if (project / extra).exists():
                _add(zf, extra, (project / extra).read_bytes())
        for path in sorted(pkg.rglob("*.py")):
            rel = path.relative_to(project).as_posix()
            _add(zf, rel, path.read_bytes())
        _add(
            zf,
            f"solutions/{topic}.ipynb",
            (root / "solutions" / f"{topic}.ipynb").read_bytes(),
        )
        _add(zf, f"grading/{topic}.py", (root / "grading" / f"{topic}.py").read_bytes())
    tmp.replace(out)
    return out


def cli_gradescope(args) -> int:
    """``course-grade gradescope TOPIC --out autograder.zip``."""
    path = build_gradescope_bundle(
        args.topic, args.out, root=args.root, timeout=args.timeout, force=args.force
    )
    print(f"wrote {path}: upload it as the autograder of the Gradescope assignment")
    return 0


def _fail_results(message: str, started: float) -> dict:
    return {
        "score": 0.0,
        "execution_time": round(time.monotonic() - started, 3),
        "output": message,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }


def cli_autograde(args) -> int:
    """What ``run_autograder`` calls: grade the one submitted notebook; always writes
    a valid ``results.json`` (a missing notebook gives score 0 and a message)."""
    from ._grader import Limits, grade_submissions

    started = time.monotonic()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    notebooks = sorted(Path(args.submission_dir).glob("**/*.ipynb"))
    notebooks = [p for p in notebooks if ".ipynb_checkpoints" not in p.parts]
    preferred = [p for p in notebooks if p.name == f"{args.topic}.ipynb"]
    chosen = (preferred or notebooks)[:1]
    if not chosen:
        results = _fail_results(
            f"No .ipynb file found in your submission: upload {args.topic}.ipynb.", started
        )
    else:
        with tempfile.TemporaryDirectory(prefix="course-grade-out-") as out:
            try:
                grade_submissions(
                    args.topic,
                    chosen,
                    Path(out) / "grade",
                    root=args.root,
                    limits=Limits(timeout=args.timeout),
                )
                stem = next(p for p in (Path(out) / "grade").iterdir() if p.is_dir())
                results = json.loads((stem / "results.json").read_text())
            except (GradingError, FileNotFoundError) as exc:
                # an instructor-side problem (a bad spec, a --root that is no folder):
                # say so, score 0
                print(f"course-grade: error: {exc}", file=sys.stderr)
                results = _fail_results(
                    "The autograder is misconfigured; your instructor has been told.", started
                )
        if len(notebooks) > 1:
            results["output"] = (
                f"Graded {chosen[0].name} (of {len(notebooks)} notebooks submitted).\n"
                + results["output"]
            )
    # grade_submissions returned: every process of the submission is gone. Written
    # through a fresh file and an atomic rename (nothing planted at the path is opened)
    _write_atomic(args.results, json.dumps(results, indent=1) + "\n")
    print(f"score {results['score']:g}: wrote {args.results}")
    return 0


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".results-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

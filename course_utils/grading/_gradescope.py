"""``course-grade gradescope``: a Gradescope autograder bundle for one topic.

The zip holds ``setup.sh`` (installs Python packages pinned to the versions this
machine grades with, torch from the CPU wheel index, then this package), and
``run_autograder`` (grades ``/autograder/submission/*.ipynb`` into
``/autograder/results/results.json`` with the same grader code), plus ``source/``:
the package sources, the topic's solution notebook and its hidden spec.

The autograder root is ``$AUTOGRADER_ROOT`` (default ``/autograder``) and the Python
interpreter ``$COURSE_GRADE_PYTHON`` (default ``python3``), so the bundle can be run
locally against a fake directory tree.
"""

from __future__ import annotations

import json
import stat
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

from . import GradingError
from ._release import find_root

__all__ = ["build_gradescope_bundle", "cli_gradescope", "cli_autograde"]

# what the grader needs in the container (the package's own dependencies are
# installed with --no-deps so JupyterLab is not pulled into the image)
_RUNTIME = ["numpy", "torch", "scipy", "sympy", "matplotlib", "ipython", "nbformat"]
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same inputs give the same zip

_SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
cd /autograder/source
apt-get update -qq && apt-get install -y -qq python3 python3-pip > /dev/null || true
python3 -m pip install --upgrade pip > /dev/null || true
# CPU wheel of torch (no CUDA download); other packages pinned to the grading machine's
python3 -m pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt \\
    || python3 -m pip install --break-system-packages \\
        --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
python3 -m pip install --no-deps . || python3 -m pip install --no-deps --break-system-packages .
# the instructor files are readable only by root; student code still runs as root in
# this container, which is why the grader keeps them out of reach with its own checks
chmod -R go-rwx /autograder/source/solutions /autograder/source/grading
"""

_RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission, in a fresh container.
set -uo pipefail
AG="${{AUTOGRADER_ROOT:-/autograder}}"
PY="${{COURSE_GRADE_PYTHON:-python3}}"
mkdir -p "$AG/results"
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
        GradingError: unknown topic, missing spec, or ``out`` exists and not ``force``.
    """
    from ._grader import Topic

    root = Path(root).resolve() if root else find_root()
    out = Path(out)
    if out.exists() and not force:
        raise GradingError(f"{out} exists; pass --force to overwrite it")
    Topic.load(root, topic)  # validates the spec and the solution before bundling
    pkg = Path(__file__).resolve().parents[1]
    project = pkg.parent
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "setup.sh", _SETUP_SH.encode(), executable=True)
        _add(
            zf,
            "run_autograder",
            _RUN.format(topic=topic, timeout=timeout).encode(),
            executable=True,
        )
        _add(zf, "source/requirements.txt", _requirements().encode())
        for extra in ("pyproject.toml", "README.md"):
            if (project / extra).exists():
                _add(zf, f"source/{extra}", (project / extra).read_bytes())
        for path in sorted(pkg.rglob("*.py")):
            rel = path.relative_to(project).as_posix()
            _add(zf, f"source/{rel}", path.read_bytes())
        _add(
            zf,
            f"source/solutions/{topic}.ipynb",
            (root / "solutions" / f"{topic}.ipynb").read_bytes(),
        )
        _add(zf, f"source/grading/{topic}.py", (root / "grading" / f"{topic}.py").read_bytes())
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
    import tempfile

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
            except GradingError as exc:  # an instructor-side problem: say so, score 0
                print(f"course-grade: error: {exc}", file=sys.stderr)
                results = _fail_results(
                    "The autograder is misconfigured; your instructor has been told.", started
                )
        if len(notebooks) > 1:
            results["output"] = (
                f"Graded {chosen[0].name} (of {len(notebooks)} notebooks submitted).\n"
                + results["output"]
            )
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    print(f"score {results['score']:g}: wrote {args.results}")
    return 0

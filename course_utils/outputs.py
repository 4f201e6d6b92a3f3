"""Where instructor outputs land: a warning when one is written inside a git checkout.

``course-grade gradescope`` writes a zip that holds the solutions and the hidden tests;
``course-grade grade`` writes students' grades; ``course.py edition`` writes a whole
course copy. Inside the course's own checkout such an output is one ``git add .`` away
from being published. :func:`warn_if_inside_repo` says so on stderr.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TextIO

from ._validate import check_path

__all__ = ["repo_root_of", "warn_if_inside_repo"]


def repo_root_of(path: str | Path) -> Path | None:
    """The git work tree that contains ``path`` (which need not exist yet), or None."""
    p = check_path(path, "path").resolve()
    for d in (p, *p.parents):
        if (d / ".git").exists():
            return d
    return None


def _ignored(root: Path, path: Path) -> bool:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "check-ignore", "-q", str(path)],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def warn_if_inside_repo(path: str | Path, *, what: str, stream: TextIO | None = None) -> bool:
    """Print a warning when ``path`` lies inside a git work tree.

    Args:
        path: the output file or directory (existing or about to be written).
        what: what it holds, for the message (``"the autograder zip (solutions and
            hidden tests)"``).
        stream: where to write (default: ``sys.stderr``).

    Returns:
        True if a warning was printed.
    """
    check_path(path, "path")
    if not isinstance(what, str) or not what:
        raise ValueError(f"what must be a non-empty string, got {what!r}")
    root = repo_root_of(path)
    if root is None:
        return False
    target = Path(path).resolve()
    stream = stream if stream is not None else sys.stderr
    if _ignored(root, target):
        how = "git ignores it (.gitignore), but a forced add or a copy of the folder would not"
    else:
        how = "git does NOT ignore it: 'git add .' would commit it"
    print(
        f"WARNING: {what} is written inside the git repository {root}: "
        f"{target.relative_to(root)}; {how}. Write it outside the repository "
        f"(e.g. --out ~/course-outputs/{target.name}).",
        file=stream,
        flush=True,
    )
    return True

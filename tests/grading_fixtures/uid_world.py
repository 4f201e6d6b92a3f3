"""Run a command in a mount namespace where the Python environment is readable by
every user, as on a machine with a system-wide Python (the uid fallback's setting).

    unshare -m --propagation private python uid_world.py CMD [ARGS...]

Here the interpreter lives under ``/root`` (mode 700), so an unprivileged uid cannot
start it and the uid level cannot run. For every directory on the way to the
interpreter, the standard library, ``sys.path`` and ``course_utils`` that other users
may not traverse, this mounts a world-traversable tmpfs over it and binds back only
the entries on those ways (the rest of it, e.g. the rest of ``/root``, disappears).
Nothing outside this process's private mount namespace changes. Must run as root.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import course_utils


def needed() -> list[str]:
    """Paths an unprivileged kernel must reach."""
    paths = [os.path.realpath(sys.executable), sys.prefix, sys.base_prefix]
    paths += [p for p in sys.path if p and os.path.exists(p)]
    paths.append(os.path.dirname(os.path.realpath(course_utils.__file__)))
    return sorted({os.path.realpath(p) for p in paths})


def closed_ancestor(path: str) -> tuple[str, str] | None:
    """The first directory on the way to ``path`` that others may not traverse, and the
    next component below it; None if the way is open."""
    parts = Path(path).parts
    for i in range(1, len(parts)):
        d = os.path.join(*parts[:i])
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return d, parts[i]
    return None


def open_ways() -> None:
    """Overlay every closed directory on the needed ways (outermost first)."""
    stage = tempfile.mkdtemp(prefix="uid-world-")
    for _ in range(10):  # a re-bound entry may itself be closed: repeat
        closed: dict[str, set[str]] = {}
        for p in needed():
            hit = closed_ancestor(p)
            if hit:
                closed.setdefault(hit[0], set()).add(hit[1])
        if not closed:
            return
        d = min(closed, key=len)  # the outermost first; then look again
        kept = []
        for name in sorted(closed[d]):
            src, keep = os.path.join(d, name), os.path.join(stage, str(len(os.listdir(stage))))
            is_dir = os.path.isdir(src)
            os.mkdir(keep) if is_dir else open(keep, "w").close()
            subprocess.run(["mount", "--bind", src, keep], check=True)
            kept.append((name, keep, is_dir))
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", d], check=True)
        for name, keep, is_dir in kept:
            dst = os.path.join(d, name)
            os.mkdir(dst) if is_dir else open(dst, "w").close()
            subprocess.run(["mount", "--bind", keep, dst], check=True)
    raise RuntimeError(f"could not open the ways to {needed()}")


if __name__ == "__main__":
    if os.getuid() != 0:
        sys.exit("uid_world.py must run as root")
    open_ways()
    os.execvp(sys.argv[1], sys.argv[1:])

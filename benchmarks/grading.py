"""Benchmark: time to grade 20 submissions with 1 and with 2 workers.

    .venv/bin/python benchmarks/grading.py [--n 20] [--topic 01_mle] [--workers 1 2]

Uses the real topic (``solutions/01_mle.ipynb`` + ``grading/01_mle.py``) when it
exists, else the toy problem set of the tests. Submissions are variants of the
solution: the solution itself, copies with an extra print cell, and copies with one
question left unanswered (the released placeholder), so scores differ. Wall times
include the one solution run per ``grade`` call (expected values). Prints a table;
nothing is asserted (the machine may be shared, see the load average printed).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from course_utils.grading._grader import Limits, grade_submissions  # noqa: E402
from course_utils.grading._release import load_notebook, release_notebook  # noqa: E402


def _variants(solution: dict, n: int) -> list[dict]:
    exercise = {c["id"]: c for c in release_notebook(solution)["cells"]}
    answers = [
        c["id"]
        for c in solution["cells"]
        if c.get("metadata", {}).get("course", {}).get("role") == "answer"
        and c["cell_type"] == "code"
    ]
    out = []
    for i in range(n):
        nb = copy.deepcopy(solution)
        if i % 3 == 1:  # a chatty student: an extra cell after the first answer
            at = next(k for k, c in enumerate(nb["cells"]) if c["id"] == answers[0])
            nb["cells"].insert(
                at + 1,
                {"cell_type": "code", "id": f"extra-{i}", "metadata": {}, "outputs": [],
                 "execution_count": None, "source": "print('checking my work')"},
            )  # fmt: skip
        elif i % 3 == 2:  # one question not answered
            cid = answers[i % len(answers)]
            cell = next(c for c in nb["cells"] if c["id"] == cid)
            cell["source"] = exercise[cid]["source"]
        out.append(nb)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--topic", default="01_mle")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    root = ROOT
    if not (ROOT / "grading" / f"{args.topic}.py").exists():
        from grading_fixtures import toy

        root = toy.write_toy_course(Path(tempfile.mkdtemp(prefix="bench-toy-")))
        args.topic = toy.TOPIC
        print(f"{args.topic}: real topic missing, using the toy problem set of the tests")
    solution = load_notebook(root / "solutions" / f"{args.topic}.ipynb")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        paths = []
        for i, nb in enumerate(_variants(solution, args.n)):
            path = Path(tmp) / "subs" / f"student_{i:02d}.ipynb"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(nb))
            paths.append(path)
        print(f"topic {args.topic}, {args.n} submissions, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f} at start")  # fmt: skip
        rows, scores = [], None
        for w in args.workers:
            t0 = time.perf_counter()
            reports = grade_submissions(
                args.topic, paths, Path(tmp) / f"out{w}", root=root, workers=w, limits=Limits()
            )
            wall = time.perf_counter() - t0
            got = [r["total"] for r in reports]
            if scores is not None and got != scores:
                print("WARNING: scores differ between worker counts", file=sys.stderr)
            scores = got
            rows.append((w, wall))
        print(f"{'workers':>8} {'wall s':>8} {'s/submission':>13} {'speed-up':>9}")
        for w, wall in rows:
            print(f"{w:>8} {wall:>8.1f} {wall / args.n:>13.2f} {rows[0][1] / wall:>9.2f}")
        print(f"load average {os.getloadavg()[0]:.1f} at end; totals: {sorted(set(scores))}")


if __name__ == "__main__":
    main()

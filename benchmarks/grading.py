"""Benchmark: a class-sized batch with and without the sandbox, and kernel start-up.

    .venv/bin/python benchmarks/grading.py [--n 200] [--workers 2] [--topic 01_toy]
        [--kernels 10] [--levels auto none]

Grades ``--n`` mixed submissions of the toy problem set of the tests (or of a real
topic with ``--topic``): correct, partial (one question left as the placeholder),
blank, broken (invalid JSON, a crash, an infinite loop) and hostile (forged protocol
replies, spec leaks through error messages, shadowed builtins, raw memory reads; only
attacks that harm nothing outside their kernel even unsandboxed, since the ``none``
run executes them as you). Every level grades the same files with ``--workers``
workers; the table gives seconds per submission and the overhead of each level over
``none``. Then it checks that nothing was lost: every submission has a row, a
``results.json`` and a ``feedback.md``, and the honest submissions score the same
under every level. ``--kernels`` kernels are also started and stopped one by one per
level, to give the per-kernel start-up cost on its own.

Nothing is asserted on times (the machine may be shared; see the load averages).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from adversarial import SOLUTION as TOY_SOLUTION  # noqa: E402
from adversarial import attacks  # noqa: E402
from grading_fixtures import toy  # noqa: E402

from course_utils.grading import release_topics  # noqa: E402
from course_utils.grading._grader import Limits, grade_submissions  # noqa: E402
from course_utils.grading._kernel import Kernel  # noqa: E402
from course_utils.grading._release import load_notebook, release_notebook  # noqa: E402
from course_utils.grading._sandbox import SandboxError, select_launcher  # noqa: E402

HARMLESS_ATTACKS = ("malformed_reply", "leak_feedback", "shadow_builtins", "raw_memory")
KINDS = ("correct", "partial", "blank", "broken", "hostile")


def _answers_of(nb: dict) -> list[dict]:
    return [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code"
        and c.get("metadata", {}).get("course", {}).get("role") == "answer"
    ]


def _submissions(root: Path, topic: str, n: int) -> list[tuple[str, str, str]]:
    """``n`` (name, kind, file text) in a fixed mix of :data:`KINDS`."""
    solution = load_notebook(root / "solutions" / f"{topic}.ipynb")
    exercise = release_notebook(solution)
    placeholder = {c["id"]: c["source"] for c in _answers_of(exercise)}
    hostile = [attacks()[a] for a in HARMLESS_ATTACKS] if topic == toy.TOPIC else []
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        if kind == "hostile" and not hostile:
            kind = "broken"
        nb = copy.deepcopy(solution if kind in ("correct", "partial") else exercise)
        text = None
        if kind == "partial":
            cell = _answers_of(nb)[i % len(_answers_of(nb))]
            cell["source"] = placeholder[cell["id"]]
        elif kind == "broken":
            if i % 3 == 0:
                text = '{"cells": [ not json'
            else:
                first = _answers_of(nb)[0]
                first["source"] = (
                    "while True:\n    pass" if i % 3 == 1 else "import os\nos._exit(3)"
                )
        elif kind == "hostile":
            mod = hostile[i % len(hostile)]
            answers = {q: TOY_SOLUTION[q] for q in mod.HONEST}
            fields = {"root": "/nonexistent", "out": "/nonexistent", "marker": "bench"}
            answers.update(
                {q: code.format_map(_Default(fields)) for q, code in mod.ANSWERS.items()}
            )
            for c in _answers_of(nb):
                q = c["metadata"]["course"]["question"]
                if q in answers:
                    c["source"] = answers[q]
        out.append((f"s{i:03d}_{kind}", kind, text if text is not None else json.dumps(nb)))
    return out


class _Default(dict):
    def __missing__(self, key: str) -> str:
        return "/nonexistent"


def _kernel_startup(level: str, k: int, limits: Limits) -> float:
    """Mean seconds to start a kernel (to its ``ready``) and stop it, ``k`` times."""
    launcher, _ = select_launcher(level, [])
    t0 = time.perf_counter()
    for _ in range(k):
        kernel = Kernel(limits, [], time.monotonic() + 300, launcher)
        kernel.close()
    return (time.perf_counter() - t0) / k


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--topic", default=toy.TOPIC)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--kernels", type=int, default=10)
    p.add_argument("--levels", nargs="+", default=["auto", "none"])
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per question")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    root = ROOT
    if args.topic == toy.TOPIC:
        root = toy.write_toy_course(tmp / "course")
        release_topics(root, [toy.TOPIC])
    limits = Limits(timeout=args.timeout, submission_timeout=20 * args.timeout)
    subs = _submissions(root, args.topic, args.n)
    paths = []
    for name, _, text in subs:
        path = tmp / "subs" / f"{name}.ipynb"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        paths.append(path)
    print(
        f"topic {args.topic}, {args.n} submissions ({', '.join(KINDS)}), {args.workers} "
        f"workers, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )
    results: dict[str, dict] = {}
    for level in args.levels:
        try:
            real = select_launcher(level, [])[0].level
        except SandboxError as exc:
            print(f"{level}: skipped ({exc})")
            continue
        startup = _kernel_startup(level, args.kernels, limits) if args.kernels else float("nan")
        out = tmp / f"out-{real}"
        t0 = time.perf_counter()
        grade_submissions(
            args.topic, paths, out, root=root, workers=args.workers, limits=limits,
            sandbox=level,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        rows = {r["submission"]: r for r in csv.DictReader((out / "grades.csv").open())}
        lost = [
            name
            for name, _, _ in subs
            if name not in rows
            or not (out / name / "results.json").is_file()
            or not (out / name / "feedback.md").is_file()
        ]
        results[real] = {"wall": wall, "startup": startup, "rows": rows, "lost": lost}
        print(
            f"{real}: {wall:.1f} s, {wall / args.n:.2f} s/submission, kernel start+stop "
            f"{startup:.2f} s, lost {len(lost)}, load {os.getloadavg()[0]:.1f}"
        )
    if "none" in results:
        base = results["none"]
        print(f"\n{'level':>12} {'s/submission':>13} {'overhead':>9} {'kernel s':>9} {'lost':>5}")
        for level, r in results.items():
            over = (r["wall"] / base["wall"] - 1) * 100
            print(
                f"{level:>12} {r['wall'] / args.n:>13.2f} {over:>8.1f}% {r['startup']:>9.2f} "
                f"{len(r['lost']):>5}"
            )
        honest = [name for name, kind, _ in subs if kind in ("correct", "partial", "blank")]
        for level, r in results.items():
            differ = [n for n in honest if r["rows"][n]["total"] != base["rows"][n]["total"]]
            print(f"{level}: honest submissions scored differently from 'none': {differ or 'none'}")
    print(f"load average {os.getloadavg()[0]:.1f} at end; files in {tmp}")


if __name__ == "__main__":
    main()

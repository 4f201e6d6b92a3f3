"""Benchmark: a class-sized batch with and without the sandbox, and where a kernel's time goes.

    .venv/bin/python benchmarks/grading.py [--n 200] [--workers 2] [--topic 01_toy]
        [--levels auto none] [--kernels template fresh] [--phases 3] [--timeout 5]
        [--repeat 1]

    # issue 25, item 1: 500 mixed submissions of 01_mle, sandbox on, 2 workers
    .venv/bin/python benchmarks/grading.py --topic 01_mle --n 500 --workers 2 --levels auto
    # issue 17, item 8: 200 submissions with and without the sandbox, twice each
    .venv/bin/python benchmarks/grading.py --n 200 --workers 2 --levels auto none --repeat 2

Grades ``--n`` mixed submissions of the toy problem set of the tests (or of a real
topic with ``--topic``): correct, partial (one question left as the placeholder),
blank, broken (invalid JSON, a crash, an infinite loop) and hostile (forged protocol
replies, spec leaks through error messages, shadowed builtins, raw memory reads; only
attacks that harm nothing outside their kernel even unsandboxed, since the ``none``
run executes them as you; for a real topic the attack replaces the first answer).
Every level x kernel start-up (``--kernels``: ``template`` forks each kernel from a
template process, ``fresh`` launches each) grades the same files with ``--workers``
workers. Printed per run: wall seconds and seconds per submission, the CPU seconds the
whole machine spent meanwhile (``/proc/stat``: everything the run started at every
level alike, whoever reaps it, plus any other load: run on a quiet machine), the load
average, and the time spent waiting on deliberate time limits (the
infinite loops). Then, per level, medians and ranges over ``--repeat`` batches (run
interleaved, so a change of load hits every level alike), the *busy* wall time (without
the infinite loops' deliberate waits, the same at every level), the overhead of each
level over ``none`` (same kernels), and whether anything was lost: every submission has a row, a ``results.json`` and a
``feedback.md``, and the honest submissions score the same in every run.

``--phases K`` first runs the topic's solution K times through one kernel per start-up
kind and prints where its time goes: the bare sandbox launch (``python -I -c pass``),
the kernel start until it is ready (launch + imports, or the fork from a template),
the template's own start (once per worker), the setup and given cells, the student's
cells, the hidden probes (which call the student's functions on hidden inputs: the
submission's own computation) and the teardown, and the *overhead*: start + teardown,
what grading adds above the submission's own cell and probe time (issue 25's target is
at most 0.4 s). This runs for every level of ``--levels``, and then prints what the
sandbox adds per kernel against ``none`` (the difference of the overheads). ``--n 0`` runs the phases only.

Nothing is asserted on times (the machine may be shared; see the load averages).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import statistics
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
from course_utils.grading._assemble import SETUP, assemble  # noqa: E402
from course_utils.grading._grader import Limits, grade_submissions  # noqa: E402
from course_utils.grading._kernel import PREIMPORT, Kernel  # noqa: E402
from course_utils.grading._release import load_notebook, release_notebook  # noqa: E402
from course_utils.grading._sandbox import KernelLimits, SandboxError, select_launcher  # noqa: E402
from course_utils.grading._template import TemplateLauncher, template_preimports  # noqa: E402
from course_utils.grading._topic import Topic  # noqa: E402

HARMLESS_ATTACKS = ("malformed_reply", "leak_feedback", "shadow_builtins", "raw_memory")
KINDS = ("correct", "partial", "blank", "broken", "hostile")


def _answers_of(nb: dict) -> list[dict]:
    return [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code"
        and c.get("metadata", {}).get("course", {}).get("role") == "answer"
    ]


def _hostile(nb: dict, mod, toy_topic: bool) -> None:
    fields = {"root": "/nonexistent", "out": "/nonexistent", "marker": "bench"}
    attack = {q: code.format_map(_Default(fields)) for q, code in mod.ANSWERS.items()}
    if toy_topic:
        answers = {q: TOY_SOLUTION[q] for q in mod.HONEST} | attack
        for c in _answers_of(nb):
            q = c["metadata"]["course"]["question"]
            if q in answers:
                c["source"] = answers[q]
    else:  # a real topic: the attack's code replaces the first answer (the rest solved)
        _answers_of(nb)[0]["source"] = next(iter(attack.values()))


def _submissions(root: Path, topic: str, n: int) -> list[tuple[str, str, str]]:
    """``n`` (name, kind, file text) in a fixed mix of :data:`KINDS`."""
    solution = load_notebook(root / "solutions" / f"{topic}.ipynb")
    exercise = release_notebook(solution)
    placeholder = {c["id"]: c["source"] for c in _answers_of(exercise)}
    hostile = [attacks()[a] for a in HARMLESS_ATTACKS]
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        nb = copy.deepcopy(solution if kind in ("correct", "partial", "hostile") else exercise)
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
            _hostile(nb, hostile[i % len(hostile)], topic == toy.TOPIC)
        out.append((f"s{i:03d}_{kind}", kind, text if text is not None else json.dumps(nb)))
    return out


class _Default(dict):
    def __missing__(self, key: str) -> str:
        return "/nonexistent"


def _cpu() -> float:
    """CPU seconds the whole machine has spent (user, nice, system, irq, softirq; from
    ``/proc/stat``): the grader, its pool, the templates, bwrap and every kernel, at
    every level alike, whoever reaps them. Other load on the machine counts too: run
    it on a quiet machine (the load average is printed)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------- phases
def _phases(root: Path, topic: str, level: str, k: int, limits: Limits) -> dict | None:
    """Where one submission's time goes (the solution, run ``k`` times per kind).

    Returns ``{kind: {phase: median seconds}}``, or None if ``level`` cannot start.
    """
    t = Topic.load(root, topic)
    steps, _ = assemble(t.source, t.solution, t.questions)
    try:
        base, _ = select_launcher(level, [])
    except SandboxError as exc:
        print(f"\nphases, level {level}: skipped ({exc})")
        return None
    bare = []
    for _ in range(max(k, 3)):
        t0 = time.perf_counter()
        box = base.start(
            [sys.executable, "-I", "-c", "pass"], {"HOME": "{home}"}, (), KernelLimits()
        )
        box.wait(60)
        box.close()
        bare.append(time.perf_counter() - t0)
    print(f"\nphases of one {topic} submission (its solution), level {base.level}")
    print(f"  bare sandbox launch (python -I -c pass): median {statistics.median(bare):.3f} s")
    kinds = {"fresh": base}
    try:
        pre = template_preimports(t.source, PREIMPORT)
        kinds["template"] = TemplateLauncher(base, pre, [])
    except SandboxError as exc:
        print(f"  template: not available ({exc})")
    rows = {}
    for kind, launcher in kinds.items():
        if kind == "template":
            t0 = time.perf_counter()
            Kernel(limits, [], time.monotonic() + 600, launcher).close()
            tmpl_start = time.perf_counter() - t0
            if launcher.broken:
                print(f"  template: not used ({launcher.broken})")
                continue
        rows[kind] = [_one_run(launcher, steps, limits) for _ in range(k)]
        if kind == "template":
            launcher.close()
            print(f"  template start (imports, once per worker): {tmpl_start:.2f} s")
    cols = ["start", "setup+given", "student", "probes", "teardown", "total", "overhead"]
    print(f"  {'kernels':>9} " + " ".join(f"{c:>11}" for c in cols) + "   (median s)")
    meds = {}
    for kind, phs in rows.items():
        meds[kind] = {c: statistics.median(p[c] for p in phs) for c in cols}
        print(f"  {kind:>9} " + " ".join(f"{meds[kind][c]:>11.3f}" for c in cols))
    return meds


def _all_phases(args, root: Path) -> None:
    phases = {}
    for level in args.levels:
        meds = _phases(root, args.topic, level, args.phases, Limits(timeout=120))
        if meds is not None:
            phases[level] = meds
    _per_kernel_overhead(phases)


def _per_kernel_overhead(phases: dict[str, dict]) -> None:
    """What the sandbox adds per kernel: start + teardown against level ``none``."""
    none = phases.get("none")
    for level, meds in phases.items():
        if level == "none" or none is None:
            continue
        for kind in meds.keys() & none.keys():
            extra = meds[kind]["overhead"] - none[kind]["overhead"]
            own = none[kind]["total"]
            print(
                f"  sandbox cost per {kind} kernel ({level} - none, start + teardown): "
                f"{extra:+.3f} s = {extra / own * 100:+.1f}% of the unsandboxed total "
                f"{own:.3f} s"
            )


def _one_run(launcher, steps: list[dict], limits: Limits) -> dict[str, float]:
    """Seconds per phase of one run of ``steps`` in a new kernel."""
    ph = {"start": 0.0, "setup+given": 0.0, "student": 0.0, "probes": 0.0}
    t0 = time.perf_counter()
    kernel = Kernel(limits, [], time.monotonic() + 600, launcher)
    ph["start"] = time.perf_counter() - t0
    for st in steps:
        t1 = time.perf_counter()
        kernel.request(st, time.monotonic() + 600)
        dt = time.perf_counter() - t1
        key = (
            "probes" if st["op"] == "probe" else "setup+given" if st["seg"] == SETUP else "student"
        )
        ph[key] += dt
    t1 = time.perf_counter()
    kernel.close()
    ph["teardown"] = time.perf_counter() - t1
    ph["total"] = time.perf_counter() - t0
    ph["overhead"] = ph["start"] + ph["teardown"]  # the probes run the student's functions
    return ph


# -------------------------------------------------------------------------- batch
def _batch(args, root, paths, subs, level, kernels, limits, tmp) -> dict | None:
    try:
        real = select_launcher(level, [])[0].level
    except SandboxError as exc:
        print(f"{level}: skipped ({exc})")
        return None
    out = tmp / f"out-{real}-{kernels}"
    cpu0, load0, t0 = _cpu(), os.getloadavg()[0], time.perf_counter()
    grade_submissions(
        args.topic, paths, out, root=root, workers=args.workers, limits=limits,
        sandbox=level, kernels=kernels,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    rows = {r["submission"]: r for r in csv.DictReader((out / "grades.csv").open())}
    lost = [
        name
        for name, _, _ in subs
        if name not in rows
        or not (out / name / "results.json").is_file()
        or not (out / name / "feedback.md").is_file()
    ]
    timeouts = sum(r["status"].count("timeout") for r in rows.values())
    waited = sum(
        "time limit" in (out / n / "feedback.md").read_text() for n in rows if n not in lost
    )
    kinds = sorted({r["isolation"] for r in rows.values()})
    r = {"wall": wall, "cpu": cpu, "rows": rows, "lost": lost, "level": real}
    r["waited"] = waited * args.timeout
    print(
        f"{real:>10} {kernels:>8}: {wall:7.1f} s wall, {wall / args.n:.3f} s/submission, "
        f"{cpu:7.1f} s CPU ({cpu / args.n:.3f} s/submission), load {load0:.1f} -> "
        f"{os.getloadavg()[0]:.1f}, {waited} time-limit stops ({r['waited']:.0f} s of waiting, "
        f"{timeouts} in status), lost {len(lost)}, isolation {', '.join(kinds)}"
    )
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=200, help="submissions (default 200)")
    p.add_argument("--topic", default=toy.TOPIC, help="topic (default: the tests' toy topic)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--levels", nargs="+", default=["auto", "none"], help="sandbox levels")
    p.add_argument("--kernels", nargs="+", default=["template"], choices=("template", "fresh"))
    p.add_argument("--phases", type=int, default=3, help="solution runs per kind (0: skip)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per question")
    p.add_argument("--repeat", type=int, default=1, help="batches per level, interleaved")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    root = ROOT
    if args.topic == toy.TOPIC:
        root = toy.write_toy_course(tmp / "course")
        release_topics(root, [toy.TOPIC])
    limits = Limits(timeout=args.timeout, submission_timeout=20 * args.timeout)
    print(
        f"topic {args.topic}, {args.n} submissions ({', '.join(KINDS)}), {args.workers} "
        f"workers, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start "
        "(figures on a shared machine grow with the load, CPU seconds too: they are the "
        "whole machine's)"
    )
    if args.phases:
        _all_phases(args, root)
    if args.n == 0:  # the phases only
        return
    subs = _submissions(root, args.topic, args.n)
    paths = []
    for name, _, text in subs:
        path = tmp / "subs" / f"{name}.ipynb"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        paths.append(path)
    print(f"\nbatches (timeout {args.timeout:g} s per question):")
    results: dict[tuple[str, str], list[dict]] = {}
    for rep in range(args.repeat):  # interleaved, so a change of load hits every level
        (tmp / f"rep{rep}").mkdir()
        for kernels in args.kernels:
            for level in args.levels:
                r = _batch(args, root, paths, subs, level, kernels, limits, tmp / f"rep{rep}")
                if r is not None:
                    results.setdefault((r["level"], kernels), []).append(r)
    _summary(args, subs, results)
    print(f"load average {os.getloadavg()[0]:.1f} at end; files in {tmp}")


def _summary(args, subs, results: dict[tuple[str, str], list[dict]]) -> None:
    """Medians (and ranges over ``--repeat``) per level, and the overhead over ``none``.

    ``busy`` is the wall time without the deliberate waits: the infinite loops' time limits
    (``waited`` seconds of kernel time, spread over the workers), which are the same at
    every level and would otherwise dilute the sandbox's share.
    """

    def busy(r):
        return r["wall"] - r["waited"] / args.workers

    def med(rs, f):
        return statistics.median(f(r) for r in rs)

    def rng(rs, f):
        vals = [f(r) / args.n for r in rs]
        return f"{min(vals):.3f}-{max(vals):.3f}" if len(vals) > 1 else f"{vals[0]:.3f}"

    print(
        f"\n{'level':>10} {'kernels':>8} {'s/sub wall':>12} {'s/sub busy':>12} "
        f"{'s/sub CPU':>12} {'busy over none':>14} {'CPU over none':>13} {'lost':>5}"
    )
    for (level, kernels), rs in results.items():
        base = results.get(("none", kernels))
        over_b = f"{(med(rs, busy) / med(base, busy) - 1) * 100:+.1f}%" if base else "-"
        over_c = (
            f"{(med(rs, lambda r: r['cpu']) / med(base, lambda r: r['cpu']) - 1) * 100:+.1f}%"
            if base
            else "-"
        )
        lost = sum(len(r["lost"]) for r in rs)
        print(
            f"{level:>10} {kernels:>8} {rng(rs, lambda r: r['wall']):>12} {rng(rs, busy):>12} "
            f"{rng(rs, lambda r: r['cpu']):>12} {over_b:>14} {over_c:>13} {lost:>5}"
        )
    honest = [name for name, kind, _ in subs if kind in ("correct", "partial", "blank")]
    first = next(iter(results.values()), [None])[0]
    for (level, kernels), rs in results.items():
        differ = sorted(
            {n for r in rs for n in honest if r["rows"][n]["total"] != first["rows"][n]["total"]}
        )
        print(
            f"{level} {kernels}: honest submissions scoring differently from the first run: "
            f"{differ or 'none'}"
        )


if __name__ == "__main__":
    main()

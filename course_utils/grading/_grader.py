"""``course-grade grade``: run submissions in sandboxed kernels and score them.

Pipeline for one topic (see docs/GRADING.md for the full story):

1. Load the hidden spec ``grading/NN_topic.py`` and release the solution in memory:
   the released exercise is the *source* program (locked cells, answer placeholders).
2. Run the solution through the same machinery (its answer cells in the source
   program) to get the expected probe values; they stay in this process's memory.
3. For each submission: assemble the program (locked cells from the source, answer
   cells from the submission, matched by cell id), run it in a fresh worker process
   with limits, evaluate each question's probes right after that question's cells,
   and bring back plain data. A crash or timeout in question K gives K zero; a new
   worker replays the earlier cells and grading goes on with K + 1.
4. Compare in this process, write ``grades.csv`` and per-submission ``results.json``
   (Gradescope format) and ``feedback.md``.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import multiprocessing
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import GradingError
from ._release import ReleaseError, find_root, load_notebook, release_notebook, strip_instructor
from ._spec import QuestionSpec, TestSpec, compare, load_spec
from ._worker import MAX_MESSAGE

__all__ = ["Limits", "Topic", "grade_submissions", "cli_grade", "assemble"]

MAX_SUBMISSION_BYTES = 50 * 2**20
MAX_LOG_CHARS = 1_000_000
STARTUP_TIMEOUT = 180.0
PREIMPORT = ["numpy", "torch", "torch.optim", "matplotlib.pyplot", "course_utils.checks"]
SETUP, END = "(setup)", "(end)"


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's kernel (all enforced outside student code)."""

    timeout: float = 60.0  # seconds per question: its cells and its probes
    submission_timeout: float = 600.0  # seconds for the whole submission
    memory_mb: int = 4096  # RLIMIT_AS of the kernel process
    output_chars: int = 200_000  # captured stdout+stderr per kernel
    file_mb: int = 64  # RLIMIT_FSIZE: largest file the kernel may write


class _Failure(Exception):
    """The kernel died, hung or misbehaved; the message is the reason shown to people."""


# ---------------------------------------------------------------------------- the topic
@dataclass
class Topic:
    """Everything the grader needs about one topic (instructor data, grader-side only)."""

    name: str
    root: Path
    source: list[dict]  # released exercise cells (locked + placeholders)
    solution: list[dict]  # solution cells without instructor content
    questions: list[QuestionSpec]

    @classmethod
    def load(cls, root: str | Path, name: str) -> Topic:
        """Load ``solutions/NAME.ipynb`` and ``grading/NAME.py`` under ``root``.

        Raises:
            GradingError: unknown topic, missing spec, malformed spec, or a spec whose
                question ids do not match the solution's ``course`` metadata.
        """
        root = Path(root)
        sol_path = root / "solutions" / f"{name}.ipynb"
        spec_path = root / "grading" / f"{name}.py"
        if not sol_path.exists():
            known = sorted(p.stem for p in (root / "solutions").glob("*.ipynb"))
            raise GradingError(
                f"unknown topic {name!r}: no {sol_path}; known topics: {', '.join(known) or '(none)'}"
            )
        if not spec_path.exists():
            raise GradingError(f"topic {name!r} has no hidden spec {spec_path}")
        try:
            questions = load_spec(spec_path)
            nb = load_notebook(sol_path)
            source = release_notebook(nb, where=str(sol_path))["cells"]
            solution = strip_instructor(nb, where=str(sol_path))
        except (ValueError, ReleaseError) as exc:
            raise GradingError(str(exc)) from None
        in_nb = {_course(c).get("question") for c in source} - {None}
        missing = [q.id for q in questions if q.id not in in_nb]
        if missing:
            raise GradingError(
                f"{spec_path}: question(s) {', '.join(missing)} have no cell with that "
                f"course.question in {sol_path}"
            )
        ungraded = sorted(in_nb - {q.id for q in questions})
        if ungraded:
            print(
                f"course-grade: warning: {sol_path} has cells for {', '.join(ungraded)} "
                f"but {spec_path} has no tests for them (not graded)",
                file=sys.stderr,
            )
        return cls(name=name, root=root, source=source, solution=solution, questions=questions)

    @property
    def forbidden(self) -> list[str]:
        """Paths the student's kernel must not read."""
        return [str(self.root / d) for d in ("solutions", "grading", ".git")]


def _course(cell: Any) -> dict:
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    c = meta.get("course", {}) if isinstance(meta, dict) else {}
    return c if isinstance(c, dict) else {}


def _src(cell: dict) -> str | None:
    s = cell.get("source", "")
    if isinstance(s, str):
        return s
    if isinstance(s, list) and all(isinstance(x, str) for x in s):
        return "".join(s)
    return None


def _norm(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


# -------------------------------------------------------------------------- assembling
def assemble(
    source: list[dict], submitted: list[Any], questions: list[QuestionSpec]
) -> tuple[list[dict], list[str]]:
    """Build the program to run: a list of steps, and notes for the feedback.

    Steps are ``{"op": "exec", "cell", "code", "seg"}`` or ``{"op": "probe", "q",
    "exprs", "seg"}``; ``seg`` is the question a step's time is charged to. Locked cells
    come from ``source``; answer cells (``course.role == "answer"``) from ``submitted``
    (matched by id, else by ``course`` metadata in order); a missing answer keeps the
    placeholder. Extra code cells of the student run after the known cell that precedes
    them in the submission. Probes of question K follow K's last cell.
    """
    notes: list[str] = []
    src_ids = [c["id"] for c in source]
    src_by_id = {c["id"]: c for c in source}
    valid = [c for c in submitted if isinstance(c, dict) and isinstance(c.get("cell_type"), str)]
    by_id: dict[str, dict] = {}
    for c in valid:
        cid = c.get("id")
        if isinstance(cid, str) and cid in src_by_id and cid not in by_id:
            by_id[cid] = c
    # answers without their id (e.g. a cell re-created by copy-paste): match by metadata
    fallback: dict[str, dict] = {}
    for s in source:
        meta = _course(s)
        if s["cell_type"] != "code" or meta.get("role") != "answer" or s["id"] in by_id:
            continue
        for c in valid:
            cm = _course(c)
            if (
                c.get("cell_type") == "code"
                and c.get("id") not in src_by_id
                and cm.get("question") == meta.get("question")
                and cm.get("role") == "answer"
                and not any(c is f for f in fallback.values())
            ):
                fallback[s["id"]] = c
                notes.append(
                    f"Your answer cell for {meta.get('question')} has a different cell id "
                    f"than the exercise; it was matched by its metadata."
                )
                break
    # extra cells, anchored after the last known cell before them
    extras: dict[str | None, list[tuple[str, str]]] = {}
    anchor: str | None = None
    n_extra = 0
    for c in valid:
        cid = c.get("id")
        if isinstance(cid, str) and cid in src_by_id:
            anchor = cid
            continue
        if c.get("cell_type") != "code" or any(c is f for f in fallback.values()):
            continue
        code = _src(c)
        if code is None or not code.strip():
            continue
        n_extra += 1
        extras.setdefault(anchor, []).append((str(cid) if cid else f"extra-{n_extra}", code))
    if n_extra:
        notes.append(
            f"{n_extra} code cell(s) of yours are not in the exercise; each was run right "
            "after the exercise cell that precedes it in your notebook."
        )
    order = [c.get("id") for c in valid if c.get("id") in src_by_id]
    if order != [i for i in src_ids if i in by_id]:
        notes.append("Your cells were reordered; they were run in the exercise's order.")

    last_of = {}
    for s in source:
        q = _course(s).get("question")
        if q:
            last_of[q] = s["id"]
    qids = [q.id for q in questions]
    probes_after: dict[str, list[QuestionSpec]] = {}
    for q in questions:
        probes_after.setdefault(last_of[q.id], []).append(q)

    def seg_of(i: int) -> str:
        q = _course(source[i]).get("question")
        if q in qids:
            return q
        if not any(_course(s).get("question") in qids for s in source[:i]):
            return SETUP
        for s in source[i + 1 :]:
            if _course(s).get("question") in qids:
                return _course(s)["question"]
        return END

    steps: list[dict] = []
    for _, code in extras.get(None, []):
        steps.append({"op": "exec", "cell": "extra", "code": code, "seg": SETUP})
    for i, s in enumerate(source):
        seg = seg_of(i)
        meta = _course(s)
        if s["cell_type"] == "code":
            code = s["source"]
            sub = by_id.get(s["id"]) or fallback.get(s["id"])
            if meta.get("role") == "answer":
                got = _src(sub) if sub is not None and sub.get("cell_type") == "code" else None
                if got is None:
                    notes.append(
                        f"The answer cell `{s['id']}` ({meta.get('question', '?')}) is missing "
                        "from your notebook (deleted, or turned into another cell type); the "
                        "unanswered placeholder was run instead."
                    )
                else:
                    code = got
            elif sub is None:
                notes.append(f"The locked cell `{s['id']}` was missing; the original was restored.")
            else:
                got = _src(sub)
                if got is None or sub.get("cell_type") != "code" or _norm(got) != _norm(code):
                    notes.append(
                        f"The locked cell `{s['id']}` was edited; your changes were ignored "
                        "and the original cell was run."
                    )
            steps.append({"op": "exec", "cell": s["id"], "code": code, "seg": seg})
        for cid, code in extras.get(s["id"], []):
            steps.append({"op": "exec", "cell": cid, "code": code, "seg": seg})
        for q in probes_after.get(s["id"], []):
            exprs = [t.expr for t in q.tests]
            steps.append({"op": "probe", "q": q.id, "exprs": exprs, "seg": q.id})
    return steps, notes


# ------------------------------------------------------------------------- the kernel
def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class _Kernel:
    """One sandboxed worker process and its two protocol pipes."""

    def __init__(self, limits: Limits, forbidden: list[str], deadline: float):
        self.sandbox = tempfile.mkdtemp(prefix="course-grade-")
        r_in, self._w = os.pipe()
        self._r, w_out = os.pipe()
        pkg_parent = str(Path(__file__).resolve().parents[2])
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.sandbox,
            "TMPDIR": self.sandbox,
            "LANG": "C.UTF-8",
            "MPLBACKEND": "agg",
            "MPLCONFIGDIR": _mpl_config_dir(),
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONPATH": os.pathsep.join(
                p for p in (os.environ.get("PYTHONPATH"), pkg_parent) if p
            ),
            "COURSE_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "TORCHINDUCTOR_CACHE_DIR": self.sandbox,
        }
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "course_utils.grading._worker", str(r_in), str(w_out)],
                pass_fds=(r_in, w_out),
                cwd=self.sandbox,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: we kill the whole group
            )
        finally:
            os.close(r_in)
            os.close(w_out)
        os.set_blocking(self._w, False)
        config = {
            "memory_bytes": limits.memory_mb * 2**20,
            "file_bytes": limits.file_mb * 2**20,
            "output_chars": limits.output_chars,
            "forbidden": forbidden,
            "sandbox": self.sandbox,
            "preimport": PREIMPORT,
        }
        try:
            self._send(config, deadline)
            hello = self._recv(min(deadline, time.monotonic() + STARTUP_TIMEOUT))
        except _Failure:
            self.close()
            raise
        if hello != {"op": "ready"}:
            self.close()
            raise _Failure("the kernel did not start properly")

    def _died(self) -> _Failure:
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return _Failure("the kernel stopped answering (it closed its channel)")
        if rc < 0:
            name = _signal_name(-rc)
            why = {
                "SIGSEGV": " (a segmentation fault: C code crashed, e.g. ctypes, or deep recursion)",
                "SIGKILL": " (killed, possibly for using too much memory)",
                "SIGABRT": " (aborted, often an out-of-memory error in C code)",
            }.get(name, "")
            return _Failure(f"the kernel died from {name}{why}")
        return _Failure(
            f"the kernel exited with status {rc} (os._exit, a crash, or exit from a thread)"
        )

    def _send(self, msg: dict, deadline: float) -> None:
        body = json.dumps(msg).encode()
        data = memoryview(len(body).to_bytes(4, "big") + body)
        while data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Failure("timeout")
            _, ready, _ = select.select([], [self._w], [], left)
            if not ready:
                continue
            try:
                n = os.write(self._w, data)
            except (BrokenPipeError, OSError):
                raise self._died() from None
            data = data[n:]

    def _recv(self, deadline: float) -> Any:
        buf = bytearray()
        need = 4
        size = None
        while len(buf) < need:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Failure("timeout")
            ready, _, _ = select.select([self._r], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(self._r, min(need - len(buf), 1 << 20))
            if not chunk:
                raise self._died()
            buf += chunk
            if size is None and len(buf) >= 4:
                size = int.from_bytes(buf[:4], "big")
                if size > MAX_MESSAGE:
                    raise _Failure("the kernel sent a message that is too large")
                need = 4 + size
        try:
            return json.loads(bytes(buf[4:]).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Failure("the kernel sent a malformed message") from None

    def request(self, step: dict, deadline: float) -> dict:
        """Run one step; return its validated reply or raise :class:`_Failure`."""
        if step["op"] == "exec":
            self._send({"op": "exec", "cell": step["cell"], "code": step["code"]}, deadline)
            reply = self._recv(deadline)
            if not (
                isinstance(reply, dict)
                and isinstance(reply.get("ok"), bool)
                and isinstance(reply.get("error"), (str, type(None)))
                and isinstance(reply.get("output"), str)
            ):
                raise _Failure("the kernel sent a malformed reply")
            return reply
        self._send({"op": "probe", "exprs": step["exprs"]}, deadline)
        reply = self._recv(deadline)
        values = reply.get("values") if isinstance(reply, dict) else None
        if not (
            isinstance(values, list)
            and len(values) == len(step["exprs"])
            and all(
                isinstance(v, dict)
                and isinstance(v.get("ok"), bool)
                and (("value" in v) if v["ok"] else isinstance(v.get("error"), str))
                for v in values
            )
            and isinstance(reply.get("output"), str)
        ):
            raise _Failure("the kernel sent a malformed reply")
        return reply

    def close(self) -> None:
        """Kill the kernel's process group and remove its sandbox directory."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, AttributeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, AttributeError):
            pass
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.sandbox, ignore_errors=True)


_MPL_DIR: str | None = None


def _mpl_config_dir() -> str:
    """A matplotlib config dir shared by all kernels, so the font cache is built once."""
    global _MPL_DIR
    if _MPL_DIR is None:
        path = os.environ.get("MPLCONFIGDIR") or os.path.join(
            tempfile.gettempdir(), f"course-grade-mpl-{os.getuid()}"
        )
        os.makedirs(path, exist_ok=True)
        _MPL_DIR = path
    return _MPL_DIR


# ---------------------------------------------------------------------------- running
def run_program(steps: list[dict], limits: Limits, forbidden: list[str]) -> dict:
    """Run assembled steps in sandboxed kernels; returns plain data about the run.

    Returns:
        ``{"probes": {qid: [probe replies]}, "failed": {seg: reason}, "cells":
        [{"cell", "seg", "error"}], "log": str, "time": seconds}``.
    """
    t0 = time.monotonic()
    sub_deadline = t0 + limits.submission_timeout
    probes: dict[str, list] = {}
    failed: dict[str, str] = {}
    cells: list[dict] = []
    log = io.StringIO()
    done: list[dict] = []
    kernel: _Kernel | None = None
    abort: str | None = None
    truncated = False

    def add_log(text: str) -> None:
        if log.tell() < MAX_LOG_CHARS:
            log.write(text[: MAX_LOG_CHARS - log.tell()])

    i = 0
    try:
        while i < len(steps):
            seg = steps[i]["seg"]
            j = i
            while j < len(steps) and steps[j]["seg"] == seg:
                j += 1
            seg_steps, i = steps[i:j], j
            if abort is not None:
                failed.setdefault(seg, abort)
                continue
            if kernel is None:
                try:
                    kernel = _Kernel(limits, forbidden, sub_deadline)
                    for step in done:  # replay what ran before a crash
                        kernel.request(step, sub_deadline)
                except _Failure as exc:
                    if kernel is not None:
                        kernel.close()
                        kernel = None
                    reason = str(exc)
                    if reason == "timeout":
                        reason = f"submission time limit ({limits.submission_timeout:g} s) exceeded"
                    elif done:
                        reason = f"the kernel could not be restored after a crash: {reason}"
                    abort = reason
                    failed.setdefault(seg, abort)
                    continue
            seg_deadline = min(time.monotonic() + limits.timeout, sub_deadline)
            for step in seg_steps:
                try:
                    reply = kernel.request(step, seg_deadline)
                except _Failure as exc:
                    reason = str(exc)
                    if reason == "timeout":
                        if seg_deadline >= sub_deadline:
                            reason = (
                                f"submission time limit ({limits.submission_timeout:g} s) exceeded"
                            )
                            abort = reason
                        else:
                            what = seg if seg not in (SETUP, END) else "the setup cells"
                            reason = (
                                f"time limit exceeded: {what} ran for more than "
                                f"{limits.timeout:g} s (an infinite loop?)"
                            )
                    where = f"cell `{step['cell']}`" if step["op"] == "exec" else "the tests"
                    failed[seg] = f"{reason}, while running {where}"
                    add_log(f"\n[grader] {failed[seg]}\n")
                    kernel.close()
                    kernel = None
                    break
                if reply.get("truncated") is True:
                    truncated = True
                if step["op"] == "exec":
                    add_log(f"--- cell {step['cell']} ---\n{reply['output']}")
                    if reply["error"]:
                        add_log(reply["error"])
                    cells.append({"cell": step["cell"], "seg": seg, "error": reply["error"]})
                else:
                    probes[step["q"]] = reply["values"]
                done.append(step)
    finally:
        if kernel is not None:
            kernel.close()
    return {
        "probes": probes,
        "failed": failed,
        "cells": cells,
        "log": log.getvalue(),
        "time": time.monotonic() - t0,
        "truncated": truncated,
    }


def _run_submission(path: str | None, nb: dict | None, topic_data: dict, limits: dict) -> dict:
    """Pool task: read, assemble and run one submission (returns plain data only).

    Never raises: an unexpected grader error becomes an ``invalid`` result, so one bad
    file cannot stop the batch."""
    try:
        return _run_submission_unsafe(path, nb, topic_data, limits)
    except Exception as exc:  # pragma: no cover - a grader bug, reported in the row
        return {"invalid": f"grader failure ({type(exc).__name__}: {exc})"}


def _run_submission_unsafe(path, nb, topic_data, limits) -> dict:
    lim = Limits(**limits)
    if nb is None:
        try:
            p = Path(path)
            if p.stat().st_size > MAX_SUBMISSION_BYTES:
                raise ValueError(f"the file is larger than {MAX_SUBMISSION_BYTES // 2**20} MB")
            nb = json.loads(p.read_text(encoding="utf-8"))
            if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
                raise ValueError("it has no list of cells")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
            return {"invalid": f"not a readable notebook ({type(exc).__name__}: {exc})"}
    questions = [
        QuestionSpec(q["id"], q["title"], q["points"], tuple(TestSpec(**t) for t in q["tests"]))
        for q in topic_data["questions"]
    ]
    steps, notes = assemble(topic_data["source"], nb["cells"], questions)
    result = run_program(steps, lim, topic_data["forbidden"])
    if result["truncated"]:
        notes.append(
            f"Your notebook printed more than {lim.output_chars} characters; the rest of "
            "the output was discarded (this costs no points)."
        )
    result["notes"] = notes
    return result


# ---------------------------------------------------------------------------- scoring
def _score(topic: Topic, run: dict, expected: dict) -> dict:
    """Compare a run's probes with the expected ones (grader side); plain-data report."""
    questions = []
    for qi, q in enumerate(topic.questions):
        failure = run.get("failed", {}).get(q.id)
        values = run.get("probes", {}).get(q.id)
        errors = [
            c["error"].strip().splitlines()[-1]
            for c in run.get("cells", [])
            if c["seg"] == q.id and c["error"]
        ]
        tests = []
        for ti, t in enumerate(q.tests):
            if "invalid" in run:
                ok, msg = False, f"not graded: {run['invalid']}"
            elif failure is not None or values is None:
                ok, msg = False, f"not graded: {failure or 'the tests could not run'}"
            elif not values[ti]["ok"]:
                err = values[ti]["error"].strip().splitlines()
                last = err[-1] if err else "an error"
                unanswered = any(e.startswith("NotImplementedError") for e in errors)
                if last.startswith("NotImplementedError") or unanswered:
                    ok, msg = (
                        False,
                        "not answered yet (the placeholder still raises NotImplementedError)",
                    )
                else:
                    ok, msg = False, f"your code raised {last}"
            else:
                ok, msg = compare(t, values[ti]["value"], expected[q.id][ti])
            tests.append(
                {
                    "name": t.name,
                    "points": t.points if ok else 0.0,
                    "max_points": t.points,
                    "passed": ok,
                    "message": msg,
                    "expects": t.expects,
                }
            )
        questions.append(
            {
                "id": q.id,
                "number": qi + 1,
                "title": q.title,
                "points": sum(t["points"] for t in tests),
                "max_points": q.points,
                "failure": failure,
                "errors": errors,
                "tests": tests,
            }
        )
    total = sum(q["points"] for q in questions)
    max_total = sum(q["max_points"] for q in questions)
    general = [
        f"{'Setup' if seg == SETUP else 'Final'} cells: {reason}"
        for seg, reason in run.get("failed", {}).items()
        if seg in (SETUP, END)
    ]
    if "invalid" in run:
        status = f"invalid: {run['invalid']}"
    elif run.get("failed"):
        status = "error: " + ", ".join(
            f"{seg.strip('()')} {_failure_kind(reason)}" for seg, reason in run["failed"].items()
        )
    else:
        status = "ok"
    return {
        "questions": questions,
        "total": total,
        "max_total": max_total,
        "status": status,
        "notes": run.get("notes", []) + general,
        "time": run.get("time", 0.0),
    }


def _failure_kind(reason: str) -> str:
    if "submission time limit" in reason:
        return "submission-timeout"
    if "time limit" in reason:
        return "timeout"
    if "malformed" in reason or "too large" in reason:
        return "protocol-error"
    if "could not be restored" in reason:
        return "not-restored"
    return "crash"


def _fmt(x: float) -> str:
    return f"{x:g}"


def _feedback_md(name: str, topic: str, report: dict) -> str:
    out = [
        f"# Feedback for `{name}` ({topic})",
        "",
        f"**Total: {_fmt(report['total'])} / {_fmt(report['max_total'])} points**",
        "",
    ]
    if report["status"].startswith("invalid"):
        out += [f"Your file could not be graded: {report['status'][9:]}.", ""]
    for q in report["questions"]:
        out += [
            f"## Question {q['number']} ({q['id']}): {q['title']}: "
            f"{_fmt(q['points'])} / {_fmt(q['max_points'])} points",
            "",
        ]
        if q["failure"] and not report["status"].startswith("invalid"):
            out += [f"**Not graded:** {q['failure']}.", ""]
        for t in q["tests"]:
            mark = "passed" if t["passed"] else "failed"
            line = f"- {t['name']} ({_fmt(t['points'])}/{_fmt(t['max_points'])}, {mark})"
            if not t["passed"]:
                line += f": {t['message']}."
                if t["expects"]:
                    line += f" Expected: {t['expects']}."
            out.append(line)
        if q["errors"]:
            out += ["", "Errors while running this question's cells:"]
            out += [f"    {e[:300]}" for e in q["errors"][:5]]
        out.append("")
    if report["notes"]:
        out += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    return "\n".join(out)


def _results_json(report: dict) -> dict:
    tests = []
    for q in report["questions"]:
        for t in q["tests"]:
            msg = t["message"] if t["passed"] else f"{t['message']}. Expected: {t['expects']}"
            tests.append(
                {
                    "name": f"{q['id']} {q['title']}: {t['name']}",
                    "number": f"{q['number']}.{len([x for x in tests if x['number'].startswith(str(q['number']) + '.')]) + 1}",
                    "score": t["points"],
                    "max_score": t["max_points"],
                    "status": "passed" if t["passed"] else "failed",
                    "output": msg,
                    "visibility": "visible",
                }
            )
    summary = [f"Total: {_fmt(report['total'])} / {_fmt(report['max_total'])}"]
    summary += [
        f"{q['id']}: not graded: {q['failure']}" for q in report["questions"] if q["failure"]
    ]
    summary += report["notes"]
    return {
        "score": report["total"],
        "execution_time": round(report["time"], 3),
        "output": "\n".join(summary),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


# ---------------------------------------------------------------------------- the batch
def _topic_data(topic: Topic) -> dict:
    return {
        "source": topic.source,
        "questions": [
            {
                "id": q.id,
                "title": q.title,
                "points": q.points,
                "tests": [asdict(t) for t in q.tests],
            }
            for q in topic.questions
        ],
        "forbidden": topic.forbidden,
    }


def expected_values(topic: Topic, limits: Limits) -> dict:
    """Run the solution in a sandboxed kernel; return ``{qid: [plain values]}``.

    Raises:
        GradingError: if the solution crashes, a probe fails on it, or it fails one of
            its own ``max``/``min`` tests (the spec and the solution disagree).
    """
    data = _topic_data(topic)
    data["forbidden"] = []  # the solution is trusted
    run = _run_submission(None, {"cells": topic.solution}, data, asdict(limits))
    if "invalid" in run:
        raise GradingError(f"the solution of {topic.name} could not be run: {run['invalid']}")
    problems = [f"{seg}: {why}" for seg, why in run["failed"].items()]
    expected = {}
    for q in topic.questions:
        vals = run["probes"].get(q.id)
        if vals is None:
            continue
        expected[q.id] = []
        for t, v in zip(q.tests, vals, strict=True):
            if not v["ok"]:
                problems.append(f"{q.id} / {t.name}: the solution raised {v['error'].strip()}")
                expected[q.id].append(None)
                continue
            ok, msg = compare(t, v["value"], v["value"])
            if not ok:
                problems.append(f"{q.id} / {t.name}: the solution fails this test ({msg})")
            expected[q.id].append(v["value"])
    bad_cells = [f"cell {c['cell']}: {c['error'].strip()}" for c in run["cells"] if c["error"]]
    if problems or bad_cells:
        raise GradingError(
            f"the solution of {topic.name} does not pass its own hidden tests:\n  "
            + "\n  ".join(problems + bad_cells)
        )
    return expected


def _stems(paths: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        stem = p.stem if p.name.endswith(".ipynb") else p.name
        stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem) or "submission"
        if stem in ("grades.csv",):
            stem = f"{stem}_"
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return out


def grade_submissions(
    topic: str,
    submissions: list[str | Path],
    out: str | Path,
    *,
    root: str | Path | None = None,
    workers: int = 1,
    limits: Limits | None = None,
    force: bool = False,
    quiet: bool = True,
) -> list[dict]:
    """Grade notebooks and write ``grades.csv``, ``<name>/results.json``, ``feedback.md``.

    Args:
        topic: topic stem ``NN_topic`` (needs ``solutions/`` and ``grading/`` files).
        submissions: notebook paths; unreadable files are graded zero, status invalid.
        out: output directory; must be new or empty unless ``force``.
        root: course root (default: found from the current directory).
        workers: submissions graded in parallel (a process pool).
        limits: resource limits (:class:`Limits`).
        force: allow a non-empty ``out``; files the grader writes are replaced.
        quiet: do not print progress.

    Returns:
        One report dict per submission (``name``, ``total``, ``max_total``, ``status``,
        ``questions``, ``notes``), in the order given.

    Raises:
        GradingError: bad arguments, unknown topic, bad spec, or a solution that fails
            its own tests. Nothing a submission does raises.
    """
    limits = limits or Limits()
    if not isinstance(workers, int) or workers < 1:
        raise GradingError(f"workers must be a positive int, got {workers!r}")
    if not submissions:
        raise GradingError("no submissions given")
    root = Path(root).resolve() if root else find_root()
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise GradingError(f"--out {out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not force:
        raise GradingError(
            f"--out {out} is not empty; choose a new directory or pass --force to replace "
            "the grader's files in it"
        )
    t = Topic.load(root, topic)
    paths = [Path(s) for s in submissions]
    out.mkdir(parents=True, exist_ok=True)
    before = {p for p in out.rglob("*")}
    forbidden = [*t.forbidden, str(out)]
    data = _topic_data(t)
    data["forbidden"] = forbidden
    t0 = time.monotonic()
    expected = expected_values(t, limits)
    if not quiet:
        print(f"solution run: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    lim = asdict(limits)
    if workers == 1:
        runs = []
        for p in paths:
            runs.append(_run_submission(str(p), None, data, lim))
            if not quiet:
                print(f"graded {p.name}", file=sys.stderr)
    else:
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_run_submission, str(p), None, data, lim) for p in paths]
            runs = []
            for p, f in zip(paths, futures, strict=True):
                try:
                    runs.append(f.result())
                except Exception as exc:  # a broken pool must not lose the batch silently
                    runs.append({"invalid": f"grader failure ({type(exc).__name__}: {exc})"})
                if not quiet:
                    print(f"graded {p.name}", file=sys.stderr)
    reports = []
    names = _stems(paths)
    for name, run in zip(names, runs, strict=True):
        report = _score(t, run, expected)
        report["name"] = name
        reports.append(report)
        d = out / name
        if d.exists() and not d.is_dir():
            d.unlink()
        d.mkdir(exist_ok=True)
        (d / "results.json").write_text(json.dumps(_results_json(report), indent=1) + "\n")
        (d / "feedback.md").write_text(_feedback_md(name, t.name, report))
        (d / "output.log").write_text(run.get("log", ""))
    qids = [q.id for q in t.questions]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["submission", *qids, "total", "max_total", "status"])
    for r in reports:
        w.writerow(
            [r["name"], *(_fmt(q["points"]) for q in r["questions"])]
            + [_fmt(r["total"]), _fmt(r["max_total"]), r["status"]]
        )
    (out / "grades.csv").write_text(buf.getvalue())
    ours = (
        {out / "grades.csv"}
        | {out / n for n in names}
        | {out / n / f for n in names for f in ("results.json", "feedback.md", "output.log")}
    )
    intruders = sorted(p for p in out.rglob("*") if p not in before and p not in ours)
    for p in intruders:  # only a submission that escaped the sandbox could create these
        print(f"course-grade: warning: removing unexpected file {p}", file=sys.stderr)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return reports


def cli_grade(args) -> int:
    """``course-grade grade``: see :func:`grade_submissions`."""
    limits = Limits(
        timeout=args.timeout, submission_timeout=args.submission_timeout, memory_mb=args.memory
    )
    reports = grade_submissions(
        args.topic,
        args.submissions,
        args.out,
        root=args.root,
        workers=args.workers,
        limits=limits,
        force=args.force,
        quiet=args.quiet,
    )
    if not args.quiet:
        width = max(len(r["name"]) for r in reports)
        for r in reports:
            print(
                f"{r['name']:<{width}}  {_fmt(r['total']):>5} / {_fmt(r['max_total'])}  {r['status']}"
            )
        print(f"wrote {Path(args.out) / 'grades.csv'} and {len(reports)} report folder(s)")
    return 0

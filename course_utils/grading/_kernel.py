"""The kernel protocol: start a sandboxed worker, send it steps, validate its replies.

:class:`Kernel` wraps one worker process (started by a :mod:`._sandbox` launcher) and
its two protocol pipes; every reply is size-capped and checked field by field before
the grader uses it, so a forged, malformed or oversized reply is that submission's
failure (:class:`KernelFailure`), never the batch's. :func:`run_program` runs an
assembled program, restarting the kernel after a crash.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._assemble import END, SETUP
from ._sandbox import KernelLimits, Launcher, Sandboxed, SandboxError

__all__ = ["Limits", "Kernel", "KernelFailure", "run_program", "MAX_REPLY_BYTES"]

MAX_LOG_CHARS = 1_000_000
MAX_REPLY_BYTES = 8 * 2**20  # one reply; the largest legitimate one is a few kB
MAX_PROBE_BYTES = 16 * 2**20  # all probe replies of one submission together
MAX_ERROR_CHARS = 4000
STARTUP_TIMEOUT = 180.0
PREIMPORT = ["numpy", "torch", "torch.optim", "matplotlib.pyplot", "course_utils.checks"]


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's kernel (all enforced outside student code)."""

    timeout: float = 60.0  # seconds per question: its cells and its probes
    submission_timeout: float = 600.0  # seconds for the whole submission
    memory_mb: int = 4096  # RLIMIT_AS of each kernel process
    output_chars: int = 200_000  # captured stdout+stderr per kernel
    file_mb: int = 64  # RLIMIT_FSIZE: largest file the kernel may write
    processes: int = 64  # RLIMIT_NPROC: processes + threads (sandboxed levels)
    tmp_mb: int = 256  # size of each private tmpfs (home, /tmp, /dev/shm; bubblewrap)

    def kernel_limits(self) -> KernelLimits:
        """The :class:`KernelLimits` a launcher applies."""
        return KernelLimits(
            memory_bytes=self.memory_mb * 2**20,
            file_bytes=self.file_mb * 2**20,
            processes=self.processes,
            cpu_seconds=int(self.submission_timeout) + 60,
            tmp_bytes=self.tmp_mb * 2**20,
        )


class KernelFailure(Exception):
    """The kernel died, hung or misbehaved; the message is the reason shown to people."""


_Failure = KernelFailure


# ------------------------------------------------------------------------- the kernel
def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class Kernel:
    """One sandboxed worker process and its two protocol pipes."""

    def __init__(self, limits: Limits, forbidden: list[str], deadline: float, launcher: Launcher):
        self.limits = limits
        r_in, self._w = os.pipe()
        self._r, w_out = os.pipe()
        pkg_parent = str(Path(__file__).resolve().parents[2])
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "{home}",
            "TMPDIR": "{home}",
            "LANG": "C.UTF-8",
            "MPLBACKEND": "agg",
            "MPLCONFIGDIR": "{home}/.config/matplotlib",  # per kernel: nothing shared
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONPATH": pkg_parent,
            "COURSE_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "TORCHINDUCTOR_CACHE_DIR": "{home}/.cache/torchinductor",
        }
        argv = [sys.executable, "-s", "-m", "course_utils.grading._worker", str(r_in), str(w_out)]
        try:
            self.box: Sandboxed = launcher.start(argv, env, (r_in, w_out), limits.kernel_limits())
        except (OSError, SandboxError) as exc:  # this kernel's failure, not the batch's
            os.close(self._w)
            os.close(self._r)
            raise _Failure(f"the sandbox could not start a kernel ({exc})") from None
        finally:
            os.close(r_in)
            os.close(w_out)
        os.set_blocking(self._w, False)
        config = {
            "memory_bytes": limits.memory_mb * 2**20,
            "file_bytes": limits.file_mb * 2**20,
            "output_chars": limits.output_chars,
            "forbidden": forbidden,
            "sandbox": None,  # the worker's working directory
            "preimport": PREIMPORT,
        }
        try:
            self._send(config, deadline)
            hello = self._recv(min(deadline, time.monotonic() + STARTUP_TIMEOUT), 1024)
        except _Failure:
            self.close()
            raise
        if hello != {"op": "ready"}:
            self.close()
            raise _Failure("the kernel did not start properly")

    def _died(self) -> _Failure:
        try:
            rc = self.box.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return _Failure("the kernel stopped answering (it closed its channel)")
        if rc < 0:
            name = _signal_name(-rc)
            why = {
                "SIGSEGV": " (a segmentation fault: C code crashed, e.g. ctypes, or deep recursion)",
                "SIGKILL": " (killed, possibly for using too much memory)",
                "SIGABRT": " (aborted, often an out-of-memory error in C code)",
                "SIGXCPU": " (its CPU time limit was reached)",
                "SIGXFSZ": " (it wrote a file larger than the limit)",
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

    def _recv(self, deadline: float, limit: int = MAX_REPLY_BYTES) -> Any:
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
                if size > limit:
                    raise _Failure("the kernel sent a reply that is too large")
                need = 4 + size
        try:
            return json.loads(bytes(buf[4:]).decode("utf-8"))
        except Exception:  # bad UTF-8, bad JSON, nesting deep enough for RecursionError
            raise _Failure("the kernel sent a malformed reply") from None

    def request(self, step: dict, deadline: float) -> dict:
        """Run one step; return its validated, capped reply or raise :class:`KernelFailure`.

        An ``exec`` reply is ``{"ok", "error", "output", "truncated"}``; a ``probe``
        reply ``{"values", "output", "truncated"}`` with one ``{"ok", "value"}`` or
        ``{"ok", "error"}`` per expression. Strings are cut to the limits here.
        """
        if step["op"] == "exec":
            self._send({"op": "exec", "cell": step["cell"], "code": step["code"]}, deadline)
        else:
            self._send({"op": "probe", "exprs": step["exprs"]}, deadline)
        reply = self._recv(deadline)
        if not isinstance(reply, dict) or not isinstance(reply.get("output"), str):
            raise _Failure("the kernel sent a malformed reply")
        out = {
            "output": reply["output"][: self.limits.output_chars],
            "truncated": reply.get("truncated") is True,
        }
        if step["op"] == "exec":
            ok, error = reply.get("ok"), reply.get("error")
            if not isinstance(ok, bool) or not isinstance(error, (str, type(None))):
                raise _Failure("the kernel sent a malformed reply")
            out.update(ok=ok, error=None if error is None else error[-MAX_ERROR_CHARS:])
            return out
        out["values"] = _probe_values(reply.get("values"), len(step["exprs"]))
        out["size"] = len(json.dumps(out["values"]))
        return out

    def close(self) -> None:
        """Kill the kernel and everything it started (see :meth:`Sandboxed.close`)."""
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.box.close()


def _probe_values(values: Any, n: int) -> list[dict]:
    """A probe reply's ``values``, checked: ``n`` entries ``{"ok", "value" | "error"}``."""
    if not isinstance(values, list) or len(values) != n:
        raise _Failure("the kernel sent a malformed reply")
    clean = []
    for v in values:
        if not isinstance(v, dict) or not isinstance(v.get("ok"), bool):
            raise _Failure("the kernel sent a malformed reply")
        if v["ok"]:
            if "value" not in v:
                raise _Failure("the kernel sent a malformed reply")
            clean.append({"ok": True, "value": v["value"]})
        else:
            if not isinstance(v.get("error"), str):
                raise _Failure("the kernel sent a malformed reply")
            clean.append({"ok": False, "error": v["error"][-MAX_ERROR_CHARS:]})
    return clean


# ---------------------------------------------------------------------------- running
def run_program(
    steps: list[dict], limits: Limits, forbidden: list[str], launcher: Launcher
) -> dict:
    """Run assembled steps in sandboxed kernels; returns plain data about the run.

    Returns:
        ``{"probes": {qid: [probe replies]}, "failed": {seg: reason}, "cells":
        [{"cell", "seg", "error"}], "log": str, "time": seconds, "isolation": the
        levels of the kernels that ran (``bubblewrap+template``, ``bubblewrap``, ...)}``.
    """
    run = _Run(limits, forbidden, launcher)
    try:
        for seg, seg_steps in _segments(steps):
            if run.abort is not None:
                run.failed.setdefault(seg, run.abort)
            elif run.ensure_kernel(seg):
                run.segment(seg, seg_steps)
    finally:
        run.close()
    return run.result()


def _segments(steps: list[dict]):
    """``(seg, its consecutive steps)`` in order."""
    i = 0
    while i < len(steps):
        j = i
        while j < len(steps) and steps[j]["seg"] == steps[i]["seg"]:
            j += 1
        yield steps[i]["seg"], steps[i:j]
        i = j


class _Run:
    """The state of one submission's run: its kernel, what ran, what failed."""

    def __init__(self, limits: Limits, forbidden: list[str], launcher: Launcher):
        self.limits, self.forbidden, self.launcher = limits, forbidden, launcher
        self.t0 = time.monotonic()
        self.deadline = self.t0 + limits.submission_timeout
        self.probes: dict[str, list] = {}
        self.failed: dict[str, str] = {}
        self.cells: list[dict] = []
        self.log = io.StringIO()
        self.done: list[dict] = []  # steps that completed: replayed after a crash
        self.kernel: Kernel | None = None
        self.abort: str | None = None
        self.truncated = False
        self.probe_bytes = 0
        self.levels: list[str] = []  # how each kernel was started (template or launch)

    def add_log(self, text: str) -> None:
        if self.log.tell() < MAX_LOG_CHARS:
            self.log.write(text[: MAX_LOG_CHARS - self.log.tell()])

    def ensure_kernel(self, seg: str) -> bool:
        """A live kernel with every completed step replayed; False (and the run is
        aborted) if none can be had."""
        if self.kernel is not None:
            return True
        try:
            self.kernel = Kernel(self.limits, self.forbidden, self.deadline, self.launcher)
            if self.kernel.box.level not in self.levels:
                self.levels.append(self.kernel.box.level)
            for step in self.done:  # replay what ran before a crash
                self.kernel.request(step, self.deadline)
            return True
        except _Failure as exc:
            self.close()
            reason = str(exc)
            if reason == "timeout":
                reason = f"submission time limit ({self.limits.submission_timeout:g} s) exceeded"
            elif self.done:
                reason = f"the kernel could not be restored after a crash: {reason}"
            self.abort = reason
            self.failed.setdefault(seg, reason)
            return False

    def segment(self, seg: str, seg_steps: list[dict]) -> None:
        seg_deadline = min(time.monotonic() + self.limits.timeout, self.deadline)
        for step in seg_steps:
            try:
                reply = self.kernel.request(step, seg_deadline)
            except _Failure as exc:
                where = f"cell `{step['cell']}`" if step["op"] == "exec" else "the tests"
                self.failed[seg] = f"{self._reason(exc, seg, seg_deadline)}, while running {where}"
                self.add_log(f"\n[grader] {self.failed[seg]}\n")
                self.close()
                return
            self.record(seg, step, reply)

    def _reason(self, exc: _Failure, seg: str, seg_deadline: float) -> str:
        reason = str(exc)
        if reason != "timeout":
            return reason
        if seg_deadline >= self.deadline:
            self.abort = f"submission time limit ({self.limits.submission_timeout:g} s) exceeded"
            return self.abort
        what = seg if seg not in (SETUP, END) else "the setup cells"
        return (
            f"time limit exceeded: {what} ran for more than {self.limits.timeout:g} s "
            "(an infinite loop?)"
        )

    def record(self, seg: str, step: dict, reply: dict) -> None:
        if reply.get("truncated") is True:
            self.truncated = True
        if step["op"] == "exec":
            self.add_log(f"--- cell {step['cell']} ---\n{reply['output']}")
            if reply["error"]:
                self.add_log(reply["error"])
            self.cells.append({"cell": step["cell"], "seg": seg, "error": reply["error"]})
        else:
            self.probe_bytes += reply["size"]
            if self.probe_bytes > MAX_PROBE_BYTES:
                self.failed[seg] = "the values your code returned to the tests are too large"
                return
            self.probes[step["q"]] = reply["values"]
        self.done.append(step)

    def close(self) -> None:
        if self.kernel is not None:
            kernel, self.kernel = self.kernel, None
            kernel.close()

    def result(self) -> dict:
        return {
            "probes": self.probes,
            "failed": self.failed,
            "cells": self.cells,
            "log": self.log.getvalue(),
            "time": time.monotonic() - self.t0,
            "truncated": self.truncated,
            "isolation": ", ".join(self.levels),
        }

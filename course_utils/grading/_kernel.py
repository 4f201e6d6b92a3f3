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
        values = reply.get("values")
        if not isinstance(values, list) or len(values) != len(step["exprs"]):
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
        out["values"] = clean
        out["size"] = len(json.dumps(clean))
        return out

    def close(self) -> None:
        """Kill the kernel and everything it started (see :meth:`Sandboxed.close`)."""
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.box.close()


# ---------------------------------------------------------------------------- running
def run_program(
    steps: list[dict], limits: Limits, forbidden: list[str], launcher: Launcher
) -> dict:
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
    kernel: Kernel | None = None
    abort: str | None = None
    truncated = False
    probe_bytes = 0
    levels: list[str] = []  # how each kernel was started (template or launch)

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
                    kernel = Kernel(limits, forbidden, sub_deadline, launcher)
                    if kernel.box.level not in levels:
                        levels.append(kernel.box.level)
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
                    probe_bytes += reply["size"]
                    if probe_bytes > MAX_PROBE_BYTES:
                        failed[seg] = "the values your code returned to the tests are too large"
                        continue
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
        "isolation": ", ".join(levels),
    }

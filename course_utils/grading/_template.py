"""Kernel templates: import once, fork one isolated kernel per submission (private).

A fresh kernel spends most of its start-up importing NumPy, torch, matplotlib and
SciPy. A *template* is a process that does those imports once and then forks one
kernel per request. It is started by a :mod:`._sandbox` launcher like any kernel, but
it never receives a spec, an expected value or a submission: its only input is the
list of module names to import (the released exercise's imports, which students
have) and, per kernel, two protocol pipes, a uid and the resource limits.

Protocol (a ``SOCK_SEQPACKET`` socket, one JSON object per packet, file descriptors
as ``SCM_RIGHTS``): ``{"preimport": [...]}`` -> ``{"op": "ready", "threads": n}``;
``{"op": "spawn", ...}`` + two fds -> ``{"op": "spawned", "id", "ns"}``;
``{"op": "wait", "id", "timeout"}`` -> ``{"op": "status", "status": int | None}``;
``{"op": "kill", "id", "timeout"}`` -> ``{"op": "killed", "gone", "status"}``.

At level ``bubblewrap`` the template runs under bwrap as today's kernels do (same
read-only binds, private tmpfs, no network), as root without a user namespace,
keeping only ``CAP_SYS_ADMIN``, ``CAP_SETUID`` and ``CAP_SETGID``. Each kernel is
made like this (see :func:`_spawn_isolated`):

1. the template sets a new PID namespace for its next children (``unshare``) and
   spawns ``sleep`` as its PID 1 (``posix_spawn``: no copy of the template's memory;
   it only holds the namespace: killing it kills every process in the namespace);
2. the template forks the kernel into the namespace (PID 2) and puts its own
   namespace back (``setns``);
3. the kernel, still root, unshares the mount, IPC, UTS, network and cgroup
   namespaces, makes every mount private, mounts a fresh ``/proc`` (its own
   namespace only) and fresh size-capped tmpfs on ``/tmp``, ``/dev/shm`` and the home
   directory (hiding the template's);
4. it enters the new home directory, drops to its per-kernel uid (all capabilities
   go), dies with the template (``PR_SET_PDEATHSIG``), sets ``no_new_privs``, loads
   the seccomp filter, sets the resource limits, keeps only its two protocol pipes
   (stdin/stdout/stderr become ``/dev/null``) and runs the worker loop of
   :mod:`._worker`.

To close a kernel the template kills its init and reaps the kernel and the init; an
init is reaped only once every process of its namespace is gone.

At level ``none`` (``--no-sandbox``) the template is a plain child process and the
kernel is a plain fork in its own session with the limits (no isolation, as before).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

from ._sandbox import (
    HOME,
    BwrapLauncher,
    KernelLimits,
    Launcher,
    PlainLauncher,
    SandboxError,
    _pids_in_ns,
    _set_limits,
    _UidSlot,
    seccomp_program,
)

__all__ = ["TemplateLauncher", "template_preimports"]

_MAX_PACKET = 1 << 16
SPAWN_TIMEOUT = 60.0
STARTUP_TIMEOUT = 300.0
_CLONE_NEWNS = 0x00020000
_CLONE_NEWCGROUP = 0x02000000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT, _MS_BIND = 1, 2, 4, 8, 32, 4096
_MS_REC, _MS_PRIVATE = 1 << 14, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP = 1, 4, 38, 22
_SETUP_FAILED = 121  # exit status of a kernel whose isolation could not be set up
# PID 1 of each kernel's namespace (it holds the namespace; it runs no Python)
_SLEEP = shutil.which("sleep", path="/usr/bin:/bin") or "/bin/sleep"
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


# ----------------------------------------------------------------- what to preimport
def template_preimports(source: list[dict], base: list[str]) -> list[str]:
    """Modules the template imports: ``base`` and those the exercise's code imports.

    Only absolute ``import x.y`` / ``from x.y import z`` statements of the *released*
    exercise (public text, the same for every student) count; nothing is run.
    """
    import ast

    names = list(base)
    for cell in source:
        if cell.get("cell_type") != "code":
            continue
        text = cell.get("source", "")
        text = text if isinstance(text, str) else "".join(text)
        try:
            tree = ast.parse(text)
        except SyntaxError:  # magics etc.: no imports taken from this cell
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
    out: list[str] = []
    for n in names:
        if _MODULE_NAME.fullmatch(n) and n not in out:
            out.append(n)
    return out


# ------------------------------------------------------------------------ host side
def _send(sock: socket.socket, msg: dict, fds: tuple[int, ...] = ()) -> None:
    data = json.dumps(msg).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def _recv(sock: socket.socket, timeout: float) -> tuple[dict | None, list[int]]:
    ready, _, _ = select.select([sock], [], [], max(timeout, 0.0))
    if not ready:
        raise TimeoutError("no answer")
    data, fds, _, _ = socket.recv_fds(sock, _MAX_PACKET, 4)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    msg = json.loads(data.decode())
    if not isinstance(msg, dict):
        raise ValueError("not an object")
    return msg, fds


MAX_FAILURES = 3  # template failures in a row before kernels are launched one by one


class _Unusable(SandboxError):
    """Not a passing failure: the template is threaded, or its probe kernel saw
    something it must not (it is not used again)."""


class _Template:
    """One running template process (host side): its sandbox and its control socket."""

    def __init__(self, base: Launcher, env: dict, limits: KernelLimits, preimport: list[str]):
        self.base = base
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        argv = [sys.executable, "-s", "-m", "course_utils.grading._template", str(theirs.fileno())]
        tlimits = KernelLimits(**{**limits.__dict__, "processes": None, "cpu_seconds": 10**6})
        try:
            if isinstance(base, BwrapLauncher):
                self.box = base.start_template(argv, env, (theirs.fileno(),), tlimits)
            else:
                self.box = base.start(argv, env, (theirs.fileno(),), tlimits)
        except (OSError, SandboxError) as exc:
            ours.close()
            raise SandboxError(f"the template did not start ({exc})") from None
        finally:
            theirs.close()
        try:
            _send(self.sock, {"preimport": preimport})
            hello, _ = _recv(self.sock, STARTUP_TIMEOUT)
        except (OSError, ValueError, TimeoutError) as exc:
            self.close()
            raise SandboxError(f"the template did not start ({exc})") from None
        if not hello or hello.get("op") != "ready":
            self.close()
            raise SandboxError(f"the template did not start ({hello})")
        if isinstance(base, BwrapLauncher) and not hello.get("init"):
            self.close()
            raise _Unusable("no sleep program for the kernels' namespaces (/usr/bin/sleep)")
        if hello.get("threads") != 1:
            self.close()
            raise _Unusable(
                f"the template has {hello.get('threads')} threads after its imports "
                f"({str(hello.get('thread_names'))[:200]}; forking a threaded process is unsafe)"
            )
        self.dead = False
        self.why = ""  # what killed it, when a request finds it dead

    def request(self, msg: dict, fds: tuple[int, ...] = (), timeout: float = SPAWN_TIMEOUT):
        try:
            _send(self.sock, msg, fds)
            reply, extra = _recv(self.sock, timeout)
        except (OSError, ValueError, TimeoutError) as exc:
            self.dead = True
            self.why = f"{msg.get('op')} request: {type(exc).__name__}: {exc}"
            raise SandboxError(f"the kernel template stopped answering ({exc})") from None
        for fd in extra:
            os.close(fd)
        if reply is None:
            self.dead = True
            self.why = f"{msg.get('op')} request: the template closed its socket"
            raise SandboxError("the kernel template exited")
        return reply

    def alive(self) -> bool:
        return not self.dead and self.box.proc.poll() is None

    def death(self) -> str:
        """Why it is not alive: the failed request, its exit status, its stderr's end."""
        parts = [self.why] if self.why else []
        rc = self.box.proc.poll()
        if rc is not None:
            parts.append(f"exit status {rc}")
        tail = " ".join(self.box.stderr_tail(300).split())
        if tail:
            parts.append(f"stderr: {tail}")
        return "; ".join(parts) or "unknown"

    def close(self) -> None:
        self.dead = True
        with contextlib.suppress(OSError):
            self.sock.close()
        self.box.close()


class ForkedKernel:
    """A kernel forked from a template: what :class:`._sandbox.Sandboxed` is for a
    per-kernel launch (``level``, :meth:`wait`, :meth:`close`)."""

    def __init__(self, template: _Template, kid: int, ns: str | None, slot, level: str):
        self.template, self.kid, self.ns, self._slot = template, kid, ns, slot
        self.level = level
        self.status: int | None = None
        self.closed = False

    def wait(self, timeout: float) -> int:
        """The kernel's exit status (``-N`` for signal N), like ``Popen.wait``.

        Raises:
            subprocess.TimeoutExpired: it is still running after ``timeout`` seconds.
        """
        if self.status is None:
            try:
                reply = self.template.request(
                    {"op": "wait", "id": self.kid, "timeout": timeout}, timeout=timeout + 30
                )
            except SandboxError:
                raise subprocess.TimeoutExpired("kernel", timeout) from None
            status = reply.get("status")
            if not isinstance(status, int):
                raise subprocess.TimeoutExpired("kernel", timeout)
            self.status = status
        return self.status

    def close(self) -> None:
        """Kill every process of the kernel; return once all are gone (else raise).

        The template kills the namespace's init and reaps the kernel and the init:
        once the init is reaped its namespace is empty (the kernel guarantees it), so
        no ``/proc`` scan is needed. If the template cannot tell, every process of
        the namespace is found in ``/proc`` and killed here.
        """
        if self.closed:
            return
        self.closed = True
        reply: dict = {}
        with contextlib.suppress(SandboxError):
            reply = self.template.request({"op": "kill", "id": self.kid, "timeout": 10}, timeout=40)
        if isinstance(reply.get("status"), int) and self.status is None:
            self.status = reply["status"]
        survivors: list[int] = []
        if reply.get("gone") is True:
            pass  # the template killed and reaped all of it
        elif self.ns is not None:
            deadline = time.monotonic() + 10
            while (pids := _pids_in_ns(self.ns)) and time.monotonic() < deadline:
                first = [p for p in pids if _ns_pid(p) == 1]  # its init: kills them all
                for pid in first + pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.002)
            survivors = _pids_in_ns(self.ns)
        else:  # level none: its own session
            with contextlib.suppress(OSError):
                os.killpg(self.kid, signal.SIGKILL)
        if self._slot is not None:
            survivors += self._slot.finish()
        if survivors:
            raise SandboxError(f"processes of a kernel survived: {survivors}")


def _ns_pid(pid: int) -> int | None:
    """The pid of host process ``pid`` in its own (innermost) PID namespace."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class TemplateLauncher(Launcher):
    """Forks kernels from a template; falls back to ``base`` (one launch per kernel).

    Args:
        base: the launcher of the selected level (bubblewrap as root, or none).
        preimport: modules the template imports (:func:`template_preimports`).
        hidden: paths a kernel must not see (checked by a probe kernel at start).
        quiet: do not print why the template is not used.

    A template that dies (or times out, or cannot fork) is replaced. Kernels are
    launched by ``base`` instead once a template has more than one thread after its
    imports or its probe kernel sees something it must not, or after ``MAX_FAILURES``
    failures in a row; ``level`` of each kernel (``bubblewrap+template`` or the
    base's) says which was used, and :meth:`take_events` says why.
    """

    def __init__(self, base: Launcher, preimport: list[str], hidden: list[str], quiet=True):
        if not isinstance(base, (BwrapLauncher, PlainLauncher)):
            raise SandboxError(f"no kernel template for level {base.level}")
        if isinstance(base, BwrapLauncher) and not base.root:
            raise SandboxError("kernel templates need root (a user namespace cannot mount)")
        self.base, self.preimport, self.hidden, self.quiet = base, preimport, hidden, quiet
        self.level = base.level
        self.rebind = base.rebind() if isinstance(base, BwrapLauncher) else []
        self._template: _Template | None = None
        self.broken: str | None = None
        self.starts = 0  # templates started
        self.failures = 0  # failures since a kernel was last forked
        self.events: list[str] = []  # deaths, failures and give-ups, taken by the grader

    def take_events(self) -> list[str]:
        """What happened to the template since the last call (for the instructor)."""
        events, self.events = self.events, []
        return events

    def describe(self) -> str:
        return f"{self.base.describe()}, kernels forked from a template"

    def _ensure(self, env: dict, limits: KernelLimits) -> _Template | None:
        """The running template; a new one if it died; None once given up.

        A template is replaced whenever it dies: a restart costs about what one
        launched kernel costs, so restarting is never slower than the fallback. Only
        ``MAX_FAILURES`` failures in a row (starts, probes or forks with no kernel
        forked in between) give it up, and a probe that shows a hole gives it up at once.
        """
        if self.broken is not None:
            return None
        if self._template is not None and self._template.alive():
            return self._template
        if self._template is not None:
            self._failed(f"the kernel template died ({self._template.death()})")
            self._replace(self._template)
        while self.broken is None:
            self.starts += 1
            tmpl = None
            try:
                tmpl = _Template(self.base, env, limits, self.preimport)
                self._probe(tmpl, limits)
            except SandboxError as exc:
                if tmpl is not None:
                    self._replace(tmpl)
                if isinstance(exc, _Unusable):  # threaded or not isolated: never again
                    self._give_up(str(exc))
                else:
                    self._failed(str(exc))
                continue
            self._template = tmpl
            return tmpl
        return None

    def _failed(self, why: str) -> None:
        """Record a failure; give up after ``MAX_FAILURES`` in a row."""
        self.failures += 1
        self.events.append(why)
        if self.failures >= MAX_FAILURES:
            self._give_up(f"{MAX_FAILURES} failures in a row, the last: {why}")

    def _give_up(self, why: str) -> None:
        self.broken = why
        self.events.append(f"kernel template not used any more ({why})")
        if not self.quiet:
            print(f"course-grade: kernel template not used ({why}); one launch per kernel")

    def _spawn(self, tmpl: _Template, mode: str, fds, limits: KernelLimits) -> ForkedKernel:
        slot = _UidSlot() if isinstance(self.base, BwrapLauncher) else None
        msg = {
            "op": "spawn",
            "mode": mode,
            "isolate": slot is not None,
            "uid": slot.uid if slot else None,
            "limits": limits.__dict__,
            "hidden": self.hidden if mode == "probe" else [],
            "rebind": self.rebind,
        }
        try:
            reply = tmpl.request(msg, tuple(fds))
            if reply.get("op") != "spawned" or not isinstance(reply.get("id"), int):
                raise SandboxError(f"the template could not fork a kernel: {reply.get('error')}")
        except BaseException:
            if slot is not None:
                slot.release()
            raise
        ns = reply.get("ns") if slot is not None else None
        level = f"{self.base.level}+template"
        return ForkedKernel(tmpl, reply["id"], ns, slot, level)

    def _probe(self, tmpl: _Template, limits: KernelLimits) -> None:
        """A probe kernel must see no hidden path, no other process, no capability."""
        r, w = os.pipe()
        r2, w2 = os.pipe()
        try:
            kernel = self._spawn(tmpl, "probe", (r2, w), limits)
        finally:
            os.close(w)
            os.close(r2)
        try:
            ready, _, _ = select.select([r], [], [], SPAWN_TIMEOUT)
            data = os.read(r, _MAX_PACKET) if ready else b""
        finally:
            os.close(r)
            os.close(w2)
            kernel.close()
        try:
            report = json.loads(data)
        except ValueError:
            raise SandboxError("the template's probe kernel did not run") from None
        if kernel.ns is None:
            return
        problems = []
        if report.get("seen"):
            problems.append(f"it could read {', '.join(report['seen'])}")
        if report.get("uid", 0) < 1000:
            problems.append(f"it ran as uid {report.get('uid')}")
        if report.get("pids") != [1, 2]:
            problems.append(f"it saw processes {report.get('pids')}")
        if report.get("caps") != 0 or report.get("nnp") != 1 or report.get("seccomp") != 2:
            problems.append(f"capabilities/no_new_privs/seccomp were {report}")
        if report.get("files"):
            problems.append(f"it saw files of the template: {report['files']}")
        if report.get("missing"):
            problems.append(f"it could not see {report['missing']}")
        if problems:
            raise _Unusable("the template's probe kernel: " + "; ".join(problems))

    def start(self, argv, env, pass_fds, limits):
        for _ in range(2):  # a dead template is replaced once per kernel
            tmpl = self._ensure(env, limits)
            if tmpl is None:
                break
            try:
                kernel = self._spawn(tmpl, "worker", pass_fds, limits)
            except (OSError, SandboxError) as exc:
                if tmpl.alive():  # it answered but could not fork: start a new one
                    self._failed(f"the kernel template could not fork a kernel ({exc})")
                    self._replace(tmpl)
                continue
            self.failures = 0
            return kernel
        return self.base.start(argv, env, pass_fds, limits)

    def _replace(self, tmpl: _Template) -> None:
        """Stop ``tmpl``; the next kernel starts a new template."""
        with contextlib.suppress(SandboxError):
            tmpl.close()
        if self._template is tmpl:
            self._template = None

    def close(self) -> None:
        """Stop the template (its kernels must have been closed)."""
        if self._template is not None:
            tmpl, self._template = self._template, None
            tmpl.close()


# --------------------------------------------------------------------- template side
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(libc, src: str, target: str, fstype: str | None, flags: int, data: str | None):
    _check(
        libc.mount(
            src.encode() if src else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _load_seccomp(libc) -> None:
    prog = seccomp_program()
    if prog is None:
        return
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.addressof(buf))
    _check(libc.prctl(_PR_SET_SECCOMP, 2, ctypes.byref(fprog), 0, 0), "seccomp")


def _keep_fds(fds: list[int]) -> list[int]:
    """Make ``fds`` 3, 4, ...; stdin/out/err ``/dev/null``; close everything else."""
    high = [os.dup(fd) for fd in fds]
    high = [os.dup2(fd, 200 + i) for i, fd in enumerate(high)]
    null = os.open("/dev/null", os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(null, std)
    out = []
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i)
        out.append(3 + i)
    os.closerange(3 + len(fds), 1 << 20)
    return out


def _kernel(msg: dict, fds: list[int]) -> None:
    """PID 2 (or a plain fork at level none): become the kernel; never returns."""
    libc = _libc()
    limits = KernelLimits(**msg["limits"])
    os.setsid()
    if msg["isolate"]:
        os.chdir(HOME)  # the fresh tmpfs, not the template's home underneath
        uid = int(msg["uid"])
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # every capability is dropped here
        # (a change of uid clears it): the kernel dies with its parent, the template
        _check(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
        _check(libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _load_seccomp(libc)
        _set_limits(limits)
    else:
        _set_limits(KernelLimits(**{**limits.__dict__, "processes": None}))
    for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    fd_in, fd_out = _keep_fds(fds)
    if msg["mode"] == "probe":
        _probe(fd_out, msg["hidden"], msg.get("rebind", []))
        os._exit(0)
    from . import _worker

    _worker.main([str(fd_in), str(fd_out)])
    os._exit(0)


def _probe(fd: int, hidden: list[str], rebind: list[str]) -> None:
    seen = []
    for p in hidden:
        try:
            os.stat(p)
            seen.append(p)
        except OSError:
            pass
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    rebind = [p for p in rebind if p.startswith("/tmp/")]
    top = {p.split("/")[2] for p in rebind}  # the rebinds' own directories
    files = []
    for d in ("/tmp", "/dev/shm", HOME):
        with contextlib.suppress(OSError):  # (level none: no such home)
            files += [f"{d}/{n}" for n in os.listdir(d) if not (d == "/tmp" and n in top)]
    report = {
        "uid": os.getuid(),
        "seen": seen,
        "pids": sorted(int(d) for d in os.listdir("/proc") if d.isdigit()),
        "caps": int(status.get("CapEff", "1"), 16),
        "nnp": int(status.get("NoNewPrivs", "0")),
        "seccomp": int(status.get("Seccomp", "0")),
        "files": files,
        "missing": [p for p in rebind if not os.path.isdir(p)],
    }
    os.write(fd, json.dumps(report).encode())


def _isolated_kernel(msg: dict, fds: list[int]) -> None:
    """PID 2 of a fresh namespace, still root: private mounts, then :func:`_kernel`."""
    _private_mounts(_libc(), msg.get("rebind", []), KernelLimits(**msg["limits"]))
    _kernel(msg, fds)


def _private_mounts(libc, rebind: list[str], limits: KernelLimits) -> None:
    """New mount/IPC/UTS/net(/cgroup) namespaces, fresh /proc and tmpfs, rebinds."""
    flags = _CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWUTS | _CLONE_NEWNET
    if libc.unshare(flags | _CLONE_NEWCGROUP) != 0:
        _check(libc.unshare(flags), "unshare")
    _mount(libc, "", "/", None, _MS_REC | _MS_PRIVATE, None)
    _mount(libc, "proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    # read-only binds below /tmp (a package or a venv there) must stay visible
    keep = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in rebind]
    size = str(limits.tmp_bytes)
    for target, mode in (("/tmp", "1777"), ("/dev/shm", "1777"), (HOME, "0777")):
        _mount(libc, "tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={size},mode={mode}")
    for path, fd in keep:
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(libc, f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC, None)
        ro = _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV
        _mount(libc, "", path, None, ro, None)
        os.close(fd)


def _spawn_isolated(msg: dict, fds: list[int], ctl: int, own_pidns: int) -> tuple[int, int, str]:
    """A kernel in a new PID namespace; returns (its pid, its init's pid, the namespace).

    The namespace's PID 1 is ``sleep`` (spawned without copying the template's memory):
    it only holds the namespace, and killing it kills every process in it. The kernel
    is then forked into the namespace as PID 2, a child of the template.
    """
    libc = _libc()
    _check(libc.unshare(_CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    try:
        for fd in fds:
            os.set_inheritable(fd, False)  # the kernel's pipes: not for the init
        init = os.posix_spawn(_SLEEP, ["sleep", "2147483647"], {})
        try:
            # (the link reads only once the namespace has its first process)
            ns = os.readlink("/proc/self/ns/pid_for_children")
            pid = os.fork()
        except BaseException:
            os.kill(init, signal.SIGKILL)
            os.waitpid(init, 0)
            raise
        if pid == 0:
            try:
                os.close(ctl)
                _isolated_kernel(msg, fds)
            finally:
                os._exit(_SETUP_FAILED)
    finally:
        _check(libc.setns(own_pidns, _CLONE_NEWPID), "setns")
    return pid, init, ns


def _spawn_plain(msg: dict, fds: list[int], ctl: int) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ctl)
            _kernel(msg, fds)
        finally:
            os._exit(_SETUP_FAILED)
    return pid


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _thread_names() -> list[str]:
    names = []
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError), open(f"/proc/self/task/{tid}/comm") as f:
            names.append(f.read().strip())
    return names


def _serve(ctl: socket.socket) -> None:
    first, _ = _recv(ctl, 60)
    if first is None:
        return
    failed = _preimport(first.get("preimport", []))
    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    children: dict[int, _Child] = {}
    threads = _threads()
    names = _thread_names() if threads != 1 else []
    ready = {"op": "ready", "threads": threads, "thread_names": names, "failed": failed}
    _send(ctl, {**ready, "init": _SLEEP if os.access(_SLEEP, os.X_OK) else None})
    while True:
        msg, fds = _recv(ctl, 10**7)
        if msg is None:
            return
        op = msg.get("op")
        if op == "spawn":
            reply = _handle_spawn(msg, fds, ctl.fileno(), own_pidns, children)
        elif op == "wait":
            reply = _handle_wait(msg, children)
        elif op == "kill":
            reply = _handle_kill(msg, children)
        else:
            for fd in fds:
                os.close(fd)
            reply = {"op": "error", "error": "unknown request"}
        _send(ctl, reply)


def _preimport(names: list[str]) -> list[str]:
    """Import ``names``; make torch single-threaded; return the names that failed."""
    failed = []
    for name in names:
        try:
            __import__(str(name))
        except Exception:  # a missing optional library only matters if a cell uses it
            failed.append(name)
    torch = sys.modules.get("torch")
    if torch is not None:  # no intra-op or inter-op pool may be alive at fork time
        torch.set_num_threads(1)
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)
    from IPython.core.inputtransformer2 import TransformerManager  # noqa: F401

    from . import _worker  # noqa: F401

    return failed


class _Child:
    """A kernel the template forked: its pid, its init's (bubblewrap level), its status."""

    def __init__(self, pid: int, init: int | None):
        self.pid, self.init = pid, init
        self.status: int | None = None

    def reap(self, deadline: float) -> int | None:
        """Its exit status once reaped (by ``deadline``), else None."""
        if self.status is None:
            self.status = _reap(self.pid, deadline)
        return self.status


def _handle_spawn(
    msg: dict, fds: list[int], ctl: int, own_pidns: int, children: dict[int, _Child]
) -> dict:
    try:
        if _threads() != 1:
            raise OSError("the template has more than one thread")
        if len(fds) != 2:
            raise OSError("spawn needs two file descriptors")
        if msg.get("isolate"):
            pid, init, ns = _spawn_isolated(msg, fds, ctl, own_pidns)
        else:
            pid, init, ns = _spawn_plain(msg, fds, ctl), None, None
        children[pid] = _Child(pid, init)
        return {"op": "spawned", "id": pid, "ns": ns}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"op": "error", "error": str(exc)[:500]}
    finally:
        for fd in fds:
            os.close(fd)


def _reap(pid: int, deadline: float) -> int | None:
    """Reap child ``pid`` by ``deadline``: its exit status (``-N`` for signal N), or
    None if it is still running."""
    fd = None
    with contextlib.suppress(OSError, AttributeError):
        fd = os.pidfd_open(pid)  # readable once it has exited: no polling
    try:
        while True:
            try:
                done, st = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return _SETUP_FAILED
            if done:
                return -os.WTERMSIG(st) if os.WIFSIGNALED(st) else os.WEXITSTATUS(st)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if fd is not None:
                select.select([fd], [], [], left)
            else:
                time.sleep(min(0.002, left))
    finally:
        if fd is not None:
            os.close(fd)


def _handle_wait(msg: dict, children: dict[int, _Child]) -> dict:
    """Reap kernel ``id`` within ``timeout`` seconds; its status, or None if running."""
    child = children.get(msg.get("id"))  # type: ignore[arg-type]
    deadline = time.monotonic() + float(msg.get("timeout", 0))
    return {"op": "status", "status": None if child is None else child.reap(deadline)}


def _handle_kill(msg: dict, children: dict[int, _Child]) -> dict:
    """Kill kernel ``id`` and everything it started; reap it (and its init).

    Killing the init of a PID namespace kills every process in it, and the init is
    reaped only once all of them are gone: ``gone`` true means the namespace is empty.
    """
    child = children.pop(msg.get("id"), None)  # type: ignore[arg-type]
    if child is None:
        return {"op": "killed", "gone": False, "error": "no such kernel"}
    deadline = time.monotonic() + float(msg.get("timeout", 10))
    targets = [child.init] if child.init is not None else [-child.pid, child.pid]
    for target in targets:  # level none: its session (and it, if not yet its own)
        with contextlib.suppress(OSError):
            os.kill(target, signal.SIGKILL)
    gone = child.reap(deadline) is not None
    if child.init is not None:
        gone = _reap(child.init, deadline) is not None and gone
    return {"op": "killed", "gone": gone, "status": child.status}


def main(argv: list[str] | None = None) -> None:
    """Template entry point: ``_template CONTROL_FD`` (a SOCK_SEQPACKET socket)."""
    argv = sys.argv[1:] if argv is None else argv
    ctl = socket.socket(fileno=int(argv[0]))
    os.set_inheritable(ctl.fileno(), False)
    try:
        _serve(ctl)
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()

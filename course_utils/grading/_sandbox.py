"""Operating-system isolation for submission kernels (private).

A *launcher* starts one kernel process for one submission and, when asked, makes sure
that nothing it started is still alive. Three launchers exist, from strongest to
weakest; the grader uses the strongest that works and reports its ``level``:

``bubblewrap``
    The kernel runs under ``bwrap`` in new PID, IPC, UTS, network, mount and cgroup
    namespaces, with ``--die-with-parent``. Its file system is built from read-only
    binds of the system (``/usr``, a few ``/etc`` files), the Python installation and
    the ``course_utils`` package only; ``/tmp``, ``/dev/shm`` and the home/work
    directory are private size-capped tmpfs mounts; ``/proc`` shows only the sandbox's
    own processes. The course root (``solutions/``, ``grading/``), the submissions and
    the out dir are never mounted. Run as root, bwrap keeps only ``CAP_SETUID`` and
    ``CAP_SETGID`` for ``setpriv`` to switch to a per-kernel unprivileged uid (so that
    ``RLIMIT_NPROC`` holds); run by a normal user, the kernel is uid 65534 in a new
    user namespace with further user namespaces disabled. A seccomp filter (x86-64)
    refuses ``ptrace``, namespace and mount calls, ``bpf``, ``keyctl`` and similar.
``uid``
    Root without a working bwrap: the kernel runs as a per-kernel unprivileged uid in
    its own session. The grader refuses this level if that uid can read any hidden
    path (``solutions/``, ``grading/``, the out dir, the submissions).
``none``
    Only with ``--no-sandbox``: the kernel runs as the instructor (an audit hook makes
    cheating inconvenient, nothing more).

Every level applies the same resource limits (:class:`KernelLimits`) with
``setrlimit`` before the kernel's first instruction. :mod:`._template` implements the
same interface (:class:`Launcher`) by forking kernels from a template process started
by :meth:`BwrapLauncher.start_template`, and falls back to these launchers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import resource
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LEVELS",
    "KernelLimits",
    "Launcher",
    "Sandboxed",
    "SandboxError",
    "select_launcher",
    "make_launcher",
]

LEVELS = ("bubblewrap", "uid", "none")
HOME = "/home/student"  # the kernel's home and working directory inside bubblewrap
UID_BASE = 61000  # per-kernel uids are UID_BASE + slot (root only)
UID_SLOTS = 512
_ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "fonts",
    "alternatives",
    "passwd",
    "group",
    "nsswitch.conf",
    "mime.types",
)


_OWN_MOUNTS = ("/tmp", "/dev", "/dev/shm", "/home", HOME, "/proc")


class SandboxError(RuntimeError):
    """A sandbox level is unusable here (the message says why)."""


@dataclass(frozen=True)
class KernelLimits:
    """Resource limits of one kernel (all set before any student code runs)."""

    memory_bytes: int = 4096 * 2**20  # RLIMIT_AS per process
    file_bytes: int = 64 * 2**20  # RLIMIT_FSIZE: largest file written
    processes: int | None = 64  # RLIMIT_NPROC: processes and threads of the kernel's uid
    cpu_seconds: int = 900  # RLIMIT_CPU per process
    open_files: int = 256  # RLIMIT_NOFILE
    tmp_bytes: int = 256 * 2**20  # size of each private tmpfs (home, /tmp, /dev/shm)


def _set_limits(limits: KernelLimits) -> None:
    """``preexec_fn``: runs in the child between fork and exec."""
    for what, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NPROC, limits.processes),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        if value is not None:
            resource.setrlimit(what, (value, value))


# ------------------------------------------------------------------------ uid slots
# world-writable places every uid shares outside a bubblewrap sandbox: at the uid level
# a kernel's files there are removed when its uid is finished (before the slot is reused)
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue")


def _remove_files_of_uid(uid: int, roots=SHARED_WRITABLE) -> list[str]:
    """Remove every entry owned by ``uid`` in ``roots`` and in the world-writable
    directories below them (the only places another uid lets it create entries).

    Runs when no process of ``uid`` is left (nothing can race it); symlinks are
    removed, never followed. Returns what could not be removed.
    """
    left: list[str] = []
    todo = [r for r in roots if os.path.isdir(r) and not os.path.islink(r)]
    while todo:
        d = todo.pop()
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            p = os.path.join(d, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            try:
                if st.st_uid == uid:
                    shutil.rmtree(p) if is_dir else os.unlink(p)
                elif is_dir and st.st_mode & stat.S_IWOTH:
                    todo.append(p)
            except OSError:
                left.append(p)
    return left


class _UidSlot:
    """An unprivileged uid reserved for one kernel with a lock file (root only)."""

    def __init__(self) -> None:
        lockdir = Path(tempfile.gettempdir()) / f"course-grade-uids-{os.getuid()}"
        with contextlib.suppress(FileExistsError):
            lockdir.mkdir(mode=0o700)
        st = os.lstat(lockdir)
        if not (os.path.isdir(lockdir) and not os.path.islink(lockdir)) or st.st_uid != 0:
            raise SandboxError(f"{lockdir} is not a directory owned by root")
        os.chmod(lockdir, 0o700)
        start = os.getpid() % UID_SLOTS
        for k in range(UID_SLOTS):
            slot = (start + k) % UID_SLOTS
            fd = os.open(lockdir / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.fd, self.uid = fd, UID_BASE + slot
            return
        raise SandboxError("no free unprivileged uid slot")

    def kill_all(self) -> None:
        """SIGKILL every process of this uid (``kill(-1)`` from a child running as it)."""
        for _ in range(50):
            if not _pids_of_uid(self.uid):
                return
            pid = os.fork()
            if pid == 0:  # pragma: no cover - child
                try:
                    os.setgroups([])
                    os.setresgid(self.uid, self.uid, self.uid)
                    os.setresuid(self.uid, self.uid, self.uid)
                    os.kill(-1, signal.SIGKILL)  # every process this uid may signal
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
            time.sleep(0.01)
        raise SandboxError(f"processes of uid {self.uid} could not be killed")

    def release(self) -> None:
        os.close(self.fd)

    def finish(self, clean_shared: bool = False) -> list[int]:
        """End the kernel's uid: :meth:`kill_all`, then :meth:`release` the slot.

        Args:
            clean_shared: also remove the uid's files from the world-writable places
                every uid shares (:data:`SHARED_WRITABLE`; the uid level, where the
                kernel ran outside a mount namespace), so that nothing it left there
                reaches the next kernel of this uid or fills the machine.

        Returns:
            ``[-1]`` if some process of the uid survived (the reason is printed on
            stderr; the caller must then refuse to call the kernel closed), else ``[]``.
        """
        survivors = []
        try:
            self.kill_all()
        except SandboxError as exc:
            survivors.append(-1)
            print(f"course-grade: {exc}", file=sys.stderr)
        if clean_shared and not survivors:  # no process of the uid left: nothing races
            left = _remove_files_of_uid(self.uid)
            if left:
                print(f"course-grade: could not remove {left[:5]}", file=sys.stderr)
        self.release()
        return survivors


def _pids_of_uid(uid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/status", "rb") as f:
                    for line in f:
                        if line.startswith(b"Uid:"):
                            if int(line.split()[1]) == uid and _alive(d):
                                out.append(int(d))
                            break
            except (OSError, ValueError, IndexError):
                pass
    return out


def _alive(pid: str) -> bool:
    """False for zombies: they run no code, they only wait to be reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def _pids_in_ns(ns: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/ns/pid") == ns and _alive(d):
                    out.append(int(d))
            except OSError:
                pass
    return out


# --------------------------------------------------------------------------- seccomp
# x86-64 system calls a grading kernel never needs; they fail with EPERM.
_DENY_X86_64 = {
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "chroot": 161,
    "unshare": 272,
    "setns": 308,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "bpf": 321,
    "perf_event_open": 298,
    "userfaultfd": 323,
    "kexec_load": 246,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "reboot": 169,
    "swapon": 167,
    "swapoff": 168,
    "acct": 163,
    "pidfd_open": 434,
    "pidfd_send_signal": 424,
    "pidfd_getfd": 438,
    "open_by_handle_at": 304,
    "name_to_handle_at": 303,
    "io_uring_setup": 425,
    "fsopen": 430,
    "fsmount": 432,
    "move_mount": 429,
    "open_tree": 428,
}
_CLONE_NS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET


def seccomp_program() -> bytes | None:
    """A classic-BPF seccomp program for bwrap's ``--seccomp`` (None off x86-64)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    ld_w, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow, errno_eperm, errno_nosys, kill = 0x7FFF0000, 0x00050001, 0x00050026, 0x80000000
    prog: list[tuple[int, int, int, int]] = [
        (ld_w, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, 0xC000003E),  # AUDIT_ARCH_X86_64
        (ret, 0, 0, kill),
        (ld_w, 0, 0, 0),  # seccomp_data.nr
        (0x35, 0, 1, 0x40000000),  # JGE x32 ABI -> kill
        (ret, 0, 0, kill),
    ]
    for nr in _DENY_X86_64.values():
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, errno_eperm)]
    # clone3 cannot be filtered on its flags: ENOSYS makes libc fall back to clone
    prog += [(jeq, 0, 1, 435), (ret, 0, 0, errno_nosys)]
    # clone with any namespace flag (first argument, low 32 bits at offset 16)
    prog += [
        (jeq, 0, 3, 56),
        (ld_w, 0, 0, 16),
        (jset, 0, 1, _CLONE_NS),
        (ret, 0, 0, errno_eperm),
        (ret, 0, 0, allow),
    ]
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


# ------------------------------------------------------------------------ launchers
class Sandboxed:
    """A running kernel: ``proc`` (the launcher's process) and how to end everything."""

    def __init__(
        self,
        proc: subprocess.Popen,
        level: str,
        *,
        workdir: str | None,
        ns: str | None = None,
        init_pid: int | None = None,
        slot: _UidSlot | None = None,
    ):
        self.proc, self.level, self.workdir = proc, level, workdir
        self._ns, self._init_pid, self._slot = ns, init_pid, slot
        self.errfile = None  # where the kernel's stderr went, if kept
        self.signal_offset = False  # bwrap reports a child killed by signal N as 128 + N
        self.closed = False

    def wait(self, timeout: float) -> int:
        """The kernel's exit status like ``Popen.wait`` (``-N`` for signal N).

        Raises:
            subprocess.TimeoutExpired: it is still running after ``timeout`` seconds.
        """
        rc = self.proc.wait(timeout=timeout)
        if self.signal_offset and rc > 128:
            rc = -(rc - 128)
        return rc

    def stderr_tail(self, n: int = 2000) -> str:
        """The last ``n`` bytes the kernel wrote to its stderr (for the instructor)."""
        if self.errfile is None:
            return ""
        try:
            self.errfile.seek(0, os.SEEK_END)
            size = self.errfile.tell()
            self.errfile.seek(max(0, size - n))
            return self.errfile.read(n).decode(errors="replace")
        except (OSError, ValueError):
            return ""

    def close(self) -> None:
        """Kill the kernel and every process it started; return once all are gone.

        Raises:
            SandboxError: if some process survived (the batch must not be final then).
        """
        if self.closed:
            return
        if self._init_pid is not None:  # killing the namespace's init kills all of it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self._init_pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        survivors = _kill_ns(self._ns) if self._ns is not None else []
        if self._slot is not None:
            survivors += self._slot.finish(clean_shared=self.level == UidLauncher.level)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self.errfile is not None:
            self.errfile.close()
        self.closed = True
        if survivors:
            raise SandboxError(f"processes of a kernel survived: {survivors}")


def _kill_ns(ns: str, timeout: float = 10.0) -> list[int]:
    """SIGKILL every process of PID namespace ``ns`` until none is left (or time is up);
    returns the survivors."""
    deadline = time.monotonic() + timeout
    while (survivors := _pids_in_ns(ns)) and time.monotonic() < deadline:
        for pid in survivors:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
    return survivors


class Launcher:
    """Starts kernels; subclasses implement one isolation level.

    ``start(argv, env, pass_fds, limits)`` runs ``argv`` (a Python command line whose
    first element is the interpreter) and returns a :class:`Sandboxed`. ``env`` holds
    ``HOME``-relative paths written as ``{home}``, filled in per level.
    """

    level = "none"

    def start(
        self, argv: list[str], env: dict[str, str], pass_fds: tuple[int, ...], limits: KernelLimits
    ) -> Sandboxed:
        raise NotImplementedError

    def describe(self) -> str:
        return self.level


def _in_home(env: dict[str, str], home: str) -> dict[str, str]:
    """``env`` with every ``{home}`` replaced by the kernel's home directory ``home``."""
    return {k: v.replace("{home}", home) for k, v in env.items()}


def _popen_in_home(
    argv: list[str],
    env: dict[str, str],
    pass_fds: tuple[int, ...],
    home: str,
    limits: KernelLimits,
    **user,
) -> subprocess.Popen:
    """Start ``argv`` in ``home`` (its working directory; ``{home}`` in ``env`` filled
    in) in a new session, standard streams on ``/dev/null``, ``limits`` set between fork
    and exec; ``user`` holds ``Popen``'s ``user``/``group``/``extra_groups`` (level uid)."""
    return subprocess.Popen(
        argv,
        pass_fds=pass_fds,
        cwd=home,
        env=_in_home(env, home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: _set_limits(limits),
        **user,
    )


class PlainLauncher(Launcher):
    """``--no-sandbox``: the kernel is a child process of the instructor (limits only)."""

    level = "none"

    def start(self, argv, env, pass_fds, limits):
        home = tempfile.mkdtemp(prefix="course-grade-")
        os.makedirs(_in_home(env, home).get("MPLCONFIGDIR", home), exist_ok=True)
        proc = _popen_in_home(argv, env, pass_fds, home, _no_nproc(limits))
        return Sandboxed(proc, self.level, workdir=home)


def _no_nproc(limits: KernelLimits) -> KernelLimits:
    # RLIMIT_NPROC counts every process of the uid: for the instructor's own uid it
    # would count their editor and shell too, so it is not set at level none
    return KernelLimits(**{**limits.__dict__, "processes": None})


class UidLauncher(Launcher):
    """Root without bubblewrap: a per-kernel unprivileged uid, its own session."""

    level = "uid"

    def start(self, argv, env, pass_fds, limits):
        slot = _UidSlot()
        try:
            base = tempfile.mkdtemp(prefix="course-grade-")  # 0700, root's
            home = os.path.join(base, "home")
            os.mkdir(home, 0o700)
            os.chown(home, slot.uid, slot.uid)
            os.chmod(base, 0o711)  # the kernel may enter its home, not list the parent
            proc = _popen_in_home(
                argv, env, pass_fds, home, limits, user=slot.uid, group=slot.uid, extra_groups=[]
            )
        except BaseException:
            slot.release()
            raise
        return Sandboxed(proc, self.level, workdir=base, slot=slot)


class BwrapLauncher(Launcher):
    """Bubblewrap namespaces (see the module docstring)."""

    level = "bubblewrap"

    def __init__(self, hidden: list[str], bwrap: str | None = None):
        self.bwrap = bwrap or shutil.which("bwrap") or ""
        if not self.bwrap:
            raise SandboxError("bubblewrap (bwrap) is not installed")
        self.root = os.getuid() == 0
        self.setpriv = shutil.which("setpriv") if self.root else None
        if self.root and not self.setpriv:
            raise SandboxError("setpriv (util-linux) is needed to drop root inside bwrap")
        self.hidden = [os.path.realpath(p) for p in hidden]
        self.binds = self._binds()
        self.seccomp = seccomp_program()

    def _binds(self) -> list[str]:
        """Read-only binds: the system, the Python installation and course_utils."""
        args: list[str] = []
        for top in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            p = "/" + top
            if os.path.islink(p):
                args += ["--symlink", os.readlink(p), p]
            elif os.path.isdir(p):
                args += ["--ro-bind", p, p]
        args += [x for n in _ETC if os.path.exists(p := "/etc/" + n) for x in ("--ro-bind", p, p)]
        made: set[str] = set()
        for src in self._sources():
            for h in self.hidden:
                if h == src or h.startswith(src.rstrip("/") + "/"):
                    raise SandboxError(f"binding {src} into the sandbox would expose {h}")
            parts = Path(src).parts
            for i in range(2, len(parts)):  # parents created world-searchable
                d = str(Path(*parts[:i]))
                if d not in made and not d.startswith("/usr") and d not in _OWN_MOUNTS:
                    args += ["--perms", "0755", "--dir", d]
                    made.add(d)
            args += ["--ro-bind", src, src]
        return args

    @staticmethod
    def _sources() -> list[str]:
        """The Python installation's directories outside /usr, then course_utils."""
        pkg = Path(__file__).resolve().parents[1]  # .../course_utils
        py_dirs = {
            os.path.realpath(d)
            for d in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
        }
        py_dirs.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
        return [*sorted(d for d in py_dirs if not d.startswith("/usr")), str(pkg)]

    def rebind(self) -> list[str]:
        """Read-only bind targets below the private tmpfs mounts (``/tmp``, ``/dev/shm``,
        the home): a forked kernel's fresh tmpfs must bind them again."""
        out = []
        for i, arg in enumerate(self.binds):
            if arg == "--ro-bind":
                dst = self.binds[i + 2]
                if any(dst.startswith(t + "/") for t in ("/tmp", "/dev/shm", HOME)):
                    out.append(dst)
        return out

    def describe(self) -> str:
        how = "root, per-kernel uid" if self.root else "user namespace, uid 65534"
        return f"bubblewrap ({how}{', seccomp' if self.seccomp else ''})"

    def start(self, argv, env, pass_fds, limits):
        return self._start(argv, env, pass_fds, limits, template=False)

    def start_template(self, argv, env, pass_fds, limits):
        """Start a kernel *template* (:mod:`._template`) in the same sandbox, as root.

        The same binds, tmpfs, namespaces and limits as a kernel, but no uid switch, no
        seccomp filter and the capabilities the template needs to make each kernel's
        namespaces and mounts (``CAP_SYS_ADMIN``) and to drop it to its uid
        (``CAP_SETUID``, ``CAP_SETGID``). It runs no student code.
        """
        if not self.root:
            raise SandboxError("a kernel template needs root")
        return self._start(argv, env, pass_fds, limits, template=True)

    def _command(self, size: str, info_w: int, template: bool) -> list[str]:
        cmd = [self.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        cmd += ["--unshare-net", "--unshare-cgroup-try", "--die-with-parent"]
        cmd += ["--new-session", "--hostname", "sandbox", "--info-fd", str(info_w)]
        if template:
            cmd += ["--cap-add", "CAP_SYS_ADMIN"]
        if self.root:
            cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            cmd += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns"]
        # private tmpfs first: a bind below /tmp (a package in /tmp) stays visible
        cmd += ["--proc", "/proc", "--dev", "/dev"]
        cmd += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
        cmd += ["--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
        cmd += ["--perms", "0755", "--dir", "/home"]
        cmd += ["--perms", "0777", "--size", size, "--tmpfs", HOME]
        cmd += self.binds
        cmd += ["--chdir", HOME]
        return cmd

    def _start(self, argv, env, pass_fds, limits, template: bool):
        slot = _UidSlot() if self.root and not template else None
        errfile = tempfile.TemporaryFile()  # bwrap's and the kernel's stderr (unlinked)
        info_r, info_w = os.pipe()
        sec_r = sec_w = None
        try:
            cmd = self._command(str(limits.tmp_bytes), info_w, template)
            fds = [*pass_fds, info_w]
            if self.seccomp is not None and not template:
                sec_r, sec_w = os.pipe()
                os.write(sec_w, self.seccomp)  # a few hundred bytes: fits the pipe
                os.close(sec_w)
                sec_w = None
                cmd += ["--seccomp", str(sec_r)]
                fds.append(sec_r)
            cmd.append("--")
            if slot is not None:
                u = str(slot.uid)
                cmd += [self.setpriv, "--reuid", u, "--regid", u, "--clear-groups"]
                cmd += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
            cmd += argv
            proc = subprocess.Popen(
                cmd,
                pass_fds=tuple(fds),
                env=_in_home(env, HOME),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errfile,
                start_new_session=True,
                preexec_fn=lambda: _set_limits(limits),
            )
        except BaseException:
            errfile.close()
            if slot is not None:
                slot.release()
            raise
        finally:
            os.close(info_w)
            for fd in (sec_r, sec_w):
                if fd is not None:
                    os.close(fd)
        try:
            info = _read_all(info_r, 1 << 16)
        finally:
            os.close(info_r)
        try:
            child = int(json.loads(info)["child-pid"])
            ns = os.readlink(f"/proc/{child}/ns/pid")
        except (ValueError, KeyError, TypeError, OSError):
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            errfile.seek(0)
            err = errfile.read(2000).decode(errors="replace")
            errfile.close()
            if slot is not None:
                slot.kill_all()
                slot.release()
            raise SandboxError(f"bwrap did not start: {err.strip() or 'no child'}") from None
        box = Sandboxed(proc, self.level, workdir=None, ns=ns, init_pid=child, slot=slot)
        box.errfile = errfile
        box.signal_offset = True
        return box


def _read_all(fd: int, limit: int) -> bytes:
    chunks, n = [], 0
    while n < limit:
        b = os.read(fd, limit - n)
        if not b:
            break
        chunks.append(b)
        n += len(b)
    return b"".join(chunks)


# ------------------------------------------------------------------------- selection
_PROBE = (
    "import json, os, sys\n"
    "seen = []\n"
    "for p in json.loads(sys.argv[1]):\n"
    "    try:\n"
    "        os.stat(p)\n"
    "        os.listdir(p) if os.path.isdir(p) else open(p, 'rb').close()\n"
    "        seen.append(p)\n"
    "    except OSError:\n"
    "        pass\n"
    "os.write(int(sys.argv[2]), json.dumps({'uid': os.getuid(), 'seen': seen}).encode())\n"
)


def self_test(launcher: Launcher, hidden: list[str], timeout: float = 60.0) -> dict:
    """Start a tiny kernel with ``launcher``; check it runs and sees no hidden path.

    Raises:
        SandboxError: the kernel did not start, or it could read a hidden path.
    """
    r, w = os.pipe()
    try:
        box = launcher.start(
            [sys.executable, "-I", "-c", _PROBE, json.dumps(hidden), str(w)],
            {"PATH": "/usr/bin:/bin", "HOME": "{home}", "LANG": "C.UTF-8"},
            (w,),
            KernelLimits(),
        )
    except OSError as exc:
        os.close(r)
        os.close(w)
        raise SandboxError(f"{launcher.level}: could not start ({exc})") from None
    os.close(w)
    try:
        box.proc.wait(timeout=timeout)
        data = _read_all(r, 1 << 20)
    except subprocess.TimeoutExpired:
        data = b""
    finally:
        os.close(r)
        box.close()
    try:
        report = json.loads(data)
    except ValueError:
        raise SandboxError(f"{launcher.level}: the test kernel did not run") from None
    if report["seen"]:
        raise SandboxError(
            f"{launcher.level}: a kernel could read {', '.join(report['seen'])} "
            "(make these unreadable to other users, e.g. chmod o-rwx)"
        )
    return report


def select_launcher(mode: str, hidden: list[str]) -> tuple[Launcher, list[str]]:
    """The strongest working launcher for ``mode``, and why stronger ones were skipped.

    Args:
        mode: ``"auto"`` (bubblewrap, else uid when root, else refuse), a level name
            to demand exactly that level, or ``"none"`` (no sandbox, instructor's
            explicit choice).
        hidden: paths a kernel must not read (checked by :func:`self_test`).

    Raises:
        SandboxError: no acceptable level works (the message lists what failed).
    """
    if mode not in ("auto", *LEVELS):
        raise SandboxError(f"sandbox must be one of auto, {', '.join(LEVELS)}; got {mode!r}")
    if mode == "none":
        return PlainLauncher(), []
    wanted = ["bubblewrap", "uid"] if mode == "auto" else [mode]
    skipped: list[str] = []
    for level in wanted:
        try:
            if level == "bubblewrap":
                launcher: Launcher = BwrapLauncher(hidden)
            else:
                if os.getuid() != 0:
                    raise SandboxError("uid: needs root to switch to another user")
                launcher = UidLauncher()
            self_test(launcher, hidden)
            return launcher, skipped
        except SandboxError as exc:
            skipped.append(str(exc))
    raise SandboxError(
        "no sandbox is available to run untrusted code ("
        + "; ".join(skipped)
        + "); install bubblewrap (apt-get install bubblewrap), or pass --no-sandbox "
        "to grade without isolation (only for trusted notebooks)"
    )


def make_launcher(level: str, hidden: list[str]) -> Launcher:
    """The launcher of an already selected ``level`` (no self-test; for pool workers)."""
    if level == "bubblewrap":
        return BwrapLauncher(hidden)
    if level == "uid":
        return UidLauncher()
    if level == "none":
        return PlainLauncher()
    raise SandboxError(f"unknown sandbox level {level!r}")

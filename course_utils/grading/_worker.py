"""The sandboxed kernel that runs ONE submission (private; started by the grader).

Run as ``python -m course_utils.grading._worker READ_FD WRITE_FD``. The grader talks to
it over two dedicated pipes (never stdout: whatever the student prints cannot be
mistaken for a protocol message). Messages are length-prefixed JSON objects:

* grader -> worker: ``{"op": "exec", "cell": id, "code": str}`` runs a cell;
  ``{"op": "probe", "exprs": [str, ...]}`` evaluates hidden-test expressions in the
  student's namespace.
* worker -> grader: ``{"op": "ready"}`` once, then one reply per request:
  ``{"ok": bool, "error": str | None, "output": str}`` for ``exec`` and
  ``{"values": [{"ok": true, "value": plain} | {"ok": false, "error": str}]}`` for
  ``probe``, where ``plain`` is JSON data built by :func:`to_plain` (never a pickle).

Before any student code runs the worker caps its memory, file size and core dumps
with ``resource.setrlimit``, imports the heavy libraries, and installs an audit hook
(:func:`_install_guard`) that refuses to open or list the instructor's directories,
to write outside its private temporary directory, to start processes, to signal
other processes and to use the raw-memory parts of ``ctypes``. The audit hook makes
cheating inconvenient, it is not a security boundary (see docs/GRADING.md).
"""

from __future__ import annotations

import builtins
import io
import json
import os
import struct
import sys
import traceback

_HEADER = struct.Struct(">I")
MAX_MESSAGE = 64 * 2**20
MAX_ELEMENTS = 2**20
MAX_STRING = 100_000
MAX_DEPTH = 20

_BLOCKED_EVENTS = frozenset(
    {
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.spawn",
        "os.posix_spawn",
        "os.fork",
        "os.forkpty",
        "os.killpg",
        "pty.spawn",
        "os.startfile",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.dlsym/handle",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.cdata",
        "ctypes.call_function",
        "sys.remote_exec",
    }
)
# events whose first argument is a path that is read (listed, entered)
_READ_PATH_EVENTS = frozenset({"os.listdir", "os.scandir", "os.chdir", "glob.glob"})
# events whose path arguments are written (all of them are checked)
_WRITE_PATH_EVENTS = {
    "os.remove": 1,
    "os.rmdir": 1,
    "os.mkdir": 1,
    "os.chmod": 1,
    "os.chown": 1,
    "os.chflags": 1,
    "os.lchflags": 1,
    "os.truncate": 1,
    "os.utime": 1,
    "os.setxattr": 1,
    "os.removexattr": 1,
    "os.rename": 2,
    "os.link": 2,
    "os.symlink": 2,
    "shutil.copyfile": 2,
    "shutil.copytree": 2,
    "shutil.rmtree": 1,
    "shutil.chown": 1,
    "shutil.move": 2,
}


# ----------------------------------------------------------------------------- protocol
def read_message(fd: int, limit: int = MAX_MESSAGE) -> dict | None:
    """Read one length-prefixed JSON message from ``fd``; None at end of file."""
    head = _read_exact(fd, _HEADER.size)
    if head is None:
        return None
    (size,) = _HEADER.unpack(head)
    if size > limit:
        raise ValueError(f"message of {size} bytes exceeds the {limit}-byte limit")
    body = _read_exact(fd, size)
    if body is None:
        raise EOFError("truncated message")
    msg = json.loads(body.decode("utf-8"))
    if not isinstance(msg, dict):
        raise ValueError("protocol message is not a JSON object")
    return msg


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            if got == 0:
                return None
            raise EOFError("truncated message")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def write_message(fd: int, msg: dict) -> None:
    """Write one length-prefixed JSON message to ``fd``."""
    body = json.dumps(msg, allow_nan=True).encode("utf-8")
    data = _HEADER.pack(len(body)) + body
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ------------------------------------------------------------------------- plain data
def to_plain(value, depth: int = 0):
    """Convert a probe's value to JSON data the grader can compare without trusting it.

    Numbers, strings, ``None``, lists/tuples/dicts of those, NumPy arrays and scalars
    and torch tensors are supported; arrays become ``{"t": "array", "shape": [...],
    "dtype": kind, "v": flat list}``. Anything else becomes ``{"t": "other", "type":
    name}``, which never matches an expected value.
    """
    if depth > MAX_DEPTH:
        raise ValueError("value is nested too deeply")
    np = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    plain = _scalar_plain(value, np)
    if plain is not None:
        return plain
    if torch is not None and isinstance(value, torch.Tensor):
        value = torch.Tensor.numpy(torch.Tensor.cpu(torch.Tensor.detach(value)).resolve_conj())
    if np is not None and isinstance(value, np.ndarray):
        return _array_plain(np.asarray(value))
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ELEMENTS:
            raise ValueError(f"sequence with more than {MAX_ELEMENTS} elements")
        items = list.__iter__(value) if isinstance(value, list) else tuple.__iter__(value)
        return {
            "t": "list" if isinstance(value, list) else "tuple",
            "v": [to_plain(x, depth + 1) for x in items],
        }
    if isinstance(value, dict):
        return _dict_plain(value, depth)
    return {"t": "other", "type": type(value).__name__}


def _scalar_plain(value, np) -> dict | None:
    """None, bool, int, float, complex, str (and NumPy scalars) as plain data; else None."""
    if value is None:
        return {"t": "none"}
    np_bool, np_int, np_float, np_complex = (
        (np.bool_, np.integer, np.floating, np.complexfloating) if np is not None else ((),) * 4
    )
    if isinstance(value, (bool, np_bool)):
        return {"t": "bool", "v": bool(value)}
    if isinstance(value, (int, np_int)):
        return {"t": "int", "v": int(value)}
    if isinstance(value, (float, np_float)):
        return {"t": "float", "v": float(value)}
    if isinstance(value, (complex, np_complex)):
        return {"t": "complex", "v": [float(value.real), float(value.imag)]}
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise ValueError(f"string longer than {MAX_STRING} characters")
        return {"t": "str", "v": str.__str__(value)}
    return None


def _array_plain(arr) -> dict:
    if arr.size > MAX_ELEMENTS:
        raise ValueError(f"array with more than {MAX_ELEMENTS} elements")
    kind = arr.dtype.kind
    if kind == "b":
        flat = [bool(x) for x in arr.ravel()]
    elif kind in "iu":
        flat = [int(x) for x in arr.ravel()]
    elif kind == "f":
        flat = [float(x) for x in arr.ravel()]
    elif kind == "c":
        flat = [[float(x.real), float(x.imag)] for x in arr.ravel()]
    else:
        return {"t": "other", "type": f"array of dtype {arr.dtype}"}
    return {"t": "array", "shape": [int(s) for s in arr.shape], "dtype": kind, "v": flat}


def _dict_plain(value: dict, depth: int) -> dict:
    if len(value) > MAX_ELEMENTS:
        raise ValueError(f"dict with more than {MAX_ELEMENTS} items")
    out = {}
    for k, v in dict.items(value):
        if not isinstance(k, str):
            return {"t": "other", "type": "dict with non-string keys"}
        out[str.__str__(k)] = to_plain(v, depth + 1)
    return {"t": "dict", "v": out}


# ----------------------------------------------------------------------- output capture
class _CappedText(io.TextIOBase):
    """A text stream keeping at most ``cap`` characters (then one truncation notice)."""

    def __init__(self, budget: list[int]):
        self._parts: list[str] = []
        self._budget = budget  # shared [remaining] across stdout/stderr and cells
        self.truncated = False

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        s = str(s)
        left = self._budget[0]
        if left > 0:
            keep = s[:left]
            self._parts.append(keep)
            self._budget[0] = left - len(keep)
        if len(s) > left:
            self.truncated = True
        return len(s)

    def getvalue(self) -> str:
        text = "".join(self._parts)
        if self.truncated:
            text += "\n[output truncated by the grader]\n"
        return text


# ---------------------------------------------------------------------------- the guard
# noqa reason: the hook and its three helpers are closures over local state on purpose
# (nothing a cell could rebind as a module global); ruff adds nested functions to the
# outer one, each of the four is short on its own
def _install_guard(forbidden: list[str], sandbox: str | None) -> None:  # noqa: C901
    """Install the audit hook (see the module docstring). Irreversible by design."""
    realpath = os.path.realpath
    fsdecode = os.fsdecode
    sep = os.sep
    forbidden_t = tuple(realpath(p) for p in forbidden)
    sandbox = realpath(sandbox or os.getcwd())
    allowed_writes = (sandbox, "/dev/null", "/dev/shm")
    own = str(os.getpid())
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def under(path: str, roots: tuple[str, ...]) -> bool:
        return any(path == r or path.startswith(r + sep) for r in roots)

    def resolve(path) -> str | None:
        if isinstance(path, int) or path is None:
            return None
        try:
            return realpath(fsdecode(path))
        except Exception:
            raise PermissionError("course-grade sandbox: unusable path") from None

    def check(event: str, path, write: bool) -> None:
        p = resolve(path)
        if p is None:
            return
        if under(p, forbidden_t):
            raise PermissionError(f"course-grade sandbox: {event} of {p} is not allowed")
        if p.startswith("/proc/"):
            part = p.split("/")[2]
            if part.isdigit() and part != own:
                raise PermissionError(f"course-grade sandbox: {event} of {p} is not allowed")
        if write and not under(p, allowed_writes):
            raise PermissionError(
                f"course-grade sandbox: writing {p} is not allowed (write only in the "
                "current directory)"
            )

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            write = bool(mode and any(c in str(mode) for c in "wax+")) or bool(
                isinstance(flags, int) and flags & write_flags
            )
            check(event, path, write)
        elif event in _READ_PATH_EVENTS:
            if args:
                check(event, args[0], False)
        elif event in _WRITE_PATH_EVENTS:
            for path in tuple(args)[: _WRITE_PATH_EVENTS[event]]:
                if event in ("os.link", "os.symlink", "shutil.copyfile", "shutil.copytree"):
                    # the source must be readable, the destination writable
                    check(event, path, path is not args[0])
                else:
                    check(event, path, True)
        elif event in _BLOCKED_EVENTS:
            raise PermissionError(f"course-grade sandbox: {event} is not allowed")
        elif event == "os.kill":
            if args and str(args[0]) != own:
                raise PermissionError("course-grade sandbox: signalling other processes")

    sys.addaudithook(hook)


# ------------------------------------------------------------------- trusted names
# what hidden expressions may rely on: taken before any student code runs, restored
# before every probe (a student cannot make ``abs`` or ``np.allclose`` lie to a test)
_SNAPSHOT_MODULES = (
    "builtins",
    "math",
    "numpy",
    "numpy.linalg",
    "numpy.random",
    "torch",
    "torch.linalg",
    "torch.nn.functional",
)
_SNAPSHOT_CLASSES = (("torch", "Tensor"), ("torch.nn", "Module"))


class _Trusted:
    """Snapshots of library namespaces, and the globals hidden expressions run in."""

    def __init__(self) -> None:
        self.modules = {}
        for name in _SNAPSHOT_MODULES:
            mod = sys.modules.get(name)
            if mod is not None:
                self.modules[name] = (mod, dict(vars(mod)))
        self.classes = []
        for mod_name, attr in _SNAPSHOT_CLASSES:
            mod = sys.modules.get(mod_name)
            cls = getattr(mod, attr, None) if mod is not None else None
            if isinstance(cls, type):
                self.classes.append((cls, dict(vars(cls))))
        self.builtins = dict(vars(builtins))
        self.aliases = {
            alias: self.modules[name][0]
            for alias, name in (("np", "numpy"), ("torch", "torch"), ("math", "math"))
            if name in self.modules
        }
        self.aliases["F"] = self.modules.get("torch.nn.functional", (None,))[0]

    def restore_builtins(self) -> None:
        """Put back the ``builtins`` module's names (cheap; after every cell)."""
        mod, snap = self.modules["builtins"]
        d = vars(mod)
        for k, v in snap.items():
            if d.get(k, _MISSING) is not v:
                d[k] = v

    def restore(self) -> None:
        """Put back every snapshotted attribute a cell replaced or deleted."""
        for mod, snap in self.modules.values():
            d = vars(mod)
            for k, v in snap.items():
                if d.get(k, _MISSING) is not v:
                    d[k] = v
        for cls, snap in self.classes:
            for k, v in snap.items():
                if k in ("__dict__", "__weakref__", "__doc__"):
                    continue
                if cls.__dict__.get(k, _MISSING) is not v:
                    try:
                        type.__setattr__(cls, k, v)
                    except (TypeError, AttributeError):
                        pass

    def globals_for(self, code, ns: dict) -> dict:
        """``ns`` with the expression's builtin and library names bound to real ones."""
        names = set()
        stack = [code]
        while stack:
            c = stack.pop()
            names.update(c.co_names)
            stack.extend(k for k in c.co_consts if hasattr(k, "co_names"))
        g = dict(ns)
        g["__builtins__"] = dict(self.builtins)
        for n in names:
            if n in self.builtins:
                g.pop(n, None)
            if self.aliases.get(n) is not None:
                g[n] = self.aliases[n]
        return g


_MISSING = object()


# ------------------------------------------------------------------------------ kernel
class _FakeShell:
    """Just enough of ``get_ipython()`` for the line/cell magics found in notebooks."""

    def __init__(self, ns: dict):
        self._ns = ns

    def run_line_magic(self, name, line, *args, **kwargs):
        return None  # %matplotlib inline, %load_ext, %config ...: nothing to do here

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        if name in ("time", "timeit", "capture", "prun"):
            exec(compile(cell, "<cell magic>", "exec"), self._ns)  # noqa: S102
        return None

    def system(self, *args, **kwargs):
        raise PermissionError("course-grade sandbox: shell commands (!cmd) are not run")

    getoutput = system


def _format_error(exc: BaseException) -> str:
    try:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if f.filename.startswith("<cell") or f.filename == "<probe>"
        ]
        lines = traceback.format_list(frames[-5:])
        lines += traceback.format_exception_only(type(exc), exc)
        text = "".join(lines)
    except BaseException:  # a hostile __str__: report the type only
        text = f"{type(exc).__name__} (message could not be shown)\n"
    return text[-4000:]


def _run(fd_in: int, fd_out: int) -> None:
    config = read_message(fd_in)
    if config is None:
        return
    import resource

    mem = int(config["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    fsize = int(config["file_bytes"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    for name in config.get("preimport", []):
        try:
            __import__(name)
        except Exception:  # a missing optional library only matters if a cell uses it
            pass
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    budget = [int(config["output_chars"])]
    ns: dict = {"__name__": "__main__", "__builtins__": builtins}
    shell = _FakeShell(ns)
    ns["get_ipython"] = lambda: shell
    ns["display"] = lambda *objs, **kw: [print(repr(o)) for o in objs] and None
    real_stdout, real_stderr = sys.stdout, sys.stderr
    exec_, eval_, compile_ = builtins.exec, builtins.eval, builtins.compile
    trusted = _Trusted()
    _install_guard(list(config["forbidden"]), config["sandbox"])
    write_message(fd_out, {"op": "ready"})

    while True:
        req = read_message(fd_in)
        if req is None:
            return
        out = _CappedText(budget)
        sys.stdout = sys.stderr = out
        try:
            if req.get("op") == "exec":
                reply = _exec_cell(req, ns, transform, trusted, exec_, compile_)
            elif req.get("op") == "probe":
                reply = _probe(req, ns, trusted, eval_, compile_)
            else:
                reply = {"ok": False, "error": f"unknown request {req.get('op')!r}"}
        finally:
            sys.stdout, sys.stderr = real_stdout, real_stderr
        reply["output"] = out.getvalue()
        reply["truncated"] = out.truncated
        write_message(fd_out, _sendable(reply))


def _exec_cell(req: dict, ns: dict, transform, trusted: _Trusted, exec_, compile_) -> dict:
    """Run one cell in ``ns``; any exception (SystemExit too) is the cell's error."""
    ok, error = True, None
    try:
        code = transform(req["code"])
        exec_(compile_(code, f"<cell {req.get('cell', '?')}>", "exec"), ns)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too
        ok, error = False, _format_error(exc)
    finally:
        trusted.restore_builtins()  # the worker's own code needs real ones
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            try:
                plt.close("all")
            except BaseException:
                pass
    return {"ok": ok, "error": error}


def _probe(req: dict, ns: dict, trusted: _Trusted, eval_, compile_) -> dict:
    """Evaluate hidden-test expressions with the real builtins and library names."""
    values = []
    for expr in req["exprs"]:
        try:
            trusted.restore()
            code = compile_(expr, "<probe>", "eval")
            value = eval_(code, trusted.globals_for(code, ns))
            values.append({"ok": True, "value": to_plain(value)})
        except BaseException as exc:
            values.append({"ok": False, "error": _format_error(exc)})
    return {"values": values}


def _sendable(reply: dict) -> dict:
    """``reply``, or an error reply if it cannot be encoded or is too large."""
    try:
        payload = json.dumps(reply, allow_nan=True)
    except (TypeError, ValueError):
        return {"ok": False, "error": "the result could not be encoded", "output": ""}
    if len(payload) > MAX_MESSAGE - 1024:
        return {"ok": False, "error": "the result is too large to send", "output": ""}
    return reply


def main(argv: list[str] | None = None) -> None:
    """Worker entry point: ``_worker READ_FD WRITE_FD``."""
    argv = sys.argv[1:] if argv is None else argv
    fd_in, fd_out = int(argv[0]), int(argv[1])
    os.set_inheritable(fd_in, False)
    os.set_inheritable(fd_out, False)
    _run(fd_in, fd_out)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: student objects' __del__ must not run


if __name__ == "__main__":
    main()

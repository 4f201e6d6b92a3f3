"""``course.py lab`` for real: JupyterLab starts on a free local port, serves the whole
course, opens the right page, has no news pop-up, and stops cleanly on SIGINT (Ctrl-C)
and SIGTERM, leaving no server or kernel process behind.

Each run uses ``--current-env`` (this test's Python, no install) on a copy of the course
in a temporary folder, with every Jupyter folder and HOME pointed into it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the process table from /proc (Linux)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_env(tmp: Path) -> dict[str, str]:
    """Environment with every folder Jupyter writes to inside ``tmp``."""
    env = dict(os.environ, COURSE_THREADS="1")
    for var in (
        "HOME",
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR",
        "IPYTHONDIR",
        "MPLCONFIGDIR",
    ):
        (tmp / "_jupyter" / var).mkdir(parents=True, exist_ok=True)
        env[var] = str(tmp / "_jupyter" / var)
    return env


def descendants(pid: int) -> set[int]:
    """All live descendants of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Lab:
    """``course.py lab`` started in ``course`` (a course folder) on a free port."""

    def __init__(self, course: Path, tmp: Path, *extra: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"lab-{self.port}.log"
        self.env = private_env(tmp)
        cmd = [
            sys.executable,
            str(course / "course.py"),
            "lab",
            "--current-env",
            "--no-browser",
            f"--port={self.port}",
            "--ip=127.0.0.1",
            "--ServerApp.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            *extra,
        ]
        self._out = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        # its own session: a signal reaches course.py alone, as from a service manager
        # or another program; a terminal's Ctrl-C (the whole group) is tested separately
        self.proc = subprocess.Popen(
            cmd,
            cwd=course,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/api/status", timeout=2)
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.kill()
                    raise AssertionError(
                        f"JupyterLab did not start:\n{self.output()[-3000:]}"
                    ) from None
                time.sleep(0.5)

    def get(self, path: str, redirect: bool = True) -> tuple[int, str, str]:
        """GET ``path``: status, Location header (without following), body."""

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None

        opener = urllib.request.build_opener(*([] if redirect else [NoRedirect()]))
        try:
            with opener.open(f"{self.url}{path}", timeout=30) as r:
                return r.status, r.headers.get("Location", ""), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Location", ""), ""

    def start_kernel(self) -> None:
        req = urllib.request.Request(f"{self.url}/api/kernels", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=60) as r:
            kid = json.loads(r.read())["id"]
        # ready when it answers on its channels (a kernel stopped half-way through its
        # imports prints a KeyboardInterrupt of its own, which is not ours to test)
        from jupyter_client import BlockingKernelClient

        client = BlockingKernelClient(
            connection_file=str(Path(self.env["JUPYTER_RUNTIME_DIR"]) / f"kernel-{kid}.json")
        )
        client.load_connection_file()
        client.start_channels(hb=False)
        try:
            client.kernel_info()
            assert client.get_shell_msg(timeout=90)["msg_type"] == "kernel_info_reply"
        finally:
            client.stop_channels()

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text()

    def stop(self, sig: int, *, group: bool = False, timeout: float = 60) -> tuple[int, str]:
        """Send ``sig`` (to course.py, or its whole process group); wait; exit status
        and output. Fails if anything course.py started is still running afterwards."""
        procs = descendants(self.proc.pid)
        assert procs, "course.py started no JupyterLab process"
        (os.killpg if group else os.kill)(self.proc.pid, sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"course.py still running {timeout} s after {sig!r}") from None
        deadline = time.time() + 20
        while any(alive(p) for p in procs) and time.time() < deadline:
            time.sleep(0.2)
        left = [p for p in procs if alive(p)]
        for p in left:
            os.kill(p, signal.SIGKILL)
        self._out.close()
        assert not left, f"processes left running after {sig!r}: {left}"
        return rc, self.log.read_text()

    def kill(self) -> None:
        for p in descendants(self.proc.pid) | {self.proc.pid}:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait()


@pytest.fixture
def course_copy(tmp_path) -> Path:
    """What the lab command needs of a course: course.py, lectures, exercises."""
    dst = tmp_path / "course"
    dst.mkdir()
    shutil.copy2(ROOT / "course.py", dst)
    shutil.copytree(ROOT / "exercises", dst / "exercises", ignore=shutil.ignore_patterns("backup"))
    (dst / "notebooks").mkdir()
    shutil.copy2(ROOT / "notebooks" / "00_start_here.ipynb", dst / "notebooks")
    return dst


def _clean_exit(rc: int, out: str) -> None:
    assert rc == 0, out[-3000:]
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out[-3000:]
    assert "[course] JupyterLab stopped (exit status 0)" in out, out[-2000:]


def test_lab_serves_the_course_and_stops_on_sigint(course_copy, tmp_path):
    lab = Lab(course_copy, tmp_path)
    try:
        # the whole course is served (not only notebooks/), the workspace was created
        _, _, listing = lab.get("/api/contents")
        names = {c["name"] for c in json.loads(listing)["content"]}
        assert {"notebooks", "exercises", "my_work"} <= names, names
        _, _, work = lab.get("/api/contents/my_work")
        assert {c["name"] for c in json.loads(work)["content"]} >= {
            p.name for p in (ROOT / "exercises").glob("*.ipynb")
        }
        # first run: the start notebook opens
        status, location, _ = lab.get("/", redirect=False)
        assert status in (301, 302) and location.rstrip("?").endswith(
            "/lab/tree/notebooks/00_start_here.ipynb"
        )
        # no news pop-up: the page tells the front end that news are disabled
        _, _, page = lab.get("/lab")
        config = json.loads(
            re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S)[1]
        )
        assert config["news"] == {"disabled": True}, config.get("news")
        # ... and the front end's "get notified about Jupyter news?" toast is off: it shows
        # only while the fetchNews setting is "none"
        _, _, setting = lab.get("/lab/api/settings/@jupyterlab/apputils-extension:notification")
        defaults = json.loads(setting)["schema"]["properties"]  # overrides change defaults
        assert defaults["fetchNews"]["default"] == "false", defaults["fetchNews"]
        assert defaults["checkForUpdates"]["default"] is False
        lab.start_kernel()
    except BaseException:
        lab.kill()
        raise
    _clean_exit(*lab.stop(signal.SIGINT))


def test_lab_stops_on_sigterm_and_reopens_the_workspace(course_copy, tmp_path):
    (course_copy / "my_work").mkdir()  # a returning student
    lab = Lab(course_copy, tmp_path)
    try:
        status, location, _ = lab.get("/", redirect=False)
        assert location.rstrip("?").endswith("/lab/tree/my_work/"), location
        lab.start_kernel()
    except BaseException:
        lab.kill()
        raise
    _clean_exit(*lab.stop(signal.SIGTERM))


def test_ctrl_c_to_the_whole_process_group(course_copy, tmp_path):
    """A terminal's Ctrl-C reaches course.py and JupyterLab at once."""
    lab = Lab(course_copy, tmp_path)
    try:
        lab.start_kernel()
    except BaseException:
        lab.kill()
        raise
    _clean_exit(*lab.stop(signal.SIGINT, group=True))


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal")
def test_ctrl_c_in_a_terminal_shows_jupyters_question_and_stops(course_copy, tmp_path):
    """In a real terminal (tmux): Ctrl-C, Jupyter asks, 'y', everything stops, no traceback."""
    port = _free_port()
    env = private_env(tmp_path)
    assigns = " ".join(
        f"{k}={shlex.quote(env[k])}" for k in env if k.startswith(("HOME", "JUP", "IPY", "MPL"))
    )
    cmd = (
        f"cd {shlex.quote(str(course_copy))} && env {assigns} {shlex.quote(sys.executable)} "
        f"course.py lab --current-env --no-browser --port={port} --ip=127.0.0.1; "
        "echo EXITED rc=$?; sleep 300"
    )
    tmux = ["tmux", "-L", f"course-test-{port}"]
    subprocess.run([*tmux, "new-session", "-d", "-x", "200", "-y", "50", cmd], check=True)

    def screen() -> str:
        return subprocess.run(
            [*tmux, "capture-pane", "-p", "-S", "-200"], capture_output=True, text=True
        ).stdout

    def wait_for(text: str, timeout: float) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            shown = screen()
            if text in shown:
                return shown
            time.sleep(0.5)
        raise AssertionError(f"{text!r} never appeared:\n{screen()[-3000:]}")

    try:
        pane = int(
            subprocess.run(
                [*tmux, "list-panes", "-F", "#{pane_pid}"], capture_output=True, text=True
            ).stdout.split()[0]
        )
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # up, and asking for the token the terminal shows
            except OSError:
                assert time.time() < deadline, screen()[-3000:]
                time.sleep(0.5)
        started = descendants(pane)
        subprocess.run([*tmux, "send-keys", "C-c"], check=True)
        wait_for("Shut down this Jupyter server (y/[n])?", 30)
        subprocess.run([*tmux, "send-keys", "y", "Enter"], check=True)
        shown = wait_for("EXITED rc=", 60)
        after_ctrl_c = shown.split("Shut down this Jupyter server", 1)[1]
        assert "[course] JupyterLab stopped (exit status 0)" in after_ctrl_c, after_ctrl_c
        assert "EXITED rc=0" in after_ctrl_c and "Traceback" not in after_ctrl_c, after_ctrl_c
        time.sleep(1)
        left = [
            p
            for p in started
            if alive(p) and b"sleep" not in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        assert not left, f"processes left running: {left}"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)

"""course.py: what it installs (CPU-only torch on Linux), when it reinstalls, its help,
and the conftest hook that makes nbval failures point at a cell a student can find."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("course_cli", ROOT / "course.py")
course = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course)


def _public_default_env() -> dict[str, str]:
    """This process's environment with no pip configuration (a stock machine's pip)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


# ---------------------------------------------------------------- which torch build


@pytest.mark.parametrize(
    "platform, variant, expected",
    [
        ("linux", "cpu", course.TORCH_CPU_INDEX),
        ("linux", "gpu", None),  # PyPI's Linux wheel is the CUDA build
        ("darwin", "cpu", None),  # PyPI's macOS wheels are CPU builds
        ("darwin", "gpu", None),
        ("win32", "cpu", None),  # PyPI's Windows wheels are CPU builds
        ("win32", "gpu", course.TORCH_CUDA_INDEX),
    ],
)
def test_torch_index_per_platform(platform, variant, expected):
    assert course.torch_index(platform, variant) == expected


def test_torch_index_bad_variant():
    with pytest.raises(ValueError, match="variant must be 'cpu' or 'gpu', got 'cuda'"):
        course.torch_index("linux", "cuda")


def test_cpu_index_is_pytorchs_cpu_only_index():
    assert course.TORCH_CPU_INDEX == "https://download.pytorch.org/whl/cpu"


def test_torch_requirement_is_read_from_pyproject(tmp_path):
    assert course.torch_requirement() in (ROOT / "pyproject.toml").read_text().replace(" ", "")
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[project]\ndependencies = ["numpy"]\n')
    with pytest.raises(SystemExit, match="lists no torch requirement"):
        course.torch_requirement(bad)


class _Recorder:
    """Stands in for pip: records each command, creates the venv's python."""

    def __init__(self, monkeypatch, venv: Path, rc: int = 0):
        self.commands: list[list[str]] = []
        self.rc = rc

        def fake_pip(cmd, t0):
            self.commands.append(cmd)
            return self.rc

        def fake_run(cmd, **kwargs):
            if cmd[1:3] == ["-m", "venv"]:
                py = course._venv_python(venv)
                py.parent.mkdir(parents=True)
                py.write_text("")
            else:
                self.commands.append(cmd)
            return subprocess.CompletedProcess(cmd, 0)

        monkeypatch.setattr(course, "_run_pip", fake_pip)
        monkeypatch.setattr(course.subprocess, "run", fake_run)


def test_linux_install_takes_torch_from_the_cpu_index_first(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(course.sys, "platform", "linux")
    venv = tmp_path / "venv"
    pip = _Recorder(monkeypatch, venv)
    probed = []
    course.ensure_env((), venv=venv, probe=lambda url: probed.append(url) or True)
    py = str(course._venv_python(venv))
    assert probed == [course.TORCH_CPU_INDEX]
    assert pip.commands == [
        [py, "-m", "pip", "install", "--index-url", course.TORCH_CPU_INDEX, "torch>=2.2,<2.14"],
        [py, "-m", "pip", "install", "-e", str(course.ROOT)],  # lean: no test tools
    ]
    assert "first time" in capsys.readouterr().out


def test_unreachable_cpu_index_falls_back_to_the_configured_index(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(course.sys, "platform", "linux")
    venv = tmp_path / "venv"
    pip = _Recorder(monkeypatch, venv)
    course.ensure_env(("test",), venv=venv, probe=lambda url: False)
    assert [c[4:] for c in pip.commands] == [["-e", f"{course.ROOT}[test]"]]
    assert "cannot be reached; taking torch from pip's configured index" in capsys.readouterr().out


def test_failing_cpu_index_install_is_retried_from_the_configured_index(monkeypatch, tmp_path):
    monkeypatch.setattr(course.sys, "platform", "linux")
    venv = tmp_path / "venv"
    pip = _Recorder(monkeypatch, venv)
    calls = []

    def flaky(cmd, t0):  # the CPU index fails half-way, the configured index works
        calls.append(cmd)
        return 1 if "--index-url" in cmd else 0

    monkeypatch.setattr(course, "_run_pip", flaky)
    course.ensure_env((), venv=venv, probe=lambda url: True)
    assert len(calls) == 2 and "--index-url" in calls[0] and "-e" in calls[1]
    assert json.loads((venv / course.STAMP_NAME).read_text())["torch"] == "cpu"
    assert pip.commands == []


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_macos_and_windows_take_torch_from_pypi(monkeypatch, tmp_path, platform):
    monkeypatch.setattr(course.sys, "platform", platform)
    venv = tmp_path / "venv"
    pip = _Recorder(monkeypatch, venv)
    course.ensure_env((), venv=venv, probe=lambda url: pytest.fail("no probe needed"))
    assert [c[4:] for c in pip.commands] == [["-e", str(course.ROOT)]]


def test_lab_and_test_do_not_reinstall_each_other(monkeypatch, tmp_path):
    monkeypatch.setattr(course.sys, "platform", "linux")
    venv = tmp_path / "venv"
    pip = _Recorder(monkeypatch, venv)
    sequence = [(), ("test",), (), ("test",), ("test", "browser"), (), ("test",)]
    installs = []
    for extras in sequence:
        before = len(pip.commands)
        course.ensure_env(extras, venv=venv, probe=lambda url: True)
        installs.append(len(pip.commands) - before)
    # lab installs (torch + package), test adds its tools once, browser once; then nothing
    assert installs == [2, 1, 0, 0, 1, 0, 0]
    stamp = json.loads((venv / course.STAMP_NAME).read_text())
    assert stamp["extras"] == ["browser", "test"] and stamp["torch"] == "cpu"


def test_changed_pyproject_or_gpu_flag_reinstalls(monkeypatch, tmp_path):
    monkeypatch.setattr(course.sys, "platform", "linux")
    venv = tmp_path / "venv"
    pip = _Recorder(monkeypatch, venv)
    course.ensure_env((), venv=venv, probe=lambda url: True)
    monkeypatch.setattr(course, "_fingerprint", lambda root=None: "changed")
    n = len(pip.commands)
    course.ensure_env((), venv=venv, probe=lambda url: True)
    assert [c[4:] for c in pip.commands[n:]] == [["-e", str(course.ROOT)]]
    n = len(pip.commands)
    course.ensure_env((), gpu=True, venv=venv, probe=lambda url: True)
    # the CPU build is removed, the CUDA build then comes from PyPI with the package
    assert [c[3:] for c in pip.commands[n:]] == [
        ["uninstall", "-y", "-q", "torch"],
        ["install", "-e", str(course.ROOT)],
    ]
    n = len(pip.commands)
    course.ensure_env((), venv=venv, probe=lambda url: True)  # the GPU build is remembered
    assert pip.commands[n:] == []


def _fake_wheel(folder: Path, version: str) -> None:
    """A minimal torch wheel (metadata only) named like PyTorch's, in a simple index."""
    name = f"torch-{version}-py3-none-any.whl"
    dist = f"torch-{version}.dist-info"
    with zipfile.ZipFile(folder / name, "w") as z:
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
        z.writestr(
            f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        z.writestr(f"{dist}/RECORD", "")
    page = folder / "simple" / "torch"
    page.mkdir(parents=True, exist_ok=True)
    links = (page / "index.html").read_text() if (page / "index.html").exists() else ""
    href = f"../../{name}".replace("+", "%2B")
    (page / "index.html").write_text(links + f'<a href="{href}">{name}</a>\n')


def _dry_run(cmd: list[str], tmp_path: Path) -> list[dict]:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            *cmd[:4],
            "--dry-run",
            "--ignore-installed",
            "--no-deps",
            "--report",
            str(report),
            *cmd[4:],
        ],
        env=_public_default_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(report.read_text())["install"]


def test_dry_run_of_the_torch_step_resolves_a_cpu_build(tmp_path):
    """pip itself, with a stock configuration, resolving the command course.py runs on
    Linux: the torch step asks the CPU index for pyproject's range and gets the newest
    CPU build inside it. Local stand-ins for the two indexes: nothing is downloaded."""
    cpu, pypi = tmp_path / "cpu", tmp_path / "pypi"
    for folder, versions in ((cpu, ["2.13.0+cpu", "2.14.0+cpu"]), (pypi, ["2.13.0", "2.14.0"])):
        folder.mkdir()
        for v in versions:
            _fake_wheel(folder, v)
    cmd = course.torch_install_command(
        sys.executable, course.TORCH_CPU_INDEX, course.torch_requirement()
    )
    assert cmd[4:6] == ["--index-url", course.TORCH_CPU_INDEX]
    cmd[5] = (cpu / "simple").as_uri()
    [torch] = _dry_run(cmd, tmp_path)
    assert torch["metadata"]["version"] == "2.13.0+cpu"
    assert torch["download_info"]["url"].startswith(cpu.as_uri())
    # without the torch step, a stock pip takes PyPI's wheel (on Linux: the CUDA build)
    [plain] = _dry_run([*cmd[:4], "--index-url", (pypi / "simple").as_uri(), cmd[6]], tmp_path)
    assert plain["metadata"]["version"] == "2.13.0"


@pytest.mark.skipif(
    not course.index_reachable(course.TORCH_CPU_INDEX, timeout=3),
    reason=f"{course.TORCH_CPU_INDEX} cannot be reached from this machine",
)
def test_dry_run_against_pytorchs_real_cpu_index(tmp_path):
    """Where PyTorch's index answers: the real resolution for a Linux x86_64 laptop."""
    cmd = course.torch_install_command(
        sys.executable, course.TORCH_CPU_INDEX, course.torch_requirement()
    )
    linux = [
        "--platform",
        "manylinux_2_28_x86_64",
        "--python-version",
        "3.11",
        "--only-binary=:all:",
    ]
    [torch] = _dry_run([*cmd[:4], *linux, *cmd[4:]], tmp_path)
    assert torch["metadata"]["version"].endswith("+cpu"), torch["metadata"]["version"]


def test_index_probe_says_no_quickly_for_a_closed_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert course.index_reachable(f"http://127.0.0.1:{port}/whl/cpu", timeout=2) is False


# ------------------------------------------------------------------------ command line


def test_help_lists_the_commands_and_exits_0():
    for flag in ("--help", "-h"):
        done = subprocess.run(
            [sys.executable, str(ROOT / "course.py"), flag], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        for word in ("lab", "test", "build", "workspace", "edition", "--gpu", "--current-env"):
            assert word in done.stdout, word


def test_unknown_command_is_refused():
    done = subprocess.run(
        [sys.executable, str(ROOT / "course.py"), "serve"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "expected one of lab, test, build" in done.stderr


def test_build_forwards_arguments_and_exit_status(monkeypatch):
    seen = []
    monkeypatch.setattr(course, "ensure_env", lambda extras, **kw: seen.append(extras) or "PY")
    monkeypatch.setattr(course.subprocess, "call", lambda cmd, cwd: seen.append(cmd) or 7)
    assert course.main(["build", "01_mle", "--no-execute"]) == 7
    assert seen == [
        ("test",),
        ["PY", "-m", "course_utils.authoring", "build", "01_mle", "--no-execute"],
    ]


def test_course_options_are_taken_out_of_the_forwarded_arguments():
    opts, rest = course._split_options(["--gpu", "--port", "8890", "--", "--cpu"])
    assert opts == {"gpu": True, "current_env": False} and rest == ["--port", "8890", "--cpu"]


# -------------------------------------------------------- nbval failures (conftest.py)


def test_nbval_failure_names_the_cell_id_and_position_without_ansi(tmp_path):
    def code(cid, src, out):
        return {
            "cell_type": "code",
            "execution_count": 1,
            "id": cid,
            "metadata": {},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": out}],
            "source": src,
        }

    nb = {
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# t"},
            code("fine", "print(1)", "1\n"),
            {"cell_type": "markdown", "id": "more", "metadata": {}, "source": "text"},
            code("changed", "print(3)", "2\n"),
            code("raises", "1 / 0", ""),
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "edited.ipynb").write_text(json.dumps(nb))
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "edited.ipynb",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, COURSE_THREADS="1"),
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "cell id 'changed', cell 4 of 5 counting every cell from the top" in out, out
    assert "cell id 'raises', cell 5 of 5" in out, out
    assert "nbval's 'Cell 1' counts code cells from 0" in out
    assert "git checkout -- edited.ipynb" in out
    # pytest's colour is 'auto' (off in a log); nbval's own colours and the kernel's
    # coloured traceback are removed
    assert "\x1b[" not in out, "ANSI colour codes in the log"
    assert "ZeroDivisionError" in out

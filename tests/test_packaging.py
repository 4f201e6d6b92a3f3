"""The install story: pyproject.toml, environment.yml, README and .ci/run agree."""

import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(req: str) -> str:
    return req.strip()[len(_name(req)) :].replace(" ", "")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_agrees_with_pyproject():
    project = _pyproject()["project"]
    wanted = {
        _name(r): _spec(r)
        for r in project["dependencies"] + project["optional-dependencies"]["test"]
    }
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for r in dep["pip"]:
                if not r.startswith("-e"):
                    pip[_name(r)] = _spec(r)
        elif _name(dep) not in {"python", "pip"}:
            conda[_name(dep)] = _spec(dep)
    got = {**conda, **pip}
    assert got == wanted, (
        f"environment.yml and pyproject.toml disagree:\n only in yml: "
        f"{set(got.items()) - set(wanted.items())}\n only in pyproject: "
        f"{set(wanted.items()) - set(got.items())}"
    )
    assert any(
        str(d).startswith("-e .")
        for dep in env["dependencies"]
        if isinstance(dep, dict)
        for d in dep["pip"]
    ), "environment.yml must install the package with pip -e ."
    py = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert py and py[0] >= "python=3.10"


def test_torch_pinned_to_cpu_wheel_range():
    deps = _pyproject()["project"]["dependencies"]
    torch_req = next(r for r in deps if _name(r) == "torch")
    # an upper bound is what keeps pip from pulling a multi-GB CUDA build
    assert "<" in torch_req, torch_req


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "python3 course.py test" in readme
    assert "python3 course.py lab" in readme
    script = (ROOT / ".ci/run").read_text()
    # the only test invocation is the README's command, and it is the last line
    lines = [ln.strip() for ln in script.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[-1] == "python3 course.py test", lines[-1]
    assert "pytest" not in script and script.count("course.py") == 1


def test_console_script_declared():
    assert _pyproject()["project"]["scripts"]["course-grade"] == "course_utils.grading:main"

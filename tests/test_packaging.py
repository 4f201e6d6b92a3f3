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


# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(req: str) -> str:
    return req.strip()[len(_name(req)) :].replace(" ", "")


def _conda(dep: str) -> tuple[str, str, str]:
    """A conda match spec ``name version [build]`` as (PyPI name, version spec, build)."""
    name = _name(dep)
    parts = dep.strip()[len(name) :].split()
    version = parts[0] if parts else ""
    build = parts[1] if len(parts) > 1 else ""
    return CONDA_TO_PYPI.get(name, name), version, build


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
            name, version, _ = _conda(dep)
            conda[name] = version
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


def test_torch_range_is_bounded():
    deps = _pyproject()["project"]["dependencies"]
    torch_req = next(r for r in deps if _name(r) == "torch")
    # the range the committed outputs were produced with; course.py picks the build
    assert ">=" in torch_req and "<" in torch_req, torch_req


def test_environment_yml_takes_the_cpu_build_of_pytorch():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    torch = [d for d in env["dependencies"] if isinstance(d, str) and _name(d) == "pytorch"]
    assert len(torch) == 1, "environment.yml must list pytorch once (conda-forge)"
    _, version, build = _conda(torch[0])
    assert build == "cpu_*", f"conda-forge's CPU builds have build strings cpu_*: {torch[0]}"
    pip = [r for d in env["dependencies"] if isinstance(d, dict) for r in d["pip"]]
    assert not [r for r in pip if _name(r) == "torch"], "torch from pip would replace it"


def _counts() -> dict[str, int]:
    import json

    questions = set()
    for path in (ROOT / "solutions").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            course = cell.get("metadata", {}).get("course", {})
            if course.get("role") == "answer" and course.get("question"):
                questions.add((path.stem, course["question"]))
    return {
        "lecture notebooks": len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))),
        "problem sets": len(list((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))),
        "questions": len(questions),
    }


def test_readme_counts_are_true():
    readme = " ".join((ROOT / "README.md").read_text().split())
    counts = _counts()
    m = re.search(r"(\d+) lecture notebooks and (\d+) problem sets with (\d+) questions", readme)
    assert m, "README must say how many lecture notebooks, problem sets and questions there are"
    said = dict(zip(counts, map(int, m.groups()), strict=True))
    assert said == counts, f"README says {said}, the repository has {counts}"
    # the notebook map lists every lecture
    for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        assert f"notebooks/{path.name}" in readme, f"notebook map misses {path.name}"


def test_licence_file_matches_pyproject():
    text = (ROOT / "LICENSE").read_text()
    assert "MIT License" in text and "Permission is hereby granted" in text
    assert "CC BY 4.0" in text and "creativecommons.org/licenses/by/4.0" in text
    assert _pyproject()["project"]["license"]["text"] == "MIT AND CC-BY-4.0"


def test_readme_conda_path_opens_the_whole_course():
    readme = (ROOT / "README.md").read_text()
    assert "jupyter lab notebooks/" not in readme, "serves only notebooks/"
    assert "python course.py lab --current-env" in readme


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


_MD_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(markdown: str) -> list[str]:
    """The targets of a Markdown text's links and images that point into the repository."""
    targets = [m.group(1).split("#")[0] for m in _MD_LINK.finditer(markdown)]
    return [t for t in targets if t and not re.match(r"[a-z]+:", t)]


def test_readme_links_and_images_resolve():
    text = (ROOT / "README.md").read_text()
    links = relative_links(text)
    assert any(t.endswith(".png") for t in links), "the README shows the screenshots"
    missing = [t for t in links if not (ROOT / t).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
    # an image the README shows is a real, small PNG (a screenshot, not a placeholder)
    for t in links:
        if t.endswith(".png"):
            data = (ROOT / t).read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(data) < 400_000, t


def test_relative_links_finds_links_and_images_only():
    text = "see [a](docs/A.md#x), ![b](img/b.png), [web](https://x.org) and [mail](mailto:m@x)"
    assert relative_links(text) == ["docs/A.md", "img/b.png"]

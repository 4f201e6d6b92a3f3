"""The sandbox level the grading tests use: ``"auto"`` where a sandbox works, else
``"none"`` (the tests of the sandbox itself skip then). With
``COURSE_GRADE_REQUIRE_SANDBOX`` set (``.ci/run`` sets it), a missing sandbox is an
error instead."""

from __future__ import annotations

import os

from course_utils.grading._sandbox import SandboxError, select_launcher


def _level() -> str | None:
    try:
        return select_launcher("auto", [])[0].level
    except SandboxError:
        return None


LEVEL = _level()
if LEVEL is None and os.environ.get("COURSE_GRADE_REQUIRE_SANDBOX"):
    raise RuntimeError("COURSE_GRADE_REQUIRE_SANDBOX is set but no sandbox works here")
SANDBOX = "auto" if LEVEL else "none"
CLI_FLAGS = [] if LEVEL else ["--no-sandbox"]

# what a default (``kernels="template"``) batch reports: kernels forked from a template
# at bubblewrap as root, else one launch per kernel at the selected level
TEMPLATE_LEVEL = f"{LEVEL}+template" if LEVEL == "bubblewrap" and os.getuid() == 0 else LEVEL

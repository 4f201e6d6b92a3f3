"""Hostile submissions for the toy topic (``tests/grading_fixtures/toy.py``).

Each module is one attack class from issue 17 and defines:

* ``ATTACK``: what the submission tries (one line, named in the test's report);
* ``ANSWERS``: answer-cell code per question (``str.format`` fields: ``root`` the
  course root, ``out`` the out dir, ``subs`` the submissions dir, ``victim`` another
  student's submission file, ``site`` the grader's site-packages, ``marker`` a word
  every process and file the attack creates carries);
* ``HONEST``: the questions it answers with correct code; it must score exactly those
  (full marks there, zero elsewhere: an attack never gains points).

``STEAL`` is shared: given the text of ``solutions/01_toy.ipynb``, it runs the
solution's answer cells, so an attack that manages to read the solution would score.
"""

from __future__ import annotations

import importlib
import pkgutil

STEAL = """
def _steal(text):
    import json as _json
    nb = _json.loads(text)
    for c in nb["cells"]:
        meta = c.get("metadata", {{}}).get("course", {{}})
        if c["cell_type"] == "code" and meta.get("role") == "answer":
            src = c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            exec(src, globals())
"""

# honest answers, the same as the toy solution's
SOLUTION = {
    "q1": "def mean_var(x):\n    m = float(np.mean(x))\n    return m, float(np.mean((x - m) ** 2))",
    "q2": "def gram(a):\n    return a @ a.T",
    "q3": "g = torch.Generator().manual_seed(1)\nt = torch.linspace(0, 1, 50, dtype=torch.float64)\n"
    "y = 3 * t + 0.01 * torch.randn(50, generator=g, dtype=torch.float64)\n"
    "slope = float((t * y).sum() / (t * t).sum())\nloss = float(((slope * t - y) ** 2).mean())",
    "q4": "def shout(s):\n    return s.upper() + '!'",
}


def attacks() -> dict[str, object]:
    """``{module name: module}`` for every attack in this package."""
    out = {}
    for info in pkgutil.iter_modules(__path__):
        out[info.name] = importlib.import_module(f"{__name__}.{info.name}")
    return out

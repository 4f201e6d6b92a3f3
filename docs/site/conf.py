"""Sphinx configuration of the course website (built by ``python3 course.py site``).

The source folder is a staging copy that ``course_utils.site`` lays out under
``build/site-src/`` (front page from the README, lectures, exercises, errata, and the
solutions only with ``--solutions``); this file is passed to sphinx-build with ``-c``.
Everything the pages load is bundled: MathJax 3 with its fonts (sphinx-mathjax-offline),
the theme's fonts and icons (pydata-sphinx-theme vendors them), Sphinx's own search.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from pathlib import Path

project = "From maximum likelihood to flow matching"
author = "the course authors"
copyright = "the course authors (MIT licence)"

extensions = ["myst_nb"]

# MathJax 3.2.2 and its woff fonts come from the PyPI package sphinx-mathjax-offline; its
# own Sphinx hook copies all 24 MB of it, so setup() below copies only what the CommonHTML
# renderer loads (the combined tex-chtml.js, the TeX extensions it may autoload, its fonts,
# the menu and accessibility components): about 2 MB, and no request leaves the site.
mathjax_path = "mathjax/tex-chtml.js"
_MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml", "ui", "a11y")

# The notebooks are executed and committed with their outputs: render them as they are.
nb_execution_mode = "off"
# Widgets are live only in JupyterLab; on the site the static figure before them stands.
# An empty dict keeps myst-nb from adding require.js and the widget manager from a CDN.
nb_ipywidgets_js = {}
nb_merge_streams = True
nb_output_stderr = "remove"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute"]

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = []
html_copy_source = True
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "use_download_button": True,
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "navigation_with_keys": True,
    # no calls to a version or announcement service
    "check_switcher": False,
}
html_context = {"default_mode": "light"}
# The instructor build names itself in the banner so it is never mistaken for the public one.
if os.environ.get("COURSE_SITE_SOLUTIONS") == "1":
    html_theme_options["announcement"] = "Instructor build: includes the solutions."


def _mathjax_source() -> Path:
    dist = importlib.metadata.distribution("sphinx-mathjax-offline")
    src = Path(str(dist.locate_file("sphinx-mathjax-offline/static/mathjax")))
    if not (src / "tex-chtml.js").is_file():
        raise FileNotFoundError(f"MathJax not found in {src}: pip install sphinx-mathjax-offline")
    return src


def _copy_mathjax(app, exc) -> None:
    if exc is not None:
        return
    src, dst = _mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in _MATHJAX_PARTS:
        if (src / part).is_dir():
            shutil.copytree(src / part, dst / part, dirs_exist_ok=True)
        else:
            (dst / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / part, dst / part)


def setup(app):
    _mathjax_source()  # fail early, before rendering, when the package is missing
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True}

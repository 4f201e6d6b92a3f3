"""The course website (course_utils.site): built from the committed notebooks, read offline.

The staging tests are fast and need no browser. The site tests build the site once into
a temporary folder, serve it from ``http.server`` on 127.0.0.1, and read it in Debian's
Chromium through Playwright with every request to another host aborted and recorded.
Screenshots go to ``test-artifacts/site/``.
"""

from __future__ import annotations

import functools
import html
import html.parser
import http.server
import json
import re
import threading
import time
import urllib.parse
from pathlib import Path

import nbformat
import pytest
from lab_helpers import CHROMIUM, offline_browser

from course_utils import site

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "site"
LECTURES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SITE_CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"]


# --- staging: what goes into the site (no Sphinx, no browser) ---------------------------


def test_default_stage_has_no_solutions(tmp_path):
    pages = site.stage_site(ROOT, tmp_path / "src")
    assert not (tmp_path / "src" / "solutions").exists()
    assert not [p for p in pages if p.startswith("solutions/")]
    index = (tmp_path / "src" / "index.md").read_text()
    assert "](solutions/" not in index and "\nsolutions/" not in index
    for lec in LECTURES:
        assert f"notebooks/{lec.stem}" in pages
    assert len([p for p in pages if p.startswith("exercises/")]) == len(
        list((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))
    )


def test_solutions_only_on_request(tmp_path):
    pages = site.stage_site(ROOT, tmp_path / "src", solutions=True)
    sols = sorted(p.stem for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    assert sols and [p for p in pages if p.startswith("solutions/")] == [
        f"solutions/{s}" for s in sols
    ]
    assert "Solutions (instructors)" in (tmp_path / "src" / "index.md").read_text()


def test_exercises_get_a_download_link(tmp_path):
    site.stage_site(ROOT, tmp_path / "src")
    nb = nbformat.read(tmp_path / "src" / "exercises" / "01_mle.ipynb", as_version=4)
    assert "{download}`Download 01_mle.ipynb <01_mle.ipynb>`" in nb.cells[1].source
    # the committed exercise is untouched
    assert "{download}" not in (ROOT / "exercises" / "01_mle.ipynb").read_text()


def test_links_outside_the_site_become_text(tmp_path):
    (tmp_path / "a.md").write_text("x")
    text = "[kept](a.md) [gone](../course_utils/ode.py) [web](https://x.org) [anchor](#s)"
    got = site._fix_links(text, tmp_path, tmp_path)
    assert got == "[kept](a.md) gone [web](https://x.org) [anchor](#s)"


def test_errata_page_collects_every_pitfall_box():
    page = site.errata_page(LECTURES)
    expected = sum(
        c.source.count("> **Pitfall")
        for p in LECTURES
        for c in nbformat.read(p, as_version=4).cells
        if c.cell_type == "markdown"
    )
    assert expected > 0 and page.count("> **Pitfall") == expected


def test_front_page_has_the_course_map():
    front = site._readme_front_page((ROOT / "README.md").read_text())
    assert "## Notebook map" in front
    for lec in LECTURES:
        assert f"notebooks/{lec.name}" in front


# --- the built site -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("sphinx", reason="the site needs sphinx (pip install -e '.[test]')")
    pytest.importorskip("myst_nb", reason="the site needs myst-nb (pip install -e '.[test]')")
    out = tmp_path_factory.mktemp("site") / "site"
    t0 = time.perf_counter()
    site.build_site(ROOT, out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"\n[site] built in {time.perf_counter() - t0:.0f} s, {size / 1e6:.1f} MB")
    return out


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key) and not (tag == "link" and a.get("rel") == "preconnect"):
                self.links.append(a[key])


@functools.cache
def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_every_internal_link_resolves(built):
    bad, external = [], set()
    pages = sorted(built.rglob("*.html"))
    assert len(pages) >= len(LECTURES) + 3
    for page in pages:
        for link in _parse(page).links:
            url = urllib.parse.urlsplit(link)
            if url.scheme in ("http", "https", "mailto"):
                external.add(link)
                continue
            if url.scheme or link.startswith("//"):
                bad.append((page.name, link))
                continue
            target = (page.parent / urllib.parse.unquote(url.path)).resolve() if url.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                bad.append((str(page.relative_to(built)), link))
            elif url.fragment and target.suffix == ".html":
                if url.fragment not in _parse(target).ids:
                    bad.append((str(page.relative_to(built)), link))
    assert not bad, f"{len(bad)} broken internal links, e.g. {bad[:10]}"
    # links to other sites are fine to *show* (papers), but no page may *load* from one
    for page in pages:
        text = page.read_text(encoding="utf-8")
        loads = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?:[^"]+)"', text)
        loads = [u for u in loads if "preconnect" not in u]
        assert not loads, f"{page.name} loads {loads[:3]} from the network"


def _solution_lines() -> set[str]:
    """Distinctive lines of solution code (between the nbgrader markers) of every topic."""
    lines = set()
    for src in (ROOT / "solutions").glob("[0-9][0-9]_*.py"):
        inside = False
        for line in src.read_text(encoding="utf-8").splitlines():
            if "### BEGIN SOLUTION" in line:
                inside = True
            elif "### END SOLUTION" in line:
                inside = False
            elif inside and len(line.strip()) > 30 and not line.strip().startswith("#"):
                lines.add(line.strip())
    # a line the students are given anyway (in an exercise or a lecture) is no secret
    public = "".join(
        p.read_text(encoding="utf-8")
        for d in ("exercises", "notebooks")
        for p in (ROOT / d).glob("*.ipynb")
    )
    return {ln for ln in lines if json.dumps(ln)[1:-1] not in public}


def test_default_build_has_no_solutions(built):
    secret = _solution_lines()
    assert len(secret) > 20  # the check below is only as good as this list
    assert not (built / "solutions").exists()
    for page in built.rglob("*.html"):
        raw = page.read_text(encoding="utf-8")
        assert 'href="solutions/' not in raw and 'href="../solutions/' not in raw, page
        text = html.unescape(re.sub(r"<[^>]+>", "", raw))
        leaked = [ln for ln in secret if ln in text]
        assert not leaked, f"{page.relative_to(built)} shows solution code: {leaked[:3]}"
    for src in built.rglob("*.ipynb"):
        text = src.read_text(encoding="utf-8")
        leaked = [ln for ln in secret if json.dumps(ln)[1:-1] in text]
        assert not leaked, f"{src.relative_to(built)} holds solution code: {leaked[:3]}"


def test_exercise_download_link_is_the_notebook(built):
    page = built / "exercises" / "01_mle.html"
    hrefs = [h for h in _parse(page).links if h.endswith("01_mle.ipynb")]
    assert hrefs, "no download link to the exercise"
    target = (page.parent / hrefs[0]).resolve()
    nb = nbformat.read(target, as_version=4)
    assert any(c.metadata.get("course", {}).get("role") == "check" for c in nb.cells)


# --- in the browser, offline ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server(built):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def offline_page(server):
    if CHROMIUM is None:
        pytest.skip("the site browser test needs Debian's chromium; .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright")
    with offline_browser(sync_api, (1300, 900), SITE_CHROMIUM_ARGS) as (ctx, left):
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        yield page, left
    assert not left, f"requests left the machine: {left[:5]}"


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"[site] screenshot {path}")
    return path


def _typeset(page) -> dict:
    """Wait for MathJax; return counts of math blocks, typeset formulas and raw TeX left."""
    page.wait_for_load_state("load")
    if page.locator(".math").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
    return page.evaluate(
        """() => {
        const main = document.querySelector('main') || document.body;
        const raw = [...main.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container'));
        const text = main.innerText;
        return {math: main.querySelectorAll('.math').length,
                typeset: main.querySelectorAll('mjx-container').length,
                untypeset: raw.length,
                dollars: (text.match(/\\$\\$/g) || []).length,
                brackets: (text.match(/\\\\[\\[(]/g) || []).length,
                errors: main.querySelectorAll('mjx-merror').length};
    }"""
    )


def _images(page) -> list:
    page.wait_for_load_state("load")
    return page.evaluate(
        "() => [...document.images].map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
    )


@pytest.mark.browser
@pytest.mark.parametrize(
    "path",
    [
        "index.html",
        "notebooks/02_odes.html",
        "notebooks/07_flow_matching.html",
        "notebooks/08_volume_metrics.html",
        "notebooks/01_mle.html",
        "errata.html",
    ],
)
def test_page_renders_offline(offline_page, server, path):
    page, left = offline_page
    page.goto(f"{server}/{path}")
    counts = _typeset(page)
    _shot(page, Path(path).stem)
    if path.startswith("notebooks/"):
        assert counts["math"] > 5 and counts["typeset"] >= counts["math"], counts
        imgs = _images(page)
        figures = [i for i in imgs if "_images/" in (i[0] or "")]
        assert figures, "a lecture page shows its figures"
        assert all(ok and w > 0 for _, ok, w in imgs), [i for i in imgs if not i[2]]
    assert counts["untypeset"] == 0 and counts["errors"] == 0, counts
    assert counts["dollars"] == 0 and counts["brackets"] == 0, counts
    assert not left, left


@pytest.mark.browser
def test_navigation_and_search(offline_page, server):
    page, left = offline_page
    page.goto(f"{server}/notebooks/02_odes.html")
    page.click("a.right-next")
    page.wait_for_load_state("load")
    assert page.url.endswith("notebooks/03_change_of_variables.html"), page.url
    page.goto(f"{server}/search.html?q=Euler")
    page.wait_for_selector("#search-results li", timeout=60_000)
    hits = page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.href)")
    _shot(page, "search")
    assert any("02_odes" in h for h in hits), hits
    assert not left, left

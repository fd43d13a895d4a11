"""Check the built book in a real headless browser (Debian's ``chromium``), without Playwright:
``--dump-dom`` gives the DOM after the page's load event, ``--screenshot`` a PNG.

* pages render: the DOM has the page's title and heading; a screenshot is not blank;
* figures are present: every ``<img>`` has loaded (``naturalWidth > 0``, measured by a copy of the
  page with a small load-event script that writes the result into the DOM);
* navigation works: each page's "next" link leads to the next page of the TOC, "previous" to the
  one before, and following "next" from the first page visits every page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple
from urllib.parse import unquote, urlparse

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio"]
IMG_PROBE = """
<script>
window.addEventListener('load', function () {
  var r = Array.prototype.map.call(document.images, function (i) {
    return [i.getAttribute('src'), (i.complete && i.naturalWidth > 0) ? 1 : 0];
  });
  document.documentElement.setAttribute('data-img-probe', JSON.stringify(r));
});
</script>
"""


def find_chromium() -> Optional[str]:
    env = os.environ.get("MIFOMO_CHROMIUM")
    if env and Path(env).exists():
        return env
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageDom:
    title: str = ""
    h1: List[str] = field(default_factory=list)
    imgs: List[str] = field(default_factory=list)
    prev: Optional[str] = None
    next: Optional[str] = None
    probe: Optional[list] = None
    text_len: int = 0


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.dom = PageDom()
        self._in: List[str] = []
        self._h1_buf: Optional[List[str]] = None
        self._title_buf: Optional[List[str]] = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "html" and a.get("data-img-probe"):
            self.dom.probe = json.loads(a["data-img-probe"])
        if tag == "title" and not self.dom.title and self._title_buf is None:
            self._title_buf = []  # the document title only (SVG icons have <title>s too)
        elif tag == "h1":
            self._h1_buf = []
        elif tag == "img" and a.get("src"):
            self.dom.imgs.append(a["src"])
        elif tag == "a":
            if "left-prev" in classes and a.get("href"):
                self.dom.prev = a["href"]
            if "right-next" in classes and a.get("href"):
                self.dom.next = a["href"]

    def handle_endtag(self, tag):
        if tag == "title" and self._title_buf is not None:
            self.dom.title = "".join(self._title_buf).strip()
            self._title_buf = None
        elif tag == "h1" and self._h1_buf is not None:
            self.dom.h1.append(" ".join("".join(self._h1_buf).split()).strip("#¶ "))
            self._h1_buf = None

    def handle_data(self, data):
        if self._title_buf is not None:
            self._title_buf.append(data)
        if self._h1_buf is not None:
            self._h1_buf.append(data)
        self.dom.text_len += len(data.strip())


def parse_dom(text: str) -> PageDom:
    p = _Parser()
    p.feed(text)
    return p.dom


class Browser:
    """One headless chromium with a private profile folder; each call starts a fresh process."""

    def __init__(self, exe: Optional[str] = None, workdir: Optional[Path] = None, timeout: int = 90):
        self.exe = exe or find_chromium()
        if not self.exe:
            raise FileNotFoundError("no chromium found (apt-get install -y chromium)")
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="mifomo-chromium-"))
        self.timeout = timeout

    def _run(self, extra: Sequence[str], url: str) -> subprocess.CompletedProcess:
        cmd = [self.exe, *FLAGS, f"--user-data-dir={self.workdir / 'profile'}", *extra, url]
        env = dict(os.environ, HOME=str(self.workdir))
        return subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout, env=env)

    def dump_dom(self, url: str) -> str:
        proc = self._run(["--virtual-time-budget=5000", "--dump-dom"], url)
        if proc.returncode != 0 or "<html" not in proc.stdout.lower():
            raise RuntimeError(f"chromium --dump-dom {url} failed (exit {proc.returncode}): "
                               f"{proc.stderr.strip().splitlines()[-1:] if proc.stderr else ''}")
        return proc.stdout

    def screenshot(self, url: str, path: Path, size: Tuple[int, int] = (1280, 900)) -> Path:
        path = Path(path)
        proc = self._run([f"--screenshot={path}", f"--window-size={size[0]},{size[1]}",
                          "--virtual-time-budget=5000"], url)
        if not path.exists():
            raise RuntimeError(f"chromium --screenshot {url} wrote no file (exit {proc.returncode})")
        return path


def blank_fraction(png: Path) -> Tuple[float, float]:
    """(share of near-white pixels, pixel standard deviation) of a screenshot."""
    import matplotlib.image as mpimg
    import numpy as np

    img = np.asarray(mpimg.imread(str(png)), dtype=float)[..., :3]
    white = float(np.mean(np.all(img > 0.97, axis=-1)))
    return white, float(img.std())


def _norm(text: str) -> str:
    """Lower case with typographic quotes and dashes made plain (Sphinx "smartquotes" them)."""
    for fancy, plain in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("–", "-"), ("—", "-")):
        text = text.replace(fancy, plain)
    return " ".join(text.lower().split())


def page_url(html_dir: Path, page: str) -> str:
    return (Path(html_dir) / f"{page}.html").resolve().as_uri()


def _target(from_url: str, href: str) -> Path:
    base = Path(unquote(urlparse(from_url).path)).parent
    return (base / unquote(href.split("#", 1)[0])).resolve()


def _page_problems(html_dir: Path, pages: Sequence[str], i: int, dom: PageDom, url: str,
                   want: Optional[str]) -> List[str]:
    """Title, text and next/previous links of the ``i``-th TOC page."""
    page = pages[i]
    problems: List[str] = []
    if not dom.title:
        problems.append(f"{page}: the rendered DOM has no <title>")
    if want and not any(_norm(want) in _norm(t) for t in [dom.title, *dom.h1]):
        problems.append(f"{page}: neither <title> {dom.title!r} nor <h1> {dom.h1} contains {want!r}")
    if dom.text_len < 200:
        problems.append(f"{page}: the rendered page has almost no text ({dom.text_len} characters)")
    expect_next = pages[i + 1] if i + 1 < len(pages) else None
    expect_prev = pages[i - 1] if i > 0 else None
    for kind, href, expect in (("next", dom.next, expect_next), ("previous", dom.prev, expect_prev)):
        if expect is None:
            continue
        if not href:
            problems.append(f"{page}: no '{kind}' link (expected one to {expect})")
            continue
        tgt = _target(url, href)
        want_path = (html_dir / f"{expect}.html").resolve()
        if tgt != want_path:
            problems.append(f"{page}: '{kind}' link {href!r} leads to {tgt.name}, expected {expect}.html")
        elif not tgt.exists():
            problems.append(f"{page}: '{kind}' link {href!r} points to a missing file")
    return problems


def _figure_problems(html_dir: Path, page: str, browser: "Browser") -> List[str]:
    """A probe copy of a figure page reports whether every local <img> loaded."""
    src = html_dir / f"{page}.html"
    if not src.exists():
        return []
    probe = src.with_name(f"_probe_{src.name}")
    text = src.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", IMG_PROBE + "</body>", 1), encoding="utf-8")
    try:
        dom = parse_dom(browser.dump_dom(probe.resolve().as_uri()))
    finally:
        probe.unlink()
    if dom.probe is None:
        return [f"{page}: the image probe did not run (page load never finished?)"]
    problems = []
    content = [(s, ok) for s, ok in dom.probe if "_images/" in s or s.startswith("data:image")]
    if not content:
        problems.append(f"{page}: no figure (<img> of an output) on the page")
    # external images (e.g. the Colab badge) cannot load offline; local ones must
    broken = [s for s, ok in dom.probe if not ok and not s.startswith(("http://", "https://"))]
    if broken:
        problems.append(f"{page}: {len(broken)} image(s) failed to load: {broken[:3]}")
    return problems


def _navigation_problems(html_dir: Path, pages: Sequence[str], doms: Dict[str, PageDom]) -> List[str]:
    """Follow the rendered "next" links from the first page; they must visit the TOC in order."""
    if not pages or pages[0] not in doms:
        return []
    root = html_dir.resolve()
    seen = [pages[0]]
    page = pages[0]
    while page in doms and doms[page].next and len(seen) <= len(pages):
        tgt = _target(page_url(html_dir, page), doms[page].next)
        page = tgt.relative_to(root).with_suffix("").as_posix() if tgt.is_relative_to(root) else str(tgt)
        seen.append(page)
    if seen[: len(pages)] != list(pages):
        return [f"following 'next' from {pages[0]} visits {seen}, expected {list(pages)}"]
    return []


def check_book(html_dir: Path, pages: Sequence[str], *, titles: Optional[Dict[str, str]] = None,
               figure_pages: Sequence[str] = (), screenshot_pages: Sequence[str] = (),
               browser: Optional[Browser] = None, workdir: Optional[Path] = None) -> List[str]:
    """Problems found in the built book (empty list: all good). ``pages`` in TOC order, as paths
    relative to ``html_dir`` without ``.html``; ``titles`` maps a page to text its <h1> or <title>
    must contain; ``figure_pages`` must show at least one loaded image."""
    html_dir = Path(html_dir)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="mifomo-bookcheck-"))
    browser = browser or Browser(workdir=workdir / "chromium")
    problems: List[str] = []
    titles = titles or {}
    doms: Dict[str, PageDom] = {}
    for i, page in enumerate(pages):
        f = html_dir / f"{page}.html"
        if not f.exists():
            problems.append(f"{page}: {f} was not built")
            continue
        url = page_url(html_dir, page)
        doms[page] = parse_dom(browser.dump_dom(url))
        problems += _page_problems(html_dir, pages, i, doms[page], url, titles.get(page))
    for page in figure_pages:
        problems += _figure_problems(html_dir, page, browser)
    for page in screenshot_pages:  # pages render: screenshots are not blank
        png = workdir / f"{page.replace('/', '_')}.png"
        browser.screenshot(page_url(html_dir, page), png)
        white, std = blank_fraction(png)
        if white > 0.995 or std < 0.01:
            problems.append(f"{page}: the screenshot is blank ({white:.1%} white, std {std:.3f})")
    return problems + _navigation_problems(html_dir, pages, doms)

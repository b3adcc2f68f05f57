"""Fail the docs build on any error box a reader would see in the built HTML.

Some errors reach the page without a Sphinx warning, so ``-W`` lets them through:

* furo draws a red "ERROR: Adding a table of contents ..." box over every
  ``.. contents::`` block. The HTML holds only ``<nav class="contents ...">``; the
  words come from furo's stylesheet (``.contents::before``), which is why a search
  of the HTML for "ERROR" finds nothing. Furo's escape hatch, the class
  ``this-will-duplicate-information-and-it-is-still-useful-here``, is respected.
* docutils shows the errors it reports inline as ``<div class="system-message">``
  boxes, and the text they point at as ``<span class="problematic">``.

After an HTML build, every page is read and each such box is a warning (so an error
under ``-W``), naming the page. The API reference's pages (``api/``) are also read
for private names (a module ``_deadlines.py``, an attribute ``Pid._mailbox``, a path
``trio_otp._core...``): in its text, its anchors or its links. They show the public
names only.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from sphinx.util import logging

ESCAPE_HATCH = "this-will-duplicate-information-and-it-is-still-useful-here"

#: class -> what the reader sees.
BOXES = {
    "contents": "furo's red 'ERROR: Adding a table of contents' box (remove `.. contents::`)",
    "system-message": "a docutils error box (system-message)",
    "problematic": "a docutils 'problematic' marker",
}


class _Finder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        for name, what in BOXES.items():
            if name in classes and ESCAPE_HATCH not in classes:
                self.found.append(f"<{tag} class={' '.join(sorted(classes))!r}>: {what}")


def error_boxes(html: str) -> list[str]:
    """The error boxes in one HTML page, each described for the reader of the build log."""
    finder = _Finder()
    finder.feed(html)
    return finder.found


#: A private module file, a private attribute of a public name, a private path.
PRIVATE = re.compile(r"\b_[a-z]\w*\.py\b|\b[A-Z]\w*\._[a-z]\w*|\btrio_otp\._\w+")


class _PrivateFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._skip = 0  # inside <script>/<style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for key, value in attrs:
            if key in ("id", "href") and value:
                self.found += [f"{key}={m.group(0)}" for m in PRIVATE.finditer(value)]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found += [m.group(0) for m in PRIVATE.finditer(data)]


def private_names(html: str) -> list[str]:
    """The private names a page shows: in its text, anchors (``id``) and links."""
    body = html.split('<article role="main"', 1)[-1].split("</article>", 1)[0]
    finder = _PrivateFinder()
    finder.feed(body)
    return finder.found


def _check_built_pages(app: Any, exception: BaseException | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    logger = logging.getLogger(__name__)
    out = Path(app.outdir)
    for page in sorted(out.rglob("*.html")):
        if page.relative_to(out).parts[0] in ("_static", "_modules"):
            continue
        html = page.read_text(encoding="utf-8")
        for box in error_boxes(html):
            logger.warning("%s shows an error box: %s", page.relative_to(out), box)
        if page.relative_to(out).parts[0] == "api":
            for name in sorted(set(private_names(html))):
                logger.warning("%s shows a private name: %s", page.relative_to(out), name)


def setup(app: Any) -> dict[str, Any]:
    app.connect("build-finished", _check_built_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

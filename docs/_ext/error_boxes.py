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
under ``-W``), naming the page.
"""

from __future__ import annotations

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


def _check_built_pages(app: Any, exception: BaseException | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    logger = logging.getLogger(__name__)
    out = Path(app.outdir)
    for page in sorted(out.rglob("*.html")):
        if page.relative_to(out).parts[0] in ("_static", "_modules"):
            continue
        for box in error_boxes(page.read_text(encoding="utf-8")):
            logger.warning("%s shows an error box: %s", page.relative_to(out), box)


def setup(app: Any) -> dict[str, Any]:
    app.connect("build-finished", _check_built_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

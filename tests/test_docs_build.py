"""The docs build (``nox -s docs``: Sphinx, ``-W``, offline) and what it checks.

These tests run Sphinx itself, so they need the docs requirements
(``docs/requirements.txt``; ``nox -s tests`` installs them). Without them they are
skipped, and ``nox -s docs`` remains the check.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs requirements are not installed")
pytest.importorskip("furo", reason="the docs requirements are not installed")

ROOT = Path(__file__).resolve().parent.parent
EXT = ROOT / "docs" / "_ext"
sys.path.insert(0, str(EXT))

import error_boxes  # noqa: E402


def _sphinx(src: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", src, out],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _project(tmp_path: Path, page: str) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXT)!r})\n"
        "extensions = ['error_boxes']\nhtml_theme = 'furo'\n"
    )
    (src / "index.rst").write_text(textwrap.dedent(page))
    return src


PAGE_WITH_CONTENTS = """\
    A page
    ======

    .. contents:: On this page
       :local:

    One
    ---

    Two
    ---
    """


def test_a_contents_block_fails_the_docs_build(tmp_path: Path) -> None:
    """``.. contents::`` passes Sphinx's own ``-W`` but shows furo's red error box
    (``<nav class="contents">``, its words drawn by furo's CSS): the build fails,
    naming the page and the fix."""
    src = _project(tmp_path, PAGE_WITH_CONTENTS)
    done = _sphinx(src, tmp_path / "out")
    assert done.returncode == 1
    assert "index.html shows an error box" in done.stderr
    assert "remove `.. contents::`" in done.stderr
    html = (tmp_path / "out" / "index.html").read_text()
    assert '<nav class="contents local"' in html
    assert "ERROR" not in html.split("<body", 1)[1]  # the box's words are furo's CSS


def test_the_same_build_passes_without_the_box(tmp_path: Path) -> None:
    """With furo's escape-hatch class (or no ``.. contents::``) the same page builds."""
    page = PAGE_WITH_CONTENTS.replace(
        "   :local:\n",
        "   :local:\n       :class: this-will-duplicate-information-and-it-is-still-useful-here\n",
    )
    src = _project(tmp_path, page)
    done = _sphinx(src, tmp_path / "out")
    assert done.returncode == 0, done.stderr


def test_docutils_error_boxes_are_found() -> None:
    """docutils' inline error boxes and problematic markers are error boxes too."""
    html = (
        '<div class="system-message" id="id1"><p class="system-message-title">'
        'System Message: ERROR/3</p></div><a class="problematic" href="#id1">`x</a>'
        '<p class="contents-of-something">fine</p>'
    )
    found = error_boxes.error_boxes(html)
    assert len(found) == 2
    assert "system-message" in found[0]
    assert "problematic" in found[1]


def test_the_changelog_page_shows_every_news_fragment() -> None:
    """The changelog page's draft (towncrier, offline) holds each fragment's text."""
    pytest.importorskip("towncrier", reason="the docs requirements are not installed")
    import changelog_draft

    text = changelog_draft.draft()
    assert text.startswith("Not yet released\n----------------\n")
    fragments = [p for p in (ROOT / "newsfragments").glob("*.*.rst")]
    assert fragments
    for fragment in fragments:
        first_words = " ".join(fragment.read_text(encoding="utf-8").split()[:6])
        assert first_words in " ".join(text.split()), fragment.name

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


def test_a_private_name_on_an_api_page_fails_the_docs_build(tmp_path: Path) -> None:
    """The API reference (``api/``) shows public names only: a private path, module
    file or attribute in its text fails the build, naming the page and the name; the
    same words on a page outside ``api/`` (the design page explains the internals)
    pass."""
    src = _project(tmp_path, "Index\n=====\n\n.. toctree::\n\n   api/calls\n   design\n")
    (src / "api").mkdir()
    words = "See ``trio_otp._core._call``, ``_deadlines.py`` and ``Pid._mailbox``.\n"
    (src / "api" / "calls.rst").write_text("Calls\n=====\n\n" + words)
    (src / "design.rst").write_text("Design\n======\n\n" + words)
    done = _sphinx(src, tmp_path / "out")
    assert done.returncode == 1
    for name in ("trio_otp._core", "_deadlines.py", "Pid._mailbox"):
        assert f"api/calls.html shows a private name: {name}" in done.stderr
    assert "design.html" not in done.stderr


def test_private_names_are_found_in_text_anchors_and_links() -> None:
    """Anchors (``id``) and links count, script text does not; public names pass."""
    html = (
        '<article role="main"><p id="trio_otp._core._names.whereis">whereis</p>'
        '<a href="../_modules/x.html#trio_otp._server">src</a>'
        "<script>var _x = Pid._y;</script><p>trio_otp.Pid and Pid.name</p></article>"
    )
    found = error_boxes.private_names(html)
    assert found == ["id=trio_otp._core", "href=trio_otp._server"]


def test_the_design_diagrams_are_up_to_date_and_follow_the_theme() -> None:
    """docs/_diagrams/*.svg are what make.py draws now, and draw in ``currentColor``
    with translucent fills (no fixed white or black that the dark theme would hide)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make", ROOT / "docs/_diagrams/make.py")
    assert spec is not None
    assert spec.loader is not None
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    for name, draw in (("layers", make.layers), ("call", make.call), ("job", make.job)):
        committed = (ROOT / "docs/_diagrams" / f"{name}.svg").read_text(encoding="utf-8")
        assert committed == draw(), f"run docs/_diagrams/make.py: {name}.svg is stale"
        assert 'fill="currentColor"' in committed
        for fixed in ("#fff", "#000", "white", "black"):
            assert fixed not in committed.lower(), (name, fixed)


def test_each_benchmark_family_has_a_chart() -> None:
    """The performance page's charts: every family has rows, each a ratio to the floor."""
    import diagrams

    latest = ROOT / "bench/results/latest.json"
    for cases in (["W1", "W2"], ["W3-10k", "W3-100k", "W3-mem-10k"], ["W4", "W6"], ["W5"]):
        groups = diagrams.family_rows(latest, cases)
        assert groups, cases
        for _, impls in groups:
            assert all(low <= mid <= high for _, low, mid, high in impls)
        svg = diagrams.family_svg("t", groups)
        assert 'fill="currentColor"' in svg

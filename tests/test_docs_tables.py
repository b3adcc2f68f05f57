"""The From Elixir page's tables fit the text column (no sideways scroll hiding Notes).

A real browser (headless Chromium through Selenium) lays out the page, built by
Sphinx with furo and the docs' own CSS, at a laptop's and a tablet's width. Skipped
without Sphinx, Selenium or Chromium (``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs requirements are not installed")
pytest.importorskip("furo", reason="the docs requirements are not installed")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

ROOT = Path(__file__).resolve().parent.parent
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(CHROMEDRIVER is None, reason="no chromedriver/chromium")

#: Each table's overflow, in CSS pixels, beyond the column that holds it.
OVERFLOW = """return [...document.querySelectorAll('article table')].map(
    t => t.scrollWidth - t.parentElement.clientWidth)"""


@pytest.fixture(scope="module")
def elixir_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/elixir.rst built alone (furo, the docs' custom.css), without cross-references."""
    src = tmp_path_factory.mktemp("src")
    shutil.copy(ROOT / "docs" / "elixir.rst", src / "index.rst")
    shutil.copytree(ROOT / "docs" / "_static", src / "_static")
    (src / "conf.py").write_text(
        "html_theme = 'furo'\nhtml_static_path = ['_static']\nhtml_css_files = ['custom.css']\n"
    )
    out = src.parent / "out"
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", src, out],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return out / "index.html"


@pytest.mark.parametrize("width", [1280, 900])
def test_the_elixir_tables_fit_the_column(elixir_page: Path, width: int) -> None:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get(elixir_page.as_uri())
        overflow = driver.execute_script(OVERFLOW)
    finally:
        driver.quit()
    assert len(overflow) >= 16
    assert [px for px in overflow if px > 0] == []

"""The changelog page shows the next release's notes, built from ``newsfragments/``.

The line ``.. towncrier-draft::`` of ``changelog.rst`` is replaced, when Sphinx reads
the page, by ``towncrier build --draft`` (the same text ``nox -s changelog`` previews
and a release writes into CHANGELOG.rst), under the title "Not yet released". It runs
offline; towncrier is in ``docs/requirements.txt``. A towncrier failure fails the build.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from sphinx.errors import ExtensionError

MARKER = ".. towncrier-draft::"
ROOT = Path(__file__).resolve().parents[2]
TITLE = "Not yet released"


def draft(root: Path = ROOT) -> str:
    """The next release's notes as reStructuredText, titled "Not yet released"."""
    done = subprocess.run(
        [sys.executable, "-m", "towncrier", "build", "--draft", "--version", "unreleased"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ExtensionError(f"towncrier build --draft failed:\n{done.stdout}{done.stderr}")
    lines = done.stdout.strip().splitlines()
    if not lines or "No significant changes" in done.stdout:
        return f"{TITLE}\n{'-' * len(TITLE)}\n\nNothing yet.\n"
    # towncrier's title line ("trio_otp unreleased (date)") and its underline.
    return "\n".join([TITLE, "-" * len(TITLE), *lines[2:]]) + "\n"


def _replace_marker(app: Any, docname: str, source: list[str]) -> None:
    if MARKER in source[0]:
        source[0] = source[0].replace(MARKER, draft())
        # An incremental build reads the page again when a fragment changes.
        for fragment in sorted((ROOT / "newsfragments").glob("*.rst")):
            app.env.note_dependency(str(fragment))


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", _replace_marker)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""The observer's browser tests run only in ``nox -s browser`` (it sets TRIO_OTP_BROWSER=1):
they need Debian's Chromium and chromedriver, which ``.ci/run`` installs with apt."""

from __future__ import annotations

import os

if os.environ.get("TRIO_OTP_BROWSER") != "1":
    collect_ignore = ["test_browser.py"]

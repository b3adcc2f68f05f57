"""The trio_otp pytest plugin.

Enable it in a ``conftest.py``: ``pytest_plugins = ["trio_otp.testing.pytest_plugin"]``.

Fixtures (for trio tests, with pytest-trio):

* ``otp_supervisor``: a :class:`~trio_otp.testing.Harness` around the test, so that
  :func:`~trio_otp.testing.start_supervised` and
  :func:`~trio_otp.testing.expect_crash` work; an unexpected crash fails the test
  with its report.
* ``otp_reports``: the :class:`~trio_otp.testing.Reports` logged during the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ._reports import Reports, capture_reports
from ._supervised import Harness, supervised_test


@pytest.fixture
async def otp_supervisor() -> AsyncIterator[Harness]:
    """A supervisor for the test (stopped after it, children in reverse start order)."""
    async with supervised_test() as harness:
        yield harness


@pytest.fixture
def otp_reports() -> Iterator[Reports]:
    """The crash and supervisor reports logged during the test."""
    with capture_reports() as reports:
        yield reports

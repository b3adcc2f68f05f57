"""Shared fixtures for the trio_otp test suite."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest


@pytest.fixture
def crash_reports(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    """Capture every trio_otp record; return the ``trio_otp.gen_server`` ones on demand."""
    caplog.set_level(logging.DEBUG, logger="trio_otp")

    def records() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "trio_otp.gen_server"]

    return records


# The job-store fixture, parameterised by every store kind (see tests/_stores.py).
from _stores import make_store as make_store  # noqa: E402

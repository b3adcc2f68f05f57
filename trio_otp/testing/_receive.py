"""``assert_receive`` / ``refute_receive``: ExUnit's, for the test's own mailbox."""

from __future__ import annotations

from typing import Any, Final

from .._core._exceptions import ReceiveTimeout
from .._core._mailbox import Mailbox
from .._core._process import current_process
from .._core._reports import term_repr
from ._patterns import matches, show

#: ExUnit's default wait: 100 ms (on the test's clock: virtual under autojump_clock).
DEFAULT_TIMEOUT: Final = 0.1


def _inbox(what: str) -> Mailbox:
    pid = current_process()
    impl = pid._impl if pid is not None else None
    if not isinstance(impl, Mailbox):
        raise RuntimeError(
            f"{what}() receives in the test's own mailbox: call it inside "
            "`async with otp.mailbox():` (the block makes the test a process)"
        )
    return impl


async def assert_receive(pattern: Any = None, timeout: float = DEFAULT_TIMEOUT) -> Any:  # noqa: ASYNC109
    """Wait up to ``timeout`` seconds for a message matching ``pattern``; return it.

    The first matching message is taken out of the mailbox; the others stay queued
    in order (a selective receive). ``pattern`` is a class, a predicate or a
    template (:mod:`trio_otp.testing` docs: patterns); ``None`` takes any message.

    Raises:
        AssertionError: none came; the message lists what the mailbox holds.
        RuntimeError: not inside ``async with otp.mailbox():``.
    """
    inbox = _inbox("assert_receive")
    try:
        return await inbox.receive(
            None if pattern is None else (lambda m: matches(pattern, m)), timeout=timeout
        )
    except ReceiveTimeout:
        held = ", ".join(term_repr(m) for m in inbox._saved) or "nothing"
        raise AssertionError(
            f"no message matching {show(pattern)} within {timeout} s; the mailbox holds: {held}"
        ) from None


async def refute_receive(pattern: Any = None, timeout: float = DEFAULT_TIMEOUT) -> None:  # noqa: ASYNC109
    """Fail if a message matching ``pattern`` arrives within ``timeout`` seconds.

    Messages that do not match stay queued.

    Raises:
        AssertionError: one came (it is named in the message).
    """
    inbox = _inbox("refute_receive")
    try:
        message = await inbox.receive(
            None if pattern is None else (lambda m: matches(pattern, m)), timeout=timeout
        )
    except ReceiveTimeout:
        return
    raise AssertionError(
        f"received {term_repr(message)}, which matches {show(pattern)}, within {timeout} s"
    )

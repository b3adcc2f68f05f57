"""Exit reasons: how a process ended.

OTP reasons are atoms and tuples; here they are plain values:

========================  =====================================  ==========================
OTP                       trio_otp                               kind
========================  =====================================  ==========================
``:normal``               :data:`NORMAL` (``"normal"``)          normal
``:shutdown``             :data:`SHUTDOWN` (``"shutdown"``)      normal
``{:shutdown, term}``     ``Shutdown(term)``                     normal
``:killed``               :data:`KILLED` (``"killed"``)          abnormal
``{exception, stack}``    the exception instance                 abnormal
any other term            that value (e.g. ``"boom"``)           abnormal
========================  =====================================  ==========================

"Normal" exits are never logged and never restart a ``transient`` child; every other
reason is a crash.
"""

from __future__ import annotations

from typing import Final

import attrs

#: The process finished its work (OTP ``:normal``).
NORMAL: Final = "normal"
#: The process was asked to stop by its owner (OTP ``:shutdown``).
SHUTDOWN: Final = "shutdown"
#: The process was cancelled without running ``terminate`` (OTP ``:killed``).
KILLED: Final = "killed"
#: The untrappable exit signal (OTP ``:kill``): ``otp.exit(pid, otp.KILL)`` kills
#: ``pid`` even if it traps exits; it then exits with :data:`KILLED`.
KILL: Final = "kill"
#: The reason a :class:`~trio_otp.Down` or :class:`~trio_otp.Exit` carries when
#: the process was not alive to begin with (OTP ``:noproc``).
NOPROC: Final = "noproc"


@attrs.frozen
class Shutdown:
    """A shutdown that carries a payload (OTP ``{:shutdown, term}``): a normal exit.

    Attributes:
        payload: any value that says why.
    """

    payload: object


def is_normal_exit(reason: object) -> bool:
    """Whether ``reason`` is a normal exit: normal, shutdown or ``Shutdown(x)``.

    Normal exits are silent and do not restart ``transient`` children (OTP's rule).
    """
    return reason in (NORMAL, SHUTDOWN) or type(reason) is Shutdown


def format_reason(reason: object) -> str:
    """Format an exit reason the way crash reports print it."""
    if isinstance(reason, BaseException):
        text = safe_str(reason)
        return f"{type(reason).__name__}({text!r})" if text else type(reason).__name__
    try:
        return repr(reason)
    except Exception:
        return f"<{type(reason).__qualname__} object (repr() failed)>"


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, or a fixed text if the exception's ``__str__`` raises.

    Reports must never turn a child's crash into the tree's death (issue 13).
    """
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__qualname__}: str() failed>"

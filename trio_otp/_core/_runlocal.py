"""Per-run state in one step.

trio keeps a run's :class:`~trio.lowlevel.RunVar` values in a dict on the run's
runner; ``var.get()`` reaches it through two Python calls (``RunVar.get`` and the
``typing.cast`` inside it), about 1,500 instructions, where the dict lookup itself is
about 700. The hot paths (``whereis``, the process table, call deadlines, timers) read
the dict directly::

    try:
        table = RUN.runner._locals[_names]
    except (AttributeError, KeyError):
        table = _names.get()  # the RunVar's own way: its errors, its default

Any miss takes ``var.get()``, which behaves as before: ``RuntimeError`` outside a
run, ``LookupError`` for a value not set in this run. A trio that keeps its runner
elsewhere makes every read a miss (``RUN`` is ``None``): slower, never wrong.
``tests/test_runlocal.py`` checks that this trio takes the one-step path.
"""

from __future__ import annotations

from typing import Any, Final

_CONTEXT: Any
try:
    from trio._core import _run

    _CONTEXT = _run.GLOBAL_RUN_CONTEXT
except (ImportError, AttributeError):  # pragma: no cover - another trio: var.get()
    _CONTEXT = None

#: trio's per-thread run context: ``RUN.runner._locals`` is the current run's RunVar
#: values (``AttributeError`` outside a run).
RUN: Final[Any] = _CONTEXT

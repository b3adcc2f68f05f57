"""Job functions a durable queue may run, and the JSON arguments they may take.

A durable job is stored as a *name* (``"module:qualname"``, or a name given at
registration) plus JSON arguments: nothing is pickled into the store, and a queue runs
only the functions registered with it, so whoever can write the database file cannot
make it run ``os.system`` (as procrastinate's tasks and Oban's workers are declared).

Refused at registration or enqueue, with what to do: a lambda or a function defined
inside another one (no stable name another process can find), a function of
``__main__`` without an explicit ``name`` (the same script run under another name, or
a worker process, would not find it), a function not registered; arguments that would
not come back equal from a JSON round trip (tuples, non-string keys, NaN and
infinities, bytes, sets, subclasses of the JSON types, …).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar, overload

from ._exceptions import JobQueueError

F = TypeVar("F", bound=Callable[..., Any])


class JobFunctionError(JobQueueError, TypeError):
    """Raised when a durable job names a function the queue cannot run by name.

    Raised by :meth:`JobRegistry.register` (a lambda, a closure, a ``__main__``
    function without a ``name``, two functions under one name) and at enqueue (a
    function not registered with the queue). The message says what to do.
    """


class JobArgumentsError(JobQueueError, ValueError):
    """Raised at enqueue when a durable job's arguments would not survive the store:
    they must come back *equal* from a JSON round trip. The message names the
    argument (``args[1]['when']``) and says what to pass instead.
    """


_JSON_SCALARS: Final = (str, int, bool, type(None))


def check_json(value: object, where: str) -> None:
    """Raise :exc:`JobArgumentsError` unless ``value`` round-trips through JSON equal.

    ``where`` names the value in the message (``"args[0]"``).
    """
    kind = type(value)
    if kind in _JSON_SCALARS:
        return
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise JobArgumentsError(
                f"{where} is {value!r}: JSON has no NaN or infinity; pass a finite number or None"
            )
        return
    if kind is list:
        items: list[object] = value  # type: ignore[assignment]
        for i, item in enumerate(items):
            check_json(item, f"{where}[{i}]")
        return
    if kind is dict:
        mapping: dict[object, object] = value  # type: ignore[assignment]
        for key, item in mapping.items():
            if type(key) is not str:
                raise JobArgumentsError(
                    f"{where} has the key {key!r} ({type(key).__name__}): JSON keys are "
                    "strings and it would come back as a string; use str keys"
                )
            check_json(item, f"{where}[{key!r}]")
        return
    if kind is tuple:
        hint = "it would come back as a list; pass a list"
    elif isinstance(value, (str, int, float, list, dict)):
        hint = f"a {kind.__name__} would come back as a plain {kind.__mro__[1].__name__}"
    else:
        hint = "pass JSON values only (None, bool, int, float, str, list, dict with str keys)"
    raise JobArgumentsError(f"{where} is {value!r} ({kind.__name__}): {hint}")


def check_args(args: Iterable[object]) -> list[Any]:
    """The arguments as a list, checked by :func:`check_json` (named ``args[i]``)."""
    checked = list(args)
    for i, value in enumerate(checked):
        check_json(value, f"args[{i}]")
    return checked


def default_name(fn: Callable[..., Any]) -> str:
    """``"module:qualname"``: the name a function is stored by unless given one."""
    return f"{fn.__module__}:{fn.__qualname__}"


class JobRegistry:
    """The functions a durable :class:`~trio_otp.JobQueue` runs, by name.

    A queue has one (``JobQueue(store=…, jobs=[f, g])`` fills it;
    :meth:`JobQueue.register <trio_otp.JobQueue.register>` adds to it); every
    instance that serves a queue must register the functions its jobs name.
    """

    def __init__(self, functions: Iterable[Callable[..., Any]] = ()) -> None:
        self._by_name: dict[str, Callable[..., Any]] = {}
        self._names: dict[int, str] = {}
        for fn in functions:
            self.register(fn)

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"<JobRegistry {sorted(self._by_name)}>"

    @overload
    def register(self, fn: F, *, name: str | None = None) -> F: ...
    @overload
    def register(self, fn: None = None, *, name: str | None = None) -> Callable[[F], F]: ...

    def register(self, fn: F | None = None, *, name: str | None = None) -> F | Callable[[F], F]:
        """Register ``fn`` (sync or async) under ``name`` (default
        ``"module:qualname"``); usable as ``@registry.register`` or
        ``@registry.register(name="billing.charge")``. Returns ``fn``.

        Raises:
            JobFunctionError: ``fn`` has no stable name (a lambda, a closure, a
                ``__main__`` function without ``name``), is not a function, or the name
                is taken by another function.
        """
        if fn is None:
            return lambda f: self.register(f, name=name)
        if not callable(fn):
            raise JobFunctionError(f"a job function must be callable, got {fn!r}")
        qualname = getattr(fn, "__qualname__", None)
        module = getattr(fn, "__module__", None)
        if not isinstance(qualname, str) or not isinstance(module, str):
            raise JobFunctionError(
                f"{fn!r} has no __module__ and __qualname__ to be stored by: register a "
                "plain function defined at the top of a module"
            )
        if "<lambda>" in qualname:
            raise JobFunctionError(
                f"{fn!r} is a lambda: a durable job is stored by its function's name; "
                "define it with def at the top of a module and register that"
            )
        if "<locals>" in qualname:
            raise JobFunctionError(
                f"{qualname} is defined inside another function (a closure): a durable "
                "job is stored by name and run by any process; define it at the top of a "
                "module, and pass what it closed over as arguments"
            )
        if name is None:
            if module == "__main__":
                raise JobFunctionError(
                    f"{qualname} is defined in __main__: another run of the program (or "
                    "another program on the same store) may not have it under that name; "
                    "move it to a module, or register it with an explicit "
                    f"name=, e.g. register({qualname}, name='myapp.{qualname}')"
                )
            name = f"{module}:{qualname}"
        elif not isinstance(name, str) or not name:  # type: ignore[redundant-expr]
            raise JobFunctionError(f"a job function's name must be a non-empty str, got {name!r}")
        held = self._by_name.get(name)
        if held is not None and held is not fn:
            raise JobFunctionError(
                f"the job name {name!r} is taken by {held!r}: give {fn!r} another name"
            )
        self._by_name[name] = fn
        self._names[id(fn)] = name
        return fn

    def name_of(self, fn: Callable[..., Any]) -> str:
        """The name ``fn`` is registered under.

        Raises:
            JobFunctionError: ``fn`` is not registered (with what to do).
        """
        name = self._names.get(id(fn))
        if name is not None and self._by_name.get(name) is fn:
            return name
        what = getattr(fn, "__qualname__", None) or repr(fn)
        if "<lambda>" in what or "<locals>" in what:
            raise JobFunctionError(
                f"{what} is a lambda or a closure: a durable job is stored by its "
                "function's name; define it at the top of a module and register it"
            )
        raise JobFunctionError(
            f"{what} is not registered with this queue: a durable queue runs only the "
            "functions registered with it; pass it in JobQueue(store=..., jobs=[...]) "
            "or decorate it with @queue.register"
        )

    def lookup(self, name: str) -> Callable[..., Any] | None:
        """The function registered under ``name``, or ``None``."""
        return self._by_name.get(name)

    def names(self) -> frozenset[str]:
        """Every registered name."""
        return frozenset(self._by_name)

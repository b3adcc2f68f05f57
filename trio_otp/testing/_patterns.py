"""Patterns: what :func:`assert_receive` and the job assertions match a value against.

A *pattern* is one of:

* :data:`ANY`: matches anything (``_`` in an Elixir pattern);
* a class: matches its instances (``assert_receive(otp.Down)``);
* a predicate, a plain function or lambda: matches when it returns true
  (``assert_receive(lambda m: m[0] == "pong")``);
* a *template*, any other value, matched the way Elixir's ``match`` reads a pattern:
  a tuple or list matches a sequence of the same type and length element by element,
  a dict matches a mapping that has (at least) its keys with matching values, an
  attrs or dataclass instance, or a named tuple (the runtime's ``Down``, ``Exit`` and
  ``TaskReply`` are), matches an instance of the same class field by field,
  and anything else matches an equal value. :data:`ANY`, classes and predicates may
  sit anywhere inside a template: ``("reply", ANY, int)``,
  ``otp.Down(ref, pid, ANY)``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Mapping
from typing import Any, Final, final

import attrs


@final
class _Any:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


#: Matches any value, anywhere in a pattern.
ANY: Final[Any] = _Any()


def _is_predicate(pattern: object) -> bool:
    return (
        inspect.isfunction(pattern)
        or inspect.ismethod(pattern)
        or inspect.isbuiltin(pattern)
        or isinstance(pattern, functools.partial)
    )


def matches(pattern: object, value: object) -> bool:
    """Whether ``value`` matches ``pattern`` (see the module's docs)."""
    if pattern is ANY:
        return True
    if isinstance(pattern, type):
        return isinstance(value, pattern)
    if _is_predicate(pattern):
        return bool(pattern(value))  # type: ignore[operator]
    if isinstance(pattern, (tuple, list)) and type(pattern) in (tuple, list):
        if type(value) is not type(pattern):
            return False
        items: Any = value
        return len(items) == len(pattern) and all(
            matches(p, v) for p, v in zip(pattern, items, strict=True)
        )
    if isinstance(pattern, Mapping):
        return isinstance(value, Mapping) and all(
            key in value and matches(p, value[key]) for key, p in pattern.items()
        )
    cls: Any = type(pattern)
    fields: tuple[str, ...] | None = getattr(cls, "_fields", None)
    if isinstance(pattern, tuple) and fields is not None:  # a NamedTuple
        return type(value) is cls and all(
            matches(getattr(pattern, f), getattr(value, f)) for f in fields
        )
    if attrs.has(cls):
        return type(value) is cls and all(
            matches(getattr(pattern, f.name), getattr(value, f.name)) for f in attrs.fields(cls)
        )
    if dataclasses.is_dataclass(pattern):
        return type(value) is type(pattern) and all(
            matches(getattr(pattern, f.name), getattr(value, f.name))
            for f in dataclasses.fields(pattern)
        )
    try:
        return bool(pattern == value)
    except Exception:
        return False


def show(pattern: object) -> str:
    """A pattern as an assertion message shows it."""
    if _is_predicate(pattern):
        return f"<predicate {getattr(pattern, '__qualname__', repr(pattern))}>"
    if isinstance(pattern, type):
        return f"<instance of {pattern.__qualname__}>"
    return repr(pattern)

"""Child specifications: how a supervisor starts, restarts and stops one child.

A children list may hold, as in Elixir:

* a :class:`ChildSpec`;
* a class that knows its own spec (``JobQueue``): ``cls.child_spec()``;
* a pair of a class and its argument (``(Task, fn)``,
  ``(DynamicSupervisor, {"name": "JobSupervisor"})``): ``cls.child_spec(arg)``;
* a mapping of :class:`ChildSpec` fields (``{"id": ..., "start": ...}``).

:func:`~trio_otp.Supervisor.child_spec` turns any of these into a :class:`ChildSpec`
with fields overridden: the Elixir chapter's ``Supervisor.child_spec(spec, restart: :transient)``.
"""

from __future__ import annotations

import difflib
import enum
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import attrs

from .._core._exceptions import ChildSpecError


class Restart(enum.StrEnum):
    """When a supervisor restarts a child (OTP's ``restart`` option)."""

    #: always restarted (the default for workers and supervisors)
    PERMANENT = "permanent"
    #: restarted only after an abnormal exit (not ``normal``/``shutdown``/``Shutdown(x)``)
    TRANSIENT = "transient"
    #: never restarted (the default for :class:`~trio_otp.Task`)
    TEMPORARY = "temporary"

    def __repr__(self) -> str:
        return f"Restart.{self.name}"


class ChildType(enum.StrEnum):
    """Whether a child is a worker or a supervisor (OTP's ``type`` option)."""

    WORKER = "worker"
    SUPERVISOR = "supervisor"

    def __repr__(self) -> str:
        return f"ChildType.{self.name}"


#: As ``shutdown=``, cancel the child at once; ``terminate`` does not run.
BRUTAL_KILL: Final = "brutal_kill"
#: As ``shutdown=``, wait as long as the child takes (default for supervisors).
INFINITY: Final = math.inf

ShutdownValue = float | Literal["brutal_kill"]
"""Seconds to wait after asking a child to stop, :data:`BRUTAL_KILL` or :data:`INFINITY`."""


def _to_restart(value: Restart | Literal["permanent", "transient", "temporary"]) -> Restart:
    if type(value) is Restart:  # the common case, without the enum lookup
        return value
    try:
        return Restart(value)  # a typo or a non-str at run time: ValueError
    except (ValueError, TypeError):
        raise ChildSpecError(
            f"restart must be one of 'permanent', 'transient', 'temporary' "
            f"(or trio_otp.Restart), got {value!r}"
        ) from None


def _to_type(value: object) -> ChildType:
    if type(value) is ChildType:
        return value
    try:
        return ChildType(value)  # type: ignore[arg-type]  # str or ChildType; else ValueError
    except (ValueError, TypeError):
        raise ChildSpecError(
            f"type must be 'worker' or 'supervisor' (or trio_otp.ChildType), got {value!r}"
        ) from None


def _to_shutdown(value: object) -> ShutdownValue:
    if type(value) is float and value >= 0:  # also rejects NaN
        return value
    if value == BRUTAL_KILL:
        return BRUTAL_KILL
    if value == "infinity":
        return INFINITY
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or math.isnan(value)
        or value < 0
    ):
        raise ChildSpecError(
            "shutdown must be a number of seconds >= 0, trio_otp.BRUTAL_KILL or "
            f"trio_otp.INFINITY, got {value!r}"
        )
    return float(value)


def _check_id(instance: object, attribute: object, value: object) -> None:
    try:
        hash(value)
    except TypeError:
        raise ChildSpecError(
            f"child id must be hashable, got {value!r}: use a str, a class or a tuple"
        ) from None


def _check_start(instance: object, attribute: object, value: Callable[..., Any]) -> None:
    if not callable(value):
        raise ChildSpecError(
            f"start must be an async function following nursery.start's protocol "
            f"(it calls task_status.started(handle)), got {value!r}"
        )
    fn: Any = value.func if isinstance(value, functools.partial) else value
    owner = getattr(fn, "__self__", None)
    qualname = getattr(fn, "__qualname__", "")
    if getattr(fn, "__name__", None) == "start" and (
        (isinstance(owner, type) and hasattr(owner, "serve"))
        or qualname in ("Supervisor.start", "DynamicSupervisor.start", "Task.start")
    ):
        cls = owner.__qualname__ if isinstance(owner, type) else qualname.split(".")[0]
        raise ChildSpecError(
            f"start={cls}.start starts a process in a nursery you pass; a child spec "
            f"needs a function the supervisor runs itself: use start={cls}.serve "
            f"(or put {cls} / ({cls}, arg) in the children list)"
        )


def _default_shutdown(spec: ChildSpec) -> ShutdownValue:
    return INFINITY if spec.type is ChildType.SUPERVISOR else 5.0


def _tuple(value: object) -> tuple[Any, ...]:
    if type(value) is tuple:
        return value
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ChildSpecError(f"args must be a tuple (or other sequence), got {value!r}")
    return tuple(value)  # pyright: ignore[reportArgumentType]  # iterable, checked above


@attrs.frozen(kw_only=True)
class ChildSpec:
    """How a supervisor runs one child (OTP's child specification).

    Attributes:
        id: identifies the child within its supervisor (any hashable). For a
            :class:`~trio_otp.DynamicSupervisor` it is informational only.
        start: an async function following ``nursery.start``'s protocol: it takes
            ``task_status=`` and calls ``task_status.started(handle)`` once the child
            is ready (``started(None)`` means *ignore*: nothing to supervise), then
            runs until the child exits. ``GenServer.serve`` and ``Task.serve`` are
            such functions.
        args: positional arguments for ``start``. Default ``()``.
        restart: default **permanent** (see :class:`Restart`).
        type: default **worker** (see :class:`ChildType`).
        shutdown: how long the supervisor waits after asking the child to stop,
            before it cancels it: seconds (default **5.0** for workers),
            :data:`BRUTAL_KILL`, or :data:`INFINITY` (default for supervisors).
        modules: informational, as in OTP's ``which_children``. Default ``()``.
    """

    id: object = attrs.field(validator=_check_id)
    start: Callable[..., Any] = attrs.field(validator=_check_start)
    args: tuple[Any, ...] = attrs.field(default=(), converter=_tuple)
    restart: Restart = attrs.field(default=Restart.PERMANENT, converter=_to_restart)
    type: ChildType = attrs.field(default=ChildType.WORKER, converter=_to_type)
    shutdown: ShutdownValue = attrs.field(
        default=attrs.Factory(_default_shutdown, takes_self=True), converter=_to_shutdown
    )
    modules: tuple[Any, ...] = attrs.field(default=(), converter=_tuple)

    def replace(self, **changes: Any) -> ChildSpec:
        """Return a copy with the given fields changed (validated like a new spec)."""
        # attrs.evolve would convert and validate every field again; the Elixir
        # chapter's transient job builds a spec this way for every job, so only the
        # changed fields are checked, and a lone restart change takes a short cut
        # (before the check for unknown fields, which it cannot have).
        if len(changes) == 1 and "restart" in changes:
            restart = _to_restart(changes["restart"])
            return _trusted(
                self.id, self.start, self.args, restart, self.type, self.shutdown, self.modules
            )
        unknown = set(changes) - _FIELDS
        if unknown:
            raise _unknown_fields(unknown)
        values = {field.name: getattr(self, field.name) for field in _ATTRS}
        for name, value in changes.items():
            field = _BY_NAME[name]
            if field.converter is not None:
                value = field.converter(value)  # type: ignore[operator]
            if field.validator is not None:
                field.validator(self, field, value)
            values[name] = value
        if (
            "type" in changes
            and "shutdown" not in changes
            and self.shutdown == _default_shutdown(self)
        ):
            # OTP fills the shutdown default by type: a spec turned into a supervisor's
            # (or back) gets that type's default unless a shutdown is given with it.
            values["shutdown"] = INFINITY if values["type"] is ChildType.SUPERVISOR else 5.0
        return _trusted(**values)

    def start_call(self) -> str:
        """How reports print the start call: ``JobQueue.serve(None, name=JobQueue)``."""
        fn: Any = self.start
        args: list[Any] = []
        keywords: dict[str, Any] = {}
        while isinstance(fn, functools.partial):
            args[:0] = fn.args
            keywords = {**fn.keywords, **keywords}
            fn = fn.func
        owner = getattr(fn, "__self__", None)
        positional: tuple[Any, ...] = (*args, *self.args)
        if isinstance(owner, type):  # a classmethod: name the class it was taken from
            name = f"{owner.__qualname__}.{fn.__name__}"
            redact = getattr(owner, "format_start_args", None)
            if redact is not None:  # the class's own redaction (GenServer.format_start_args)
                try:
                    positional = tuple(redact(positional))
                except Exception as exc:  # a report must not fail
                    positional = (f"<format_start_args raised {type(exc).__name__}>",)
        else:
            name = getattr(fn, "__qualname__", None) or repr(fn)
        shown = [_show(a) for a in positional]
        shown += [f"{k}={_show(v)}" for k, v in keywords.items()]
        return f"{name}({', '.join(shown)})"


def _show(value: object) -> str:
    if isinstance(value, type):
        return value.__qualname__
    from .._core._reports import short_repr

    return short_repr(value)


def _unknown_fields(unknown: set[str]) -> ChildSpecError:
    text = f"unknown child spec field(s) {sorted(unknown)}; the fields are {sorted(_FIELDS)}"
    if "name" in unknown:
        text += (
            ". name= is not a spec field: it belongs to the process, so give it to the "
            "class's own child_spec, e.g. Worker.child_spec(arg, name='w') (or "
            "Supervisor.child_spec(Worker.child_spec(arg, name='w'), restart=...))"
        )
    guesses = [difflib.get_close_matches(u, sorted(_FIELDS), n=1) for u in sorted(unknown)]
    hints = [f"did you mean {g[0]!r}?" for g in guesses if g]
    return ChildSpecError(text + ("; " + " ".join(hints) if hints else ""))


_ATTRS: Final = attrs.fields(ChildSpec)
_BY_NAME: Final = {a.name: a for a in _ATTRS}
_FIELDS: Final = frozenset(_BY_NAME)


# The slots' own setters: a frozen attrs class refuses plain attribute stores, and
# ``object.__setattr__`` looks the name up again on every store. The Elixir
# chapter's queue builds one or two specs per job, so _trusted stores directly.
_SET: Final = tuple(ChildSpec.__dict__[a.name].__set__ for a in _ATTRS)
(_SET_ID, _SET_START, _SET_ARGS, _SET_RESTART, _SET_TYPE, _SET_SHUTDOWN, _SET_MODULES) = _SET


def _trusted(
    id: object,
    start: Callable[..., Any],
    args: tuple[Any, ...],
    restart: Restart,
    type: ChildType,
    shutdown: ShutdownValue,
    modules: tuple[Any, ...],
) -> ChildSpec:
    """Build a spec from values that are already valid (no conversion, no checks)."""
    spec: ChildSpec = object.__new__(ChildSpec)
    _SET_ID(spec, id)
    _SET_START(spec, start)
    _SET_ARGS(spec, args)
    _SET_RESTART(spec, restart)
    _SET_TYPE(spec, type)
    _SET_SHUTDOWN(spec, shutdown)
    _SET_MODULES(spec, modules)
    return spec


def to_child_spec(child: object, **overrides: Any) -> ChildSpec:
    """Normalize any accepted child form to a :class:`ChildSpec` (see module docs).

    Raises:
        ChildSpecError: ``child`` is none of the accepted forms, or a field is invalid.
    """
    if isinstance(child, ChildSpec):
        spec = child
    elif isinstance(child, type):
        factory = getattr(child, "child_spec", None)
        if factory is None:
            raise ChildSpecError(
                f"{child.__qualname__} has no child_spec(arg) classmethod; pass a ChildSpec instead"
            )
        spec = factory()
    elif isinstance(child, tuple) and len(child) == 2 and isinstance(child[0], type):
        cls, arg = child
        factory = getattr(cls, "child_spec", None)
        if factory is None:
            raise ChildSpecError(
                f"{cls.__qualname__} has no child_spec(arg) classmethod; pass a ChildSpec instead"
            )
        spec = factory(arg)
    elif isinstance(child, Mapping):
        unknown = set(child) - _FIELDS
        if unknown:
            raise _unknown_fields(unknown)
        try:
            spec = ChildSpec(**child)
        except TypeError as exc:
            raise ChildSpecError(
                f"invalid child spec {child!r}: {exc}; a mapping needs at least "
                "'id' and 'start' (an async function following nursery.start's protocol)"
            ) from None
    else:
        raise ChildSpecError(
            f"cannot make a child spec from {child!r}: give a ChildSpec, a class with "
            "child_spec(), a (class, arg) pair or a mapping of ChildSpec fields"
        )
    if not isinstance(spec, ChildSpec):
        raise ChildSpecError(f"child_spec() of {child!r} returned {spec!r}, not a ChildSpec")
    return spec.replace(**overrides) if overrides else spec


def check_unique_ids(specs: list[ChildSpec]) -> None:
    """Reject duplicate ids (OTP's ``{:duplicate_child_name, id}``)."""
    seen: set[object] = set()
    for spec in specs:
        if spec.id in seen:
            name = spec.id.__qualname__ if isinstance(spec.id, type) else repr(spec.id)
            raise ChildSpecError(
                f"duplicate child id {name}: give each child a distinct id "
                "(e.g. Supervisor.child_spec((Worker, arg), id='worker2'))"
            )
        seen.add(spec.id)

"""Registry: a process-local key/value store that forgets a process the moment it exits.

Elixir's ``Registry``. A registry is a process (start it under a supervisor like any
child); processes register *themselves* under keys, with a value, and anybody can look
the key up. ``keys="unique"`` allows one process per key (a name service: see
:meth:`Registry.via`), ``keys="duplicate"`` any number (a pub-sub topic: see
:meth:`Registry.dispatch`).

How it maps onto trio: the tables are plain dicts owned by the registry process and
read and written synchronously by the caller (Elixir does the same with ETS: no
message goes through the registry process). Each registered process carries one
exit callback that removes all its entries synchronously, in the
exiting process's task, before anything else can run: a lookup never returns a
process that has exited. When the last key of a process goes, so does its callback;
when the registry itself exits, its tables are emptied. Nothing grows without bound.

Registering links the process to the registry, as Elixir's ``Registry.register``
does (``Process.link``): the callback above is the member's half; the registry's
half is the exit signal every member still registered gets when the registry exits,
with the registry's reason. A process that does not trap exits dies with it (an
abnormal reason); one that traps gets an :class:`~trio_otp.Exit` message. So after
a registry restart no process still believes it holds a key that is free again.

Partitions (Elixir's ``partitions:``) are not offered: they exist to spread ETS
writes across schedulers, and a trio program runs on one thread, so a partitioned
table only adds a hash step to every operation (see docs/registry_tasks.rst).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Mapping
from threading import get_ident
from typing import Any, Final, Literal, final

import attrs
import trio

from .._core._exceptions import AlreadyRegisteredError, AlreadyStartedError, UnknownRegistryError
from .._core._monitors import _signal
from .._core._names import _SelfResolvingName, whereis
from .._core._process import Pid, current_process
from .._server._child import direct_child
from .._server._child_spec import ChildSpec
from .._server._gen_server import GenServer, Ok

KeysMode = Literal["unique", "duplicate"]
"""A registry's kind: one process per key (``"unique"``) or many (``"duplicate"``)."""

Entry = tuple[Pid, Any]
"""One registration: the process and its value."""

_MODES: Final = ("unique", "duplicate")


class _RegistryServer(GenServer[None]):
    """The registry process: it owns the tables and empties them when it exits."""

    process_kind = "Registry"
    _members_exit_with_it = True  # its Exit stops a GenServer's default handle_info

    def __init__(self) -> None:
        self.unique = True
        self.closed = False
        # The run's thread: a resolved registry (see _resolved) is used only there.
        self.thread = get_ident()
        # unique: key -> ((pid, value),), the tuple a RegistryHandle's lookup returns
        # (an _Entries dict); duplicate: key -> {pid: [value, ...]}
        self.table: dict[Any, Any] = _Entries()
        # pid -> its keys, once per registration (a duplicate key may repeat)
        self.by_pid: dict[Pid, list[Any]] = {}

    async def init(self, arg: Any) -> Ok[None]:
        self.unique = arg == "unique"
        if not self.unique:
            self.table = {}
        # Whatever way the registry exits (stopped, crashed, killed), drop every
        # entry and every callback it put on other processes.
        self.pid._watch(self, self._closed)
        return Ok(None)

    def _closed(self, pid: Pid, reason: object) -> None:
        self.closed = True
        for name in [name for name, reg in list(_resolved.items()) if reg is self]:
            del _resolved[name]
        members = list(self.by_pid)
        self.by_pid.clear()
        self.table.clear()
        for member in members:
            member._unwatch(self)
            # The link Elixir's register makes: the registry's exit reaches its members.
            _signal(member, pid, reason, linked=True)

    # -- the tables ----------------------------------------------------------------------

    def add(self, pid: Pid, key: Any, value: Any) -> None:
        keys = self.by_pid.get(pid)
        if keys is None:
            if not pid._watch(self, self._member_exited):
                return  # it has already exited: nothing to remember
            keys = self.by_pid[pid] = []
        keys.append(key)
        if self.unique:
            self.table[key] = ((pid, value),)
        else:
            self.table.setdefault(key, {}).setdefault(pid, []).append(value)

    def remove(self, pid: Pid, key: Any) -> None:
        keys = self.by_pid.get(pid)
        if keys is None or key not in keys:
            return
        remaining = [k for k in keys if k != key]
        if remaining:
            self.by_pid[pid] = remaining
        else:
            del self.by_pid[pid]
            pid._unwatch(self)
        self._drop(pid, key)

    def _drop(self, pid: Pid, key: Any) -> None:
        if self.unique:
            del self.table[key]
            return
        holders = self.table[key]
        holders.pop(pid, None)
        if not holders:
            del self.table[key]

    def _member_exited(self, pid: Pid, reason: object) -> None:
        # Runs in the exiting process's task, inside Pid._exited.
        for key in dict.fromkeys(self.by_pid.pop(pid, ())):
            self._drop(pid, key)

    def entries(self, key: Any) -> list[Entry]:
        try:
            found = self.table.get(key)
        except TypeError:
            _check_key(key)  # an unhashable key: say so (free when the key is fine)
            raise
        if self.unique:
            return [] if found is None else list(found)
        holders = found
        if not holders:
            return []
        return [(pid, value) for pid, values in holders.items() for value in values]

    def all_entries(self) -> list[tuple[Any, Pid, Any]]:
        if self.unique:
            return [(key, pid, value) for key, ((pid, value),) in self.table.items()]
        return [
            (key, pid, value)
            for key, holders in self.table.items()
            for pid, values in holders.items()
            for value in values
        ]


@final
class _Entries(dict[Any, tuple[Entry, ...]]):
    """A unique registry's table: ``key -> ((pid, value),)``; a missing key is ``()``.

    So that ``table.__getitem__``, a C method, is a whole lookup: what
    :attr:`RegistryHandle.lookup` is bound to.
    """

    __slots__ = ()

    def __missing__(self, key: object) -> tuple[Entry, ...]:
        return ()


@final
class RegistryHandle:
    """One registry, resolved: lookups in it without a Python call.

    What :meth:`Registry.handle` returns. :attr:`lookup` is what
    :meth:`Registry.lookup` answers, as a tuple: ``((pid, value),)`` or ``()``. In a
    unique registry it is the registry table's own ``__getitem__`` (a C method: about
    a third of the cost of :meth:`Registry.lookup`, which resolves the registry and builds a
    list each time); the tuple is the entry the registry holds, immutable, and gone
    from the table as soon as its process exits (a lookup never returns an exited
    process). Take a handle once (in a process's ``init``, say) and keep it::

        members = otp.Registry.handle("rooms")
        for pid, value in members.lookup("lobby"):
            ...

    A handle is bound to the registry *process* it resolved, as a
    :class:`~trio_otp.Pid` is: when that registry exits, its tables empty, every
    lookup returns ``()`` and :attr:`alive` is false; after a restart (the same name,
    a new process) take a new handle. Use it in the registry's own trio run (its
    thread), as every registry function.
    """

    __slots__ = ("_reg", "lookup")

    #: ``lookup(key)``: the entries under ``key``, ``((pid, value), ...)`` (at most
    #: one in a unique registry, in registration order in a duplicate one), ``()`` if
    #: nobody is registered. Raises :exc:`TypeError` for an unhashable key.
    lookup: Callable[[object], tuple[tuple[Pid, Any], ...]]  # (Entry spelled out: the docs)
    _reg: _RegistryServer

    def __init__(self) -> None:
        raise TypeError("RegistryHandle has no public constructor: call Registry.handle(registry)")

    @classmethod
    def _new(cls, reg: _RegistryServer) -> RegistryHandle:
        self = object.__new__(cls)
        self._reg = reg
        table = reg.table
        if type(table) is _Entries:
            self.lookup = table.__getitem__
        else:  # a duplicate registry: the entries are built per lookup
            self.lookup = lambda key: tuple(reg.entries(key))
        return self

    @property
    def registry(self) -> Pid:
        """The registry process this handle reads."""
        return self._reg.pid

    @property
    def alive(self) -> bool:
        """Whether that registry is still running (its lookups answer)."""
        return not self._reg.closed

    def __repr__(self) -> str:
        return f"<RegistryHandle {self._reg.pid!r}>"


#: Registries resolved by their handle or the name they are registered under, so that
#: a lookup skips the name table (R1): ``name -> registry``. A registry keeps its
#: name until it exits (names move only then) and drops its entries when it closes,
#: so an entry is a live registry; it is used only in the registry's own thread
#: (each run has its own names: a run in another thread resolves its own). The
#: table holds live registries only.
_resolved: dict[object, _RegistryServer] = {}


def _registry(registry: object) -> _RegistryServer:
    pid = registry if type(registry) is Pid else whereis(registry)
    impl = pid._impl if pid is not None else None
    if type(impl) is not _RegistryServer or impl.closed:
        if pid is not None and pid.alive and not isinstance(impl, _RegistryServer):
            raise TypeError(f"{registry!r} is not a Registry: it is {pid!r}")
        raise UnknownRegistryError(registry)
    if pid is registry or pid._name == registry:  # type: ignore[union-attr]
        _resolved[registry] = impl  # not a via name: those resolve anew each time
    return impl


def _resolve(registry: object) -> _RegistryServer:
    """The registry ``registry`` names, resolved once (see :data:`_resolved`)."""
    try:
        reg = _resolved[registry]
    except (KeyError, TypeError):  # not resolved yet, or not a name at all
        return _registry(registry)
    return reg if reg.thread == get_ident() else _registry(registry)


def _caller(what: str) -> Pid:
    pid = current_process()
    if pid is None:
        raise RuntimeError(
            f"Registry.{what} registers the calling process, but it was called from plain "
            "trio code: call it from a GenServer callback or a Task"
        )
    return pid


def _check_key(key: object) -> None:
    try:
        hash(key)
    except TypeError:
        raise TypeError(
            f"a registry key must be hashable (a str, an int, a tuple…), got {key!r}: "
            "use a tuple instead of a list"
        ) from None


@final
@attrs.frozen(repr=False)
class Via(_SelfResolvingName):
    """A name that lives in a unique :class:`Registry`: Elixir's ``{:via, Registry, ...}``.

    Make one with :meth:`Registry.via`. It is accepted wherever a name is: ``name=``
    when starting a process, and :func:`~trio_otp.call`, :func:`~trio_otp.cast`,
    :func:`~trio_otp.send`, :func:`~trio_otp.whereis`, :func:`~trio_otp.stop` and the
    supervisor management calls.

    Attributes:
        registry: the registry's handle or name.
        key: the key the process is registered under.
        value: the value it registers with. Default ``None``.
    """

    registry: object
    key: object
    value: object = attrs.field(default=None, eq=False)

    def __repr__(self) -> str:
        value = "" if self.value is None else f", {self.value!r}"
        registry = getattr(self.registry, "__qualname__", None) or repr(self.registry)
        return f"via({registry}, {self.key!r}{value})"

    def _whereis(self) -> Pid | None:
        try:
            reg = _registry(self.registry)
        except (UnknownRegistryError, TypeError):
            return None
        if not reg.unique:
            return None
        found = reg.table.get(self.key)
        return None if found is None else found[0][0]

    def _register(self, pid: Pid) -> None:
        reg = _registry(self.registry)
        if not reg.unique:
            raise ValueError(
                f"{self!r}: via names need a unique registry, and {self.registry!r} is duplicate"
            )
        _check_key(self.key)
        found = reg.table.get(self.key)
        if found is not None:
            raise AlreadyStartedError(self, found[0][0])
        reg.add(pid, self.key, self.value)


_OPTIONS = frozenset({"keys", "name"})


def _check_keys(keys: object) -> KeysMode:
    if keys not in _MODES:
        raise ValueError(f'Registry keys must be "unique" or "duplicate", got {keys!r}')
    mode: KeysMode = keys
    return mode


@final
class Registry:
    """Elixir's ``Registry``: processes register themselves under keys.

    All functions are class-level, as in Elixir; ``registry`` is the registry's
    handle or registered name. Options:

    * ``keys``: **required**, ``"unique"`` (one process per key) or ``"duplicate"``;
    * ``name``: default **None** (not registered).

    Example::

        children = [(otp.Registry, {"keys": "duplicate", "name": "topics"})]
        ...
        otp.Registry.register("topics", "news", None)      # in a subscriber
        otp.Registry.dispatch("topics", "news",
                              lambda entries: [otp.send(pid, msg) for pid, _ in entries])
    """

    @staticmethod
    @direct_child
    def serve(
        *,
        keys: KeysMode,
        name: object = None,
        task_status: trio.TaskStatus[Pid | None] = trio.TASK_STATUS_IGNORED,
    ) -> Coroutine[Any, Any, None]:
        """Run a registry until it stops (``nursery.start``'s protocol)."""
        return _RegistryServer.serve(_check_keys(keys), name=name, task_status=task_status)

    @staticmethod
    async def start(nursery: trio.Nursery, *, keys: KeysMode, name: object = None) -> Pid:
        """Start a registry in ``nursery`` and return its handle."""
        pid: Pid = await nursery.start(functools.partial(Registry.serve, keys=keys, name=name))
        return pid

    @staticmethod
    def child_spec(options: Mapping[str, Any]) -> ChildSpec:
        """The spec of ``(Registry, {"keys": "unique", "name": "rooms"})``.

        Id: the ``name`` option if given (as in Elixir), else ``Registry``; restart
        permanent; type worker.
        """
        opts = dict(options)
        unknown = set(opts) - _OPTIONS
        if unknown or "keys" not in opts:
            raise ValueError(
                f"Registry needs the option 'keys' and accepts {sorted(_OPTIONS)}, got {opts!r}"
            )
        _check_keys(opts["keys"])
        return ChildSpec(
            id=opts.get("name") or Registry,
            start=functools.partial(Registry.serve, **opts),
            modules=(Registry,),
        )

    @staticmethod
    def via(registry: object, key: object, value: object = None) -> Via:
        """A name for ``name=``, ``call`` and the rest, held in a unique registry."""
        _check_key(key)  # a via name is hashed wherever names are looked up
        return Via(registry, key, value)

    @staticmethod
    def register(registry: object, key: object, value: object = None) -> None:
        """Register the calling process under ``key`` with ``value``.

        The entry lasts until :meth:`unregister` or until the process exits. In a
        duplicate registry a process may register the same key more than once.

        Raises:
            UnknownRegistryError: ``registry`` is not a running registry.
            AlreadyRegisteredError: a unique registry has another process under ``key``.
            RuntimeError: called outside any process.
        """
        reg = _resolve(registry)
        pid = _caller("register")
        _check_key(key)
        if reg.unique:
            found = reg.table.get(key)
            if found is not None:
                raise AlreadyRegisteredError(registry, key, found[0][0])
        reg.add(pid, key, value)

    @staticmethod
    def unregister(registry: object, key: object) -> None:
        """Remove every entry of the calling process under ``key`` (none: no error)."""
        reg = _resolve(registry)
        reg.remove(_caller("unregister"), key)

    @staticmethod
    def lookup(registry: object, key: object) -> list[Entry]:
        """Return ``[(pid, value), ...]`` for ``key``: ``[]`` if nobody is registered."""
        try:
            reg = _resolved[registry]  # _resolve, inlined: R1's one call
        except (KeyError, TypeError):
            reg = _registry(registry)
        else:
            if reg.thread != get_ident():
                reg = _registry(registry)
        if reg.unique:
            try:
                found = reg.table.get(key)
            except TypeError:
                return reg.entries(key)  # says what is wrong with the key
            return [] if found is None else [found[0]]
        return reg.entries(key)

    @staticmethod
    def handle(registry: object) -> RegistryHandle:
        """Resolve ``registry`` once: a :class:`RegistryHandle` for fast lookups.

        ``Registry.handle(reg).lookup(key)`` answers what ``Registry.lookup(reg,
        key)`` does, as a tuple (``((pid, value),)`` or ``()``), without resolving
        the registry or building a list: in a unique registry the lookup is one C
        call. Not in Elixir, whose ``lookup/2`` reads its ETS table directly; this
        is the same read, kept in a variable. The handle is bound to this registry
        process (see :class:`RegistryHandle`).

        Raises:
            UnknownRegistryError: ``registry`` is not a running registry.
        """
        return RegistryHandle._new(_resolve(registry))

    @staticmethod
    def keys(registry: object, pid: Pid) -> list[Any]:
        """Return the keys ``pid`` is registered under (a repeated registration repeats)."""
        return list(_resolve(registry).by_pid.get(pid, ()))

    @staticmethod
    def values(registry: object, key: object, pid: Pid) -> list[Any]:
        """Return the values ``pid`` registered under ``key``."""
        return [value for holder, value in _resolve(registry).entries(key) if holder is pid]

    @staticmethod
    def count(registry: object) -> int:
        """Return the number of entries in the registry."""
        reg = _resolve(registry)
        if reg.unique:
            return len(reg.table)
        return sum(len(keys) for keys in reg.by_pid.values())

    @staticmethod
    def match(registry: object, key: object, predicate: Callable[[Any], bool]) -> list[Entry]:
        """Return the entries under ``key`` whose value satisfies ``predicate``.

        Elixir's ``match/4`` with a Python predicate instead of a pattern and guards.
        """
        return [(pid, v) for pid, v in _resolve(registry).entries(key) if predicate(v)]

    @staticmethod
    def count_match(registry: object, key: object, predicate: Callable[[Any], bool]) -> int:
        """Count the entries under ``key`` whose value satisfies ``predicate``."""
        return sum(1 for _, v in _resolve(registry).entries(key) if predicate(v))

    @staticmethod
    def select(
        registry: object, predicate: Callable[[Any, Pid, Any], bool] = lambda k, p, v: True
    ) -> list[tuple[Any, Pid, Any]]:
        """Return every ``(key, pid, value)`` for which ``predicate(key, pid, value)`` holds.

        Elixir's ``select/2`` with a Python predicate instead of a match spec; the
        default predicate selects everything.
        """
        return [e for e in _resolve(registry).all_entries() if predicate(*e)]

    @staticmethod
    def update_value(
        registry: object, key: object, fn: Callable[[Any], Any]
    ) -> tuple[Any, Any] | None:
        """Replace the calling process's value under ``key`` (unique registries) with
        ``fn(old)``.

        Returns:
            ``(new, old)``, or ``None`` if the caller is not registered under ``key``.

        Raises:
            ValueError: the registry is a duplicate registry (as in Elixir).
        """
        reg = _resolve(registry)
        if not reg.unique:
            raise ValueError(f"update_value needs a unique registry; {registry!r} is duplicate")
        pid = _caller("update_value")
        found = reg.table.get(key)
        if found is None or found[0][0] is not pid:
            return None
        old = found[0][1]
        new = fn(old)
        reg.table[key] = ((pid, new),)
        return new, old

    @staticmethod
    def dispatch(registry: object, key: object, fn: Callable[[list[Entry]], object]) -> None:
        """Call ``fn(entries)`` with every ``(pid, value)`` under ``key`` (pub-sub).

        Not called at all when nobody is registered under ``key``, as in Elixir.
        ``fn`` runs in the caller, synchronously: it usually :func:`~trio_otp.send`\\ s
        or :func:`~trio_otp.cast`\\ s to each entry, which never blocks.
        """
        entries = _resolve(registry).entries(key)
        if entries:
            fn(entries)

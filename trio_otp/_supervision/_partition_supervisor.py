"""PartitionSupervisor: N copies of one child behind one name, chosen by key.

Elixir's ``PartitionSupervisor``: a one_for_one supervisor of ``partitions``
identical children (usually DynamicSupervisors), with ids ``0 .. N-1``.
:meth:`PartitionSupervisor.via` names the partition a key routes to, so that
``DynamicSupervisor.start_child(PartitionSupervisor.via(name, key), spec)`` spreads
the children over the partitions. The route is the same in every run and on every
host (:meth:`PartitionSupervisor.key_partition`): an int key ``k`` goes to
``abs(k) % N`` (Elixir's ``rem(abs(k), n)``); a str, bytes or tuple key goes by a
stable hash of a canonical encoding (never Python's per-run ``hash``); any other key
is a ``TypeError``.

The trio default for ``partitions`` is **1**, not Elixir's one per scheduler: a
trio program runs on one thread, and a trio_otp DynamicSupervisor adds its children
in the *caller's* task without a round trip through its mailbox, so there is no
queue for partitions to spread (docs/registry_tasks.rst has the measurement). What
partitions still buy on trio is isolation: each partition has its own restart
intensity and its own ``max_children``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any, final

import attrs
import trio

from .._core._call import _resolve, stop
from .._core._exceptions import NoProcessError
from .._core._names import _SelfResolvingName
from .._core._process import Pid
from .._core._reasons import NORMAL
from .._server._child_spec import ChildSpec, ChildType, to_child_spec
from ._dynamic_supervisor import DynamicSupervisor
from ._supervisor import Supervisor, _own_tree, _StaticSupervisor
from ._supervisor_server import ChildCounts, ChildInfo, Strategy, _check_intensity


class _PartitionSupervisorServer(_StaticSupervisor):
    kind_label = "PartitionSupervisor"

    def __init__(self, partitions: int, max_restarts: int, max_seconds: float) -> None:
        super().__init__(Strategy.ONE_FOR_ONE, max_restarts, max_seconds)
        self.partitions = partitions

    def route(self, key: object) -> Pid | None:
        handle = self._children[_key_partition(key, self.partitions)].handle
        return handle if type(handle) is Pid and handle.alive else None


_KEY_TYPES = "an int, a str, bytes, or a tuple of these"


def _encode(key: object, out: list[bytes], whole: object) -> None:
    # The canonical encoding: a tag byte, then for a str (UTF-8), bytes or int
    # (big-endian two's complement in (bit_length + 8) // 8 bytes) the length in 8
    # big-endian bytes and the data, for a tuple its length and its items in order.
    kind = type(key)  # exact types: isinstance narrows for mypy, ``kind`` decides
    data: bytes
    if kind is str and isinstance(key, str):
        tag, data = b"s", key.encode("utf-8", "surrogatepass")
    elif kind is bytes and isinstance(key, bytes):
        tag, data = b"b", key
    elif kind is int and isinstance(key, int):
        tag, data = b"i", key.to_bytes((key.bit_length() + 8) // 8, "big", signed=True)
    elif kind is tuple and isinstance(key, tuple):
        out.append(b"t" + len(key).to_bytes(8, "big"))
        for item in key:
            _encode(item, out, whole)
        return
    else:
        part = "" if key is whole else f", and {key!r} in it is"
        raise TypeError(
            f"a PartitionSupervisor key must be {_KEY_TYPES} (so that it routes to the "
            f"same partition in every run and on every host): got {whole!r}{part} of "
            f"type {kind.__qualname__}. Convert it: str(key), int(key), a tuple of its "
            "fields"
        )
    out.append(tag + len(data).to_bytes(8, "big") + data)


def _key_partition(key: object, partitions: int) -> int:
    if type(key) is int:
        return abs(key) % partitions  # Elixir: rem(abs(key), partitions)
    out: list[bytes] = []
    _encode(key, out, key)
    digest = hashlib.blake2b(b"".join(out), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def _server(sup: object) -> _PartitionSupervisorServer:
    pid = _resolve(sup)
    if pid is None or not pid.alive:
        raise NoProcessError(sup, "partitions", None)
    impl = pid._impl
    if not isinstance(impl, _PartitionSupervisorServer):
        raise TypeError(
            f"{sup!r} is not a PartitionSupervisor: it is {pid!r}; give "
            "PartitionSupervisor functions and via() the name or handle of a PartitionSupervisor"
        )
    return impl


@final
@attrs.frozen(repr=False)
class PartitionVia(_SelfResolvingName):
    """The partition ``key`` routes to: Elixir's ``{:via, PartitionSupervisor, {name, key}}``.

    Make one with :meth:`PartitionSupervisor.via`; use it wherever a process name
    is accepted. It names an existing partition: it cannot name a new process.
    """

    supervisor: object
    key: object

    def __repr__(self) -> str:
        return f"PartitionSupervisor.via({self.supervisor!r}, {self.key!r})"

    def _whereis(self) -> Pid | None:
        try:
            server = _server(self.supervisor)
        except NoProcessError:
            return None  # nobody by that name: callers raise NoProcessError, as for any name
        # A process that is not a PartitionSupervisor: _server's TypeError says so.
        return server.route(self.key)

    def _register(self, pid: Pid) -> None:
        raise TypeError(f"{self!r} routes to a partition; it cannot name a new process")


def _check_partitions(partitions: object) -> int:
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"partitions must be an int >= 1, got {partitions!r}")
    return partitions


_OPTIONS = frozenset({"child_spec", "partitions", "name", "max_restarts", "max_seconds"})


@final
class PartitionSupervisor:
    """Elixir's ``PartitionSupervisor``: ``partitions`` copies of one child, routed by key.

    Options and defaults:

    * ``child_spec``: default **DynamicSupervisor** (any child form: a class, a
      ``(class, arg)`` pair, a :class:`~trio_otp.ChildSpec`);
    * ``partitions``: default **1** (see the module notes for why not one per core);
    * ``name``: default **None**;
    * ``max_restarts``: default **3**; ``max_seconds``: default **5**.
    """

    @staticmethod
    async def serve(
        child_spec: object = DynamicSupervisor,
        *,
        partitions: int = 1,
        name: object = None,
        max_restarts: int = 3,
        max_seconds: float = 5,
        task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run a partition supervisor until it stops (``nursery.start``'s protocol)."""
        n = _check_partitions(partitions)
        spec = to_child_spec(child_spec)
        specs = [spec.replace(id=i) for i in range(n)]
        sup = _PartitionSupervisorServer(n, *_check_intensity(max_restarts, max_seconds))
        await sup._serve_in_nursery(specs, name, task_status)

    @staticmethod
    async def start(
        nursery: trio.Nursery,
        child_spec: object = DynamicSupervisor,
        *,
        partitions: int = 1,
        name: object = None,
        max_restarts: int = 3,
        max_seconds: float = 5,
    ) -> Pid:
        """Start a partition supervisor in ``nursery``; return its handle.

        If ``nursery`` is cancelled, the partitions are shut down in order first, as
        :meth:`Supervisor.start <trio_otp.Supervisor.start>` describes.
        """
        serve = functools.partial(
            PartitionSupervisor.serve,
            child_spec,
            partitions=partitions,
            name=name,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
        )
        pid: Pid = await nursery.start(_own_tree, serve)
        return pid

    @staticmethod
    def child_spec(options: Mapping[str, Any]) -> ChildSpec:
        """The spec of ``(PartitionSupervisor, {"name": ..., "partitions": 4})``.

        Id: the ``name`` option if given, else ``PartitionSupervisor``; type supervisor.
        """
        opts = dict(options)
        unknown = set(opts) - _OPTIONS
        if unknown:
            raise ValueError(f"unknown PartitionSupervisor option(s) {sorted(unknown)}")
        child = opts.pop("child_spec", DynamicSupervisor)
        return ChildSpec(
            id=opts.get("name") or PartitionSupervisor,
            start=functools.partial(PartitionSupervisor.serve, child, **opts),
            type=ChildType.SUPERVISOR,
            modules=(PartitionSupervisor,),
        )

    @staticmethod
    def via(supervisor: object, key: object) -> PartitionVia:
        """The name of the partition ``key`` routes to (see :meth:`key_partition`).

        Raises:
            TypeError: ``key`` is not an int, a str, bytes, or a tuple of these.
        """
        if type(key) is not int:
            _encode(key, [], key)
        return PartitionVia(supervisor, key)

    @staticmethod
    def key_partition(key: object, partitions: int) -> int:
        """The partition (``0 .. partitions - 1``) that ``key`` routes to.

        The same in every run, on every host and Python version:

        * an ``int`` ``k``: ``abs(k) % partitions``, Elixir's ``rem(abs(k), n)``;
        * a ``str``, ``bytes`` or ``tuple`` of these (nested, ints included):
          ``int.from_bytes(blake2b(encode(key), digest_size=8).digest(), "big") %
          partitions``, where ``encode`` is a canonical encoding: a tag byte
          (``s``, ``b``, ``i``, ``t``), then for a str its UTF-8, for bytes the
          bytes, for an int its big-endian two's complement in
          ``(k.bit_length() + 8) // 8`` bytes, each preceded by its length in 8
          big-endian bytes, and for a tuple its length in 8 big-endian bytes
          followed by the encodings of its items. (Elixir's ``phash2`` hashes the
          Erlang term; Python's ``hash`` of a str changes from run to run.)

        Exact types only: a ``bool``, a ``float``, ``None``, an enum or a subclass
        (a NamedTuple) is refused, so that two keys that look alike never route by
        two rules.

        Raises:
            TypeError: ``key`` is another type (convert it: ``str(key)``, a tuple of
                its fields).
            ValueError: ``partitions`` is not an int >= 1.
        """
        return _key_partition(key, _check_partitions(partitions))

    @staticmethod
    def partitions(supervisor: object) -> int:
        """The number of partitions."""
        return _server(supervisor).partitions

    @staticmethod
    async def which_children(supervisor: object) -> list[ChildInfo]:
        """The partitions (ids ``0 .. N-1``), as :meth:`Supervisor.which_children`."""
        _server(supervisor)
        return await Supervisor.which_children(supervisor)

    @staticmethod
    async def count_children(supervisor: object) -> ChildCounts:
        """Count the partitions, as :meth:`Supervisor.count_children`."""
        _server(supervisor)
        return await Supervisor.count_children(supervisor)

    @staticmethod
    async def stop(supervisor: object, reason: object = NORMAL) -> None:
        """Stop every partition, then the partition supervisor."""
        await stop(supervisor, reason)

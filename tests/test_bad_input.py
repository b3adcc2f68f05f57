"""Bad input, one row per test: the error's type, and a message that says what was
wrong and what to do (issue 13). Also: BaseExceptions raised in children propagate
untouched, are never restarted and never logged as crashes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp


class Echo(otp.GenServer[None]):
    async def handle_call(self, request: Any, from_: otp.From, state: None) -> otp.Reply[None]:
        return otp.Reply(request, state)


async def _fn() -> None:
    await trio.sleep_forever()


def _flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _flatten(sub)]
    return [exc]


# -- rows that fail synchronously: (make the mistake, exception type, wrong, fix) ------

SYNC_ROWS: dict[str, tuple[Callable[[], object], type[BaseException], str, str]] = {
    "spec id unhashable": (
        lambda: otp.ChildSpec(id=[1], start=Echo.serve),
        otp.ChildSpecError,
        "child id must be hashable",
        "use a str, a class or a tuple",
    ),
    "spec start not callable": (
        lambda: otp.ChildSpec(id="a", start=42),  # type: ignore[arg-type]
        otp.ChildSpecError,
        "got 42",
        "async function following nursery.start's protocol",
    ),
    "spec start=W.start": (
        lambda: otp.ChildSpec(id="a", start=Echo.start),
        otp.ChildSpecError,
        "start=Echo.start starts a process in a nursery you pass",
        "use start=Echo.serve",
    ),
    "spec start=Supervisor.start": (
        lambda: otp.ChildSpec(id="a", start=otp.Supervisor.start),
        otp.ChildSpecError,
        "start=Supervisor.start",
        "use start=Supervisor.serve",
    ),
    "spec args a string": (
        lambda: otp.ChildSpec(id="a", start=Echo.serve, args="xy"),  # type: ignore[arg-type]
        otp.ChildSpecError,
        "got 'xy'",
        "args must be a tuple",
    ),
    "spec restart unknown": (
        lambda: otp.ChildSpec(id="a", start=Echo.serve, restart="sometimes"),  # type: ignore[arg-type]
        otp.ChildSpecError,
        "got 'sometimes'",
        "'permanent', 'transient', 'temporary'",
    ),
    "spec type unknown": (
        lambda: otp.ChildSpec(id="a", start=Echo.serve, type="boss"),  # type: ignore[arg-type]
        otp.ChildSpecError,
        "got 'boss'",
        "'worker' or 'supervisor'",
    ),
    "spec shutdown negative": (
        lambda: otp.ChildSpec(id="a", start=Echo.serve, shutdown=-1),
        otp.ChildSpecError,
        "got -1",
        "seconds >= 0, trio_otp.BRUTAL_KILL or trio_otp.INFINITY",
    ),
    "spec shutdown NaN": (
        lambda: otp.ChildSpec(id="a", start=Echo.serve, shutdown=math.nan),
        otp.ChildSpecError,
        "got nan",
        "seconds >= 0",
    ),
    "spec shutdown bool": (
        lambda: otp.ChildSpec(id="a", start=Echo.serve, shutdown=True),
        otp.ChildSpecError,
        "got True",
        "seconds >= 0",
    ),
    "spec modules not a sequence": (
        lambda: otp.ChildSpec(id="a", start=Echo.serve, modules=3),  # type: ignore[arg-type]
        otp.ChildSpecError,
        "got 3",
        "must be a tuple",
    ),
    "spec mapping without start": (
        lambda: otp.Supervisor.child_spec({"id": "a"}),
        otp.ChildSpecError,
        "missing",
        "needs at least 'id' and 'start'",
    ),
    "spec mapping unknown field": (
        lambda: otp.Supervisor.child_spec({"id": "a", "start": Echo.serve, "restrat": "x"}),
        otp.ChildSpecError,
        "unknown child spec field(s) ['restrat']",
        "did you mean 'restart'?",
    ),
    "spec not a spec at all": (
        lambda: otp.Supervisor.child_spec(42),
        otp.ChildSpecError,
        "cannot make a child spec from 42",
        "give a ChildSpec, a class with child_spec()",
    ),
    "class without child_spec": (
        lambda: otp.Supervisor.child_spec(int),
        otp.ChildSpecError,
        "int has no child_spec(arg) classmethod",
        "pass a ChildSpec instead",
    ),
    "W.child_spec(nmae=...)": (
        lambda: Echo.child_spec(None, nmae="e"),
        otp.ChildSpecError,
        "unknown option(s) ['nmae']",
        "did you mean 'name'?",
    ),
    "Supervisor.child_spec(W, name=...)": (
        lambda: otp.Supervisor.child_spec(Echo, name="e"),
        otp.ChildSpecError,
        "name= is not a spec field",
        "Worker.child_spec(arg, name='w')",
    ),
    "Supervisor option unknown": (
        lambda: otp.Supervisor.child_spec({"children": [], "stratgy": "x"}),
        otp.ChildSpecError,
        "unknown Supervisor option(s) ['stratgy']",
        "stratgy",
    ),
    "DynamicSupervisor option unknown": (
        lambda: otp.DynamicSupervisor.child_spec({"max_kids": 3}),
        otp.ChildSpecError,
        "unknown DynamicSupervisor option(s) ['max_kids']",
        "the options are",
    ),
    "Task of a non-function": (
        lambda: otp.Task.child_spec(42),  # type: ignore[arg-type]
        otp.ChildSpecError,
        "got 42",
        "Task needs a function to run",
    ),
    "reply to something that is not a From": (
        lambda: otp.reply("not a From", 1),  # type: ignore[arg-type]
        TypeError,
        "got 'not a From'",
        "needs the From that handle_call received",
    ),
    "From constructed by hand": (
        lambda: otp.From(),
        TypeError,
        "no public constructor",
        "handle_call receives one",
    ),
    "whereis outside trio.run": (
        lambda: otp.whereis("x"),
        RuntimeError,
        "outside trio.run",
        "start your program with trio.run",
    ),
}


@pytest.mark.parametrize("row", list(SYNC_ROWS))
def test_sync_misuse_is_refused_with_what_and_how(row: str) -> None:
    """Each synchronous misuse raises its type with a message naming the mistake and the fix."""
    make, kind, wrong, fix = SYNC_ROWS[row]
    with pytest.raises(kind) as info:
        make()
    assert wrong in str(info.value)
    assert fix in str(info.value)


def test_plain_def_callback_is_refused_where_it_is_written() -> None:
    """A GenServer callback written as a plain def fails at class definition, saying async def."""
    with pytest.raises(TypeError, match=r"Bad.handle_call is a plain def.*async def handle_call"):

        class Bad(otp.GenServer[None]):
            def handle_call(self, request, from_, state):  # type: ignore[no-untyped-def,override]
                return otp.Reply(request, state)


# -- rows inside a run -----------------------------------------------------------------


async def test_gen_server_whose_init_needs_arguments_says_use_init() -> None:
    """A GenServer whose __init__ needs arguments fails to start, pointing at init(self, arg)."""

    class NeedsArgs(otp.GenServer[None]):
        def __init__(self, size: int) -> None:
            self.size = size

    async with trio.open_nursery() as nursery:
        with pytest.raises(
            TypeError, match=r"NeedsArgs\(\) could not be created.*init\(self, arg\)"
        ):
            await NeedsArgs.start(nursery, 3)


async def test_supervisor_open_none_says_pass_a_list() -> None:
    """Supervisor.open(None) raises ChildSpecError that says children must be a list."""
    with pytest.raises(otp.ChildSpecError, match=r"children must be a list.*pass \[\]"):
        async with otp.Supervisor.open(None):  # type: ignore[arg-type]
            pass  # pragma: no cover


@pytest.mark.parametrize(
    ("option", "value", "fix"),
    [
        ("strategy", "one_for_some", "'one_for_one', 'one_for_all' or 'rest_for_one'"),
        ("max_restarts", -1, "max_restarts must be an int >= 0"),
        ("max_seconds", 0, "max_seconds must be a number of seconds > 0"),
    ],
)
async def test_bad_supervisor_option_says_what_it_accepts(
    option: str, value: Any, fix: str
) -> None:
    """A bad Supervisor option raises ValueError naming the value and what is accepted."""
    with pytest.raises(ValueError, match=repr(value)) as info:
        async with otp.Supervisor.open([], **{option: value}):
            pass  # pragma: no cover
    assert fix in str(info.value)


async def test_duplicate_child_ids_say_give_distinct_ids() -> None:
    """Two children with one id raise ChildSpecError suggesting an id override."""
    with pytest.raises(otp.ChildSpecError, match=r"duplicate child id Echo.*distinct id"):
        async with otp.Supervisor.open([Echo, Echo]):
            pass  # pragma: no cover


async def test_dynamic_supervisor_negative_max_children() -> None:
    """max_children=-1 raises ValueError saying an int >= 0 or None is expected."""
    async with trio.open_nursery() as nursery:
        with pytest.raises(ValueError, match=r"int >= 0 or None.*got -1"):
            await otp.DynamicSupervisor.start(nursery, max_children=-1)


class Returns(otp.GenServer[Any]):
    """Returns whatever the test put in its state for the callback being run."""

    async def init(self, arg: Any) -> Any:
        return arg.get("init", otp.Ok(arg))

    async def handle_call(self, request: Any, from_: otp.From, state: Any) -> Any:
        return state["handle_call"]

    async def handle_cast(self, request: Any, state: Any) -> Any:
        return state["handle_cast"]

    async def handle_info(self, message: Any, state: Any) -> Any:
        return state["handle_info"]

    async def handle_continue(self, arg: Any, state: Any) -> Any:
        return state["handle_continue"]


@pytest.mark.parametrize(
    ("callback", "valid"),
    [
        ("handle_call", "Reply(reply, state), NoReply(state)"),
        ("handle_cast", "NoReply(state)"),
        ("handle_info", "NoReply(state)"),
        ("handle_continue", "NoReply(state)"),
    ],
)
async def test_wrong_return_value_lists_the_callbacks_valid_results(
    callback: str, valid: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback's wrong return crashes with BadReturnValue listing that callback's results."""
    state = {callback: ("reply", 1, None)}
    if callback == "handle_continue":
        state["init"] = otp.Ok(state, continue_=otp.Continue(1))
    with pytest.RaisesGroup(otp.BadReturnValue, flatten_subgroups=True) as info:
        async with trio.open_nursery() as nursery:
            pid = await Returns.start(nursery, state)
            assert pid is not None
            if callback == "handle_call":
                with pytest.raises(otp.CalleeExit):
                    await otp.call(pid, "x")
            elif callback == "handle_cast":
                otp.cast(pid, "x")
            elif callback == "handle_info":
                otp.send(pid, "x")
            await trio.sleep_forever()
    (error,) = info.value.exceptions
    text = str(error)
    assert f"bad return value from {callback}: ('reply', 1, None)" in text
    assert valid in text
    assert "Elixir-style tuples are not results" in text


async def test_init_wrong_return_value_lists_ok_ignore_stop() -> None:
    """init returning garbage fails the start; the reason lists Ok, Ignore and Stop."""
    async with trio.open_nursery() as nursery:
        with pytest.raises(otp.StartError) as info:
            await Returns.start(nursery, {"init": "ready"})
    assert isinstance(info.value.reason, otp.BadReturnValue)
    assert "return Ok(state)" in str(info.value.reason)
    assert "Ignore() or Stop(reason)" in str(info.value.reason)


async def test_double_reply_drops_the_second_silently(autojump_clock: trio.abc.Clock) -> None:
    """Replying twice is not an error: the caller gets the first reply, the second is dropped."""

    class Twice(otp.GenServer[None]):
        async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
            otp.reply(from_, "first")
            otp.reply(from_, "second")
            return otp.NoReply(state)

    async with trio.open_nursery() as nursery:
        pid = await Twice.start(nursery)
        assert await otp.call(pid, "x") == "first"
        assert await otp.call(pid, "y") == "first"
        nursery.cancel_scope.cancel()


class SelfUser(otp.GenServer[None]):
    async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
        try:
            if request == "call":
                await otp.call(self.pid, "again")
            elif request == "stop":
                await otp.stop(self.pid)
            else:
                await otp.Supervisor.stop(self.pid.parent)
        except otp.CallingSelfError as exc:
            return otp.Reply(exc, state)
        return otp.Reply(None, state)  # pragma: no cover


@pytest.mark.parametrize(
    ("request_", "fix"),
    [
        ("call", "do the work directly, or cast to yourself"),
        ("stop", "return Stop(reason, state) from the callback instead"),
        ("stop_supervisor", "have code outside the tree"),
    ],
)
async def test_call_or_stop_of_self_or_own_supervisor_says_what_to_do(
    request_: str, fix: str, autojump_clock: trio.abc.Clock
) -> None:
    """call/stop of self, and stopping one's own supervisor, fail at once with the fix."""
    async with otp.Supervisor.open([SelfUser]) as sup:
        (info,) = await otp.Supervisor.which_children(sup)
        error = await otp.call(info.pid, request_)
        assert isinstance(error, otp.CallingSelfError)
        assert fix in str(error)
        assert trio.current_time() == 0  # no stall


async def test_unregistered_name_says_start_it_first() -> None:
    """A call to a name nobody holds raises NoProcessError saying to start or look it up."""
    with pytest.raises(otp.NoProcessError, match=r"not registered.*start it first"):
        await otp.call("nobody", "x")


async def test_unhashable_name_says_use_a_str() -> None:
    """A call to an unhashable name raises TypeError saying to use a str or tuple."""
    with pytest.raises(TypeError, match=r"must be hashable.*use a str or a tuple"):
        await otp.call(["x"], "x")


@pytest.mark.parametrize(
    ("bad", "kind", "fix"),
    [
        (-1, ValueError, "timeout must be >= 0 seconds (or None for no deadline)"),
        (math.nan, ValueError, "timeout must be >= 0 seconds (or None for no deadline)"),
        (True, TypeError, "timeout must be a number of seconds or None"),
        ("5", TypeError, "timeout must be a number of seconds or None"),
    ],
)
async def test_bad_call_timeout_says_what_is_accepted(
    bad: Any, kind: type[Exception], fix: str
) -> None:
    """A negative, NaN, bool or str call timeout raises naming the value and what to pass."""
    timeout = bad
    async with trio.open_nursery() as nursery:
        pid = await Echo.start(nursery)
        with pytest.raises(kind) as info:
            await otp.call(pid, "x", timeout=timeout)
        assert repr(timeout) in str(info.value)
        assert fix in str(info.value)
        with pytest.raises(kind):
            await otp.stop(pid, timeout=timeout)
        nursery.cancel_scope.cancel()


async def test_raw_call_to_a_supervisor_names_the_management_functions() -> None:
    """call(sup, "garbage") raises ValueError naming the Supervisor functions to use."""
    async with otp.Supervisor.open([Echo]) as sup:
        with pytest.raises(ValueError, match=r"answers only its own management.*which_children"):
            await otp.call(sup, "garbage")
        assert len(await otp.Supervisor.which_children(sup)) == 1


async def test_terminate_child_by_pid_on_a_static_supervisor_says_use_the_id() -> None:
    """Supervisor.terminate_child(sup, pid) says a Supervisor addresses children by id."""
    async with otp.Supervisor.open([Echo]) as sup:
        (info,) = await otp.Supervisor.which_children(sup)
        with pytest.raises(otp.ChildNotFoundError, match=r"by id, not by handle"):
            await otp.Supervisor.terminate_child(sup, info.pid)
        assert info.pid.alive


async def test_unknown_child_id_says_not_found() -> None:
    """terminate_child of an unknown id raises ChildNotFoundError naming the id."""
    async with otp.Supervisor.open([Echo]) as sup:
        with pytest.raises(otp.ChildNotFoundError, match=r"child 'nope': not found"):
            await otp.Supervisor.terminate_child(sup, "nope")


async def test_cast_from_a_worker_thread_says_use_from_thread() -> None:
    """A cast from a worker thread raises RuntimeError naming trio.from_thread.run_sync."""
    async with trio.open_nursery() as nursery:
        pid = await Echo.start(nursery)

        def in_thread() -> str:
            try:
                otp.cast(pid, "x")
            except RuntimeError as exc:
                return str(exc)
            return "no error"  # pragma: no cover

        text = await trio.to_thread.run_sync(in_thread)
        assert "outside trio.run" in text
        assert "trio.from_thread.run_sync(trio_otp.cast" in text
        nursery.cancel_scope.cancel()


async def test_call_under_asyncio_says_use_trio_run() -> None:
    """trio_otp under asyncio raises RuntimeError saying it needs trio.run."""
    import asyncio

    def under_asyncio() -> str:
        try:
            asyncio.run(otp.call("x", "hello"))
        except RuntimeError as exc:
            return str(exc)
        return "no error"  # pragma: no cover

    text = await trio.to_thread.run_sync(under_asyncio)
    assert "outside trio.run" in text
    assert "start your program with trio.run" in text


# -- BaseExceptions in children: untouched, not restarted, not logged -------------------


def _base_exceptions() -> list[BaseException]:
    # trio.Cancelled cannot be raised by hand (trio swallows it at the cancelled scope
    # it belongs to): its row is the owner's cancellation, below.
    return [KeyboardInterrupt("k"), SystemExit(3), GeneratorExit("g")]


@pytest.mark.parametrize("kind", ["GenServer", "Task"])
@pytest.mark.parametrize("exc", _base_exceptions(), ids=lambda e: type(e).__name__)
async def test_base_exception_in_a_child_propagates_untouched(
    exc: BaseException, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A BaseException raised in a supervised child escapes as itself, unrestarted, unlogged."""
    caplog.set_level(logging.DEBUG, logger="trio_otp")
    starts: list[int] = []

    class Raiser(otp.GenServer[None]):
        async def init(self, arg: Any) -> otp.Ok[None]:
            starts.append(1)
            return otp.Ok(None)

        async def handle_cast(self, request: Any, state: None) -> Any:
            raise request

    async def job() -> None:
        starts.append(1)
        await trio.lowlevel.checkpoint()
        raise exc

    task_spec = otp.Supervisor.child_spec((otp.Task, job), restart="permanent")

    async def tree() -> None:
        async with otp.Supervisor.open([Raiser if kind == "GenServer" else task_spec]) as sup:
            if kind == "GenServer":
                (child,) = await otp.Supervisor.which_children(sup)
                otp.cast(child.pid, exc)
            await trio.sleep_forever()

    with pytest.raises(BaseException) as info:  # noqa: PT011 - the exact object is checked
        await tree()
    assert exc in _flatten(info.value) or info.value is exc
    assert starts == [1]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_cancelled_reaches_the_owners_scope_with_no_restart_and_no_crash_log(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.abc.Clock
) -> None:
    """Cancelling the owner of a tree: Cancelled reaches its scope; no restart, no crash log."""
    caplog.set_level(logging.DEBUG, logger="trio_otp")
    starts: list[int] = []

    class Idle(otp.GenServer[None]):
        async def init(self, arg: Any) -> otp.Ok[None]:
            starts.append(1)
            return otp.Ok(None)

    with trio.move_on_after(1) as scope:
        async with otp.Supervisor.open([Idle]):
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert trio.current_time() == 1
    assert starts == [1]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_supervisor_open_under_asyncio_says_use_trio_run() -> None:
    """Supervisor.open under asyncio raises RuntimeError saying trio_otp needs trio.run."""
    import asyncio

    async def under_asyncio() -> None:
        async with otp.Supervisor.open([]):
            pass  # pragma: no cover

    with pytest.raises(RuntimeError, match=r"Supervisor.open\(\) was called outside trio\.run"):
        asyncio.run(under_asyncio())

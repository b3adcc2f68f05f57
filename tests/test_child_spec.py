"""Child specifications: forms, defaults, overrides and validation (_server/_child_spec.py).

Rows of otp-behaviour.md A0 and G (defaults), F (duplicate ids) and the ChildSpecError
messages.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import attrs
import pytest

import trio_otp as otp
from trio_otp import DynamicSupervisor, Supervisor, Task


class Worker(otp.GenServer[Any]):
    pass


async def start(*args: Any, task_status: Any) -> None:  # pragma: no cover - never run
    task_status.started(None)


# --------------------------------------------------------------------------------------
# Defaults (section G)
# --------------------------------------------------------------------------------------


def test_worker_defaults():
    """A worker spec is permanent, shutdown 5 s, type worker, no args, no modules."""
    spec = otp.ChildSpec(id="w", start=start)
    assert (spec.restart, spec.shutdown, spec.type, spec.args, spec.modules) == (
        otp.Restart.PERMANENT,
        5.0,
        otp.ChildType.WORKER,
        (),
        (),
    )


def test_supervisor_type_defaults_to_infinity():
    """A spec of type supervisor gets shutdown INFINITY."""
    spec = otp.ChildSpec(id="s", start=start, type="supervisor")
    assert spec.type is otp.ChildType.SUPERVISOR
    assert spec.shutdown == otp.INFINITY == math.inf


def test_gen_server_child_spec():
    """(Worker, arg) gives id Worker, start Worker.serve with (arg,), modules (Worker,)."""
    spec = Supervisor.child_spec((Worker, 7))
    assert spec == otp.ChildSpec(id=Worker, start=Worker.serve, args=(7,), modules=(Worker,))
    assert Supervisor.child_spec(Worker).args == (None,)
    named = Worker.child_spec(7, name="w", restart="transient")
    assert isinstance(named.start, functools.partial)
    assert named.start.keywords == {"name": "w"}
    assert (named.id, named.restart) == (Worker, otp.Restart.TRANSIENT)


def test_supervisor_child_spec_of_a_nested_supervisor():
    """(Supervisor, opts) is a supervisor child: id its name, else Supervisor; shutdown infinity."""
    spec = Supervisor.child_spec((Supervisor, {"children": [Worker], "name": "inner"}))
    assert (spec.id, spec.type, spec.shutdown, spec.restart, spec.modules) == (
        "inner",
        otp.ChildType.SUPERVISOR,
        otp.INFINITY,
        otp.Restart.PERMANENT,
        (Supervisor,),
    )
    assert Supervisor.child_spec((Supervisor, {"children": []})).id is Supervisor
    assert Supervisor.child_spec((Supervisor, {"children": [], "id": "x"})).id == "x"
    assert Supervisor.child_spec((Supervisor, {"children": []}), restart="temporary").restart is (
        otp.Restart.TEMPORARY
    )


def test_dynamic_supervisor_child_spec():
    """(DynamicSupervisor, {"name": ...}) is a supervisor child named after its name."""
    spec = Supervisor.child_spec((DynamicSupervisor, {"name": "JobSupervisor"}))
    assert (spec.id, spec.type, spec.shutdown) == (
        "JobSupervisor",
        otp.ChildType.SUPERVISOR,
        otp.INFINITY,
    )


def test_task_defaults():
    """A Task spec is temporary with shutdown 5 s (OTP's Task.child_spec)."""

    def fn() -> None: ...

    spec = Task.child_spec(fn)
    assert (spec.id, spec.restart, spec.shutdown, spec.type, spec.args) == (
        Task,
        otp.Restart.TEMPORARY,
        5.0,
        otp.ChildType.WORKER,
        (fn,),
    )


# --------------------------------------------------------------------------------------
# Forms and overrides
# --------------------------------------------------------------------------------------


def test_every_form_normalizes_to_the_same_spec():
    """A ChildSpec, a class, a (class, arg) pair and a mapping give equal specs."""
    spec = otp.ChildSpec(id=Worker, start=Worker.serve, args=(None,), modules=(Worker,))
    mapping = {"id": Worker, "start": Worker.serve, "args": [None], "modules": [Worker]}
    assert Supervisor.child_spec(spec) == spec
    assert Supervisor.child_spec(Worker) == spec
    assert Supervisor.child_spec((Worker, None)) == spec
    assert Supervisor.child_spec(mapping) == spec


def test_overrides_replace_fields():
    """Supervisor.child_spec(child, **overrides) changes fields: the seed's transient fix."""

    def fn() -> None: ...

    fixed = Supervisor.child_spec((Task, fn), restart=otp.Restart.TRANSIENT)
    assert fixed.restart is otp.Restart.TRANSIENT
    assert Supervisor.child_spec((Task, fn), restart="transient") == fixed
    assert fixed == Task.child_spec(fn).replace(restart="transient")
    assert Task.child_spec(fn).restart is otp.Restart.TEMPORARY  # the original is unchanged
    other = Supervisor.child_spec(Worker, id="w2", shutdown=otp.BRUTAL_KILL)
    assert (other.id, other.shutdown) == ("w2", otp.BRUTAL_KILL)


def test_string_values_are_accepted():
    """restart, type and shutdown accept their OTP spellings as strings."""
    spec = otp.ChildSpec(
        id="s", start=start, restart="transient", type="worker", shutdown="infinity"
    )
    assert (spec.restart, spec.type, spec.shutdown) == (
        otp.Restart.TRANSIENT,
        otp.ChildType.WORKER,
        otp.INFINITY,
    )
    assert otp.ChildSpec(id="s", start=start, shutdown="brutal_kill").shutdown == otp.BRUTAL_KILL
    assert otp.ChildSpec(id="s", start=start, shutdown=2).shutdown == 2.0


def test_spec_is_frozen():
    """A ChildSpec cannot be changed in place; replace returns a copy."""
    spec = otp.ChildSpec(id="s", start=start)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.restart = otp.Restart.TEMPORARY  # type: ignore[misc]
    assert spec.replace(id="t").id == "t"
    assert spec.id == "s"


def test_start_call_is_printable():
    """start_call() shows how reports print the start: the function and its args."""
    assert Supervisor.child_spec((Worker, 7)).start_call() == "Worker.serve(7)"


# --------------------------------------------------------------------------------------
# Validation (ChildSpecError, with a helpful message)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"restart": "always"}, "restart must be one of 'permanent', 'transient', 'temporary'"),
        ({"type": "manager"}, "type must be 'worker' or 'supervisor'"),
        ({"start": "Worker.serve"}, "start must be an async function"),
        ({"shutdown": -1}, "shutdown must be a number of seconds >= 0"),
        ({"shutdown": "soon"}, "shutdown must be a number of seconds >= 0"),
        ({"shutdown": True}, "shutdown must be a number of seconds >= 0"),
        ({"shutdown": math.nan}, "shutdown must be a number of seconds >= 0"),
        ({"args": "abc"}, "args must be a tuple"),
        ({"id": ["unhashable"]}, "child id must be hashable"),
    ],
)
def test_invalid_field_is_a_child_spec_error(fields: dict[str, Any], message: str):
    """An invalid field value raises ChildSpecError saying what the field accepts."""
    with pytest.raises(otp.ChildSpecError, match=message):
        otp.ChildSpec(**{"id": "w", "start": start, **fields})
    with pytest.raises(otp.ChildSpecError, match=message):
        Supervisor.child_spec({"id": "w", "start": start, **fields})
    if "id" not in fields:
        with pytest.raises(otp.ChildSpecError, match=message):
            otp.ChildSpec(id="w", start=start).replace(**fields)


def test_child_spec_error_is_a_value_error():
    """ChildSpecError is both an OTPError and a ValueError."""
    assert issubclass(otp.ChildSpecError, otp.OTPError)
    assert issubclass(otp.ChildSpecError, ValueError)


def test_unknown_field_in_replace_or_mapping_names_the_fields():
    """An unknown field name raises ChildSpecError listing the real fields."""
    spec = otp.ChildSpec(id="w", start=start)
    with pytest.raises(otp.ChildSpecError, match=r"unknown child spec field\(s\) \['restrat'\]"):
        spec.replace(restrat="transient")
    with pytest.raises(otp.ChildSpecError, match="the fields are"):
        Supervisor.child_spec({"id": "w", "start": start, "restrat": "transient"})
    with pytest.raises(otp.ChildSpecError, match="restrat"):
        Supervisor.child_spec(Worker, restrat="transient")


def test_mapping_without_start_is_a_child_spec_error():
    """A mapping missing a required field raises ChildSpecError."""
    with pytest.raises(otp.ChildSpecError, match="invalid child spec"):
        Supervisor.child_spec({"id": "w"})


def test_unsupported_forms_are_child_spec_errors():
    """Values that are no child form, and classes without child_spec(), raise ChildSpecError."""

    class NoSpec:
        pass

    class BadSpec:
        @classmethod
        def child_spec(cls, arg: Any = None) -> object:
            return {"not": "a spec"}

    with pytest.raises(otp.ChildSpecError, match="cannot make a child spec from 42"):
        Supervisor.child_spec(42)
    with pytest.raises(otp.ChildSpecError, match="NoSpec has no child_spec"):
        Supervisor.child_spec(NoSpec)
    with pytest.raises(otp.ChildSpecError, match="NoSpec has no child_spec"):
        Supervisor.child_spec((NoSpec, 1))
    with pytest.raises(otp.ChildSpecError, match="not a ChildSpec"):
        Supervisor.child_spec(BadSpec)


def test_unknown_supervisor_option_is_a_child_spec_error():
    """An unknown option in (Supervisor, {...}) raises ChildSpecError naming it."""
    with pytest.raises(otp.ChildSpecError, match="stratgy"):
        Supervisor.child_spec((Supervisor, {"children": [], "stratgy": "one_for_all"}))

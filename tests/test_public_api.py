"""The public façade: ``import trio_otp as otp`` (trio_otp/__init__.py)."""

from __future__ import annotations

import collections
import importlib.resources
import inspect
import pathlib
import re

import pytest

import trio_otp as otp


def _public_objects() -> dict[str, object]:
    return {
        name: obj
        for name, obj in vars(otp).items()
        if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
    }


PUBLIC = _public_objects()

#: The core runtime of notes/api_plan.md ("Implemented now"): it must all be there.
CORE = {
    "GenServer", "Ok", "Ignore", "Reply", "NoReply", "Stop", "Continue", "From",
    "call", "cast", "send", "reply", "stop", "whereis", "registered", "current_process",
    "Pid", "Shutdown", "is_normal_exit",
    "OTPError", "CallError", "CallTimeout", "NoProcessError", "CalleeExit",
    "CallingSelfError", "ProcessExit", "BadReturnValue", "StartError",
    "AlreadyStartedError", "ChildStartError", "ChildSpecError", "SupervisorError",
    "AlreadyPresentError", "ChildRunningError", "ChildNotFoundError", "MaxChildrenError",
    "RestartIntensityError", "TaskExit",
}  # fmt: skip


def test_core_runtime_names_are_exported():
    """Every class and function of the implemented core is a public attribute of trio_otp."""
    assert CORE - set(PUBLIC) == set()


def test_core_constants_are_exported():
    """The exit reasons and the default call timeout are exported with OTP's values."""
    assert (otp.NORMAL, otp.SHUTDOWN, otp.KILLED) == ("normal", "shutdown", "killed")
    assert otp.DEFAULT_TIMEOUT == 5.0


def test_each_public_object_is_exported_once():
    """No class or function is exported under two public names."""
    counts = collections.Counter(id(obj) for obj in PUBLIC.values())
    twice = sorted(name for name, obj in PUBLIC.items() if counts[id(obj)] > 1)
    assert twice == []


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_object_lives_in_trio_otp(name):
    """Public classes and functions say trio_otp.X in tracebacks, not trio_otp._module.X."""
    obj = PUBLIC[name]
    assert obj.__module__ == "trio_otp"
    assert obj.__qualname__ == name


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_object_has_a_docstring(name):
    """Every public class and function has its own docstring (not an inherited one)."""
    doc = PUBLIC[name].__doc__
    assert doc is not None
    assert doc.strip()


@pytest.mark.parametrize("name", ["Pid", "From"])
def test_runtime_built_handles_are_final(name):
    """Handles built by the runtime are @final and have no public constructor."""
    cls = PUBLIC[name]
    assert getattr(cls, "__final__", False) is True
    with pytest.raises(TypeError):
        cls()


def test_package_is_typed():
    """The package ships py.typed (PEP 561)."""
    assert importlib.resources.files("trio_otp").joinpath("py.typed").is_file()


def test_version_is_exported():
    """trio_otp.__version__ matches the installed distribution's version."""
    from importlib.metadata import version

    assert otp.__version__ == version("trio_otp")


def test_every_public_name_is_in_the_api_reference():
    """The API pages (docs/api/*.rst) document every public name of trio_otp."""
    pages = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "api").glob("*.rst")
    api = "\n".join(page.read_text() for page in pages)
    documented = set(re.findall(r"^\.\. auto\w+:: (\w+)", api, re.MULTILINE))
    # Subpackages (trio_otp.jobs, trio_otp.testing, ...) have pages of their own.
    public = {
        name
        for name, obj in vars(otp).items()
        if not name.startswith("_") and not inspect.ismodule(obj)
    } - {"annotations"}
    assert public - documented == set()

"""Issue 21, point 8: PartitionSupervisor routes a key to the same partition in every
run and on every host: ints as Elixir's ``rem(abs(k), n)``, str/bytes/tuples by
BLAKE2b of the canonical encoding documented in ``PartitionSupervisor.key_partition``,
other keys refused with a clear error.

The expected partitions are constants: Python's per-run ``hash`` (what routed str keys
before) would make them change with ``PYTHONHASHSEED``, which the subprocess test
sets to two different values.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

import trio_otp as otp
from trio_otp import PartitionSupervisor

ROOT = Path(__file__).resolve().parent.parent


def reference_encoding(key: object) -> bytes:
    """The encoding exactly as key_partition's docstring states it."""
    if type(key) is str:
        data = key.encode("utf-8")
        return b"s" + len(data).to_bytes(8, "big") + data
    if type(key) is bytes:
        return b"b" + len(key).to_bytes(8, "big") + key
    if type(key) is int:
        data = key.to_bytes((key.bit_length() + 8) // 8, "big", signed=True)
        return b"i" + len(data).to_bytes(8, "big") + data
    assert type(key) is tuple
    return b"t" + len(key).to_bytes(8, "big") + b"".join(map(reference_encoding, key))


def reference_partition(key: object, n: int) -> int:
    digest = hashlib.blake2b(reference_encoding(key), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def test_int_keys_route_as_elixir_rem_abs():
    for k in range(-20, 21):
        for n in (1, 2, 3, 4, 7):
            assert PartitionSupervisor.key_partition(k, n) == abs(k) % n
    assert PartitionSupervisor.key_partition(-(10**30) - 3, 4) == (10**30 + 3) % 4


KEYS = ["room-7", "", "ünïcode", b"x", b"", ("a", 1), (), ("room", b"x", (-1, "y")), (0,)]


def test_str_bytes_and_tuple_keys_route_by_the_documented_hash():
    for key in KEYS:
        for n in (2, 3, 4, 7, 64):
            assert PartitionSupervisor.key_partition(key, n) == reference_partition(key, n)
    # Constants: these must never change (a change moves every user's keys).
    assert [PartitionSupervisor.key_partition(key, 7) for key in KEYS] == [
        4,
        6,
        1,
        0,
        2,
        6,
        6,
        5,
        1,
    ]
    # Lookalikes do not collide by construction: "1" is not 1, (1,) is not 1.
    encodings = {reference_encoding(k) for k in ("1", b"1", 1, (1,), ("1",))}
    assert len(encodings) == 5


def test_routing_is_the_same_whatever_pythonhashseed():
    code = (
        "from trio_otp import PartitionSupervisor as P;"
        "print([P.key_partition(k, 1000) for k in ('room-7', b'x', ('a', 1), 'z' * 50)])"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout)
    expected = [reference_partition(k, 1000) for k in ("room-7", b"x", ("a", 1), "z" * 50)]
    assert outputs == {f"{expected}\n"}


@pytest.mark.parametrize(
    ("key", "named"),
    [
        (None, "None of type NoneType"),
        (1.0, "1.0 of type float"),
        (True, "True of type bool"),
        ([1], "[1] of type list"),
        (("a", 1.5), "('a', 1.5), and 1.5 in it is of type float"),
    ],
)
def test_other_keys_get_a_clear_error(key: object, named: str):
    with pytest.raises(TypeError, match="must be an int, a str, bytes, or a tuple") as info:
        PartitionSupervisor.via("parts", key)
    assert named in str(info.value)
    assert "Convert it" in str(info.value)
    with pytest.raises(TypeError, match="must be an int"):
        PartitionSupervisor.key_partition(key, 4)


def test_key_partition_checks_partitions():
    with pytest.raises(ValueError, match="partitions must be an int >= 1"):
        PartitionSupervisor.key_partition("k", 0)


async def test_a_running_supervisor_routes_by_key_partition():
    async with trio.open_nursery() as nursery:
        sup = await PartitionSupervisor.start(nursery, partitions=7)
        by_id = {info.id: info.pid for info in await PartitionSupervisor.which_children(sup)}
        for key in [*KEYS, -9, 9]:
            index = PartitionSupervisor.key_partition(key, 7)
            assert otp.whereis(PartitionSupervisor.via(sup, key)) is by_id[index]
        await PartitionSupervisor.stop(sup)

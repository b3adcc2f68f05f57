"""A plain ``Supervisor.open`` program, for the Control-C tests in test_application.py.

Run as ``python tests/ctrl_c_program.py DRAIN [start]``: two children whose
``terminate`` takes DRAIN seconds; it prints what happens, and ``KeyboardInterrupt``
at the end. With ``start``, the tree is started with ``Supervisor.start`` into the
program's own nursery instead.
"""

from __future__ import annotations

import sys

import trio

import trio_otp as otp

DRAIN = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
START = sys.argv[2:] == ["start"]


class Slow(otp.GenServer[str]):
    async def init(self, name: str) -> otp.Ok[str]:
        print(f"{name}: up", flush=True)
        return otp.Ok(name)

    async def terminate(self, reason: object, name: str) -> None:
        print(f"{name}: terminate({reason!r})", flush=True)
        await trio.sleep(DRAIN)
        print(f"{name}: done", flush=True)


async def main() -> None:
    children = [otp.Supervisor.child_spec((Slow, n), id=n, shutdown=60) for n in ("a", "b")]
    if START:
        async with trio.open_nursery() as nursery:
            await otp.Supervisor.start(nursery, children)
            print("ready", flush=True)
            await trio.sleep_forever()
    async with otp.Supervisor.open(children):
        print("ready", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    try:
        trio.run(main)
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
    except BaseExceptionGroup as group:  # the nursery of the start variant
        print(f"{type(group).__name__}: {group.exceptions!r}", flush=True)

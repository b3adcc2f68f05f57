"""A ``run_application`` program whose tree starts slowly, for test_application.py.

Run as ``python tests/slow_start_program.py``: child ``fast`` starts at once, child
``slow``'s ``init`` sleeps 100 s (its ``shutdown`` budget is 1 s); it prints what
happens and its exit status.
"""

from __future__ import annotations

import functools
import logging
import sys

import trio

import trio_otp as otp


class Child(otp.GenServer[str]):
    async def init(self, name: str) -> otp.Ok[str]:
        print(f"{name}: init", flush=True)
        if name == "slow":
            await trio.sleep(100)
        return otp.Ok(name)

    async def terminate(self, reason: object, name: str) -> None:
        print(f"{name}: terminate({reason!r})", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    children = [Child.child_spec(name, id=name, shutdown=1) for name in ("fast", "slow")]
    status = trio.run(functools.partial(otp.run_application, children))
    print(f"exit status {status}", flush=True)
    sys.exit(status)

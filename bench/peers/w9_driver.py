"""``python -m bench.peers.w9_driver SYSTEM ROLE PARAMS_JSON``: one W9 step of one system.

SYSTEM is ``trio_otp``, ``floor``, ``procrastinate`` or ``oban``; its module
``bench.peers.w9_SYSTEM`` has a ``main(role, dsn, params)``. The job functions live in
that module (not in ``__main__``), so that the enqueuing and the working processes
name them alike. See :mod:`bench.peers.w9_common` for the roles.
"""

from __future__ import annotations

import importlib
import json
import sys


def main(argv: list[str]) -> int:
    system, role, params = argv[0], argv[1], json.loads(argv[2])
    module = importlib.import_module(f"bench.peers.w9_{system}")
    dsn = params.pop("dsn")
    module.main(role, dsn, params)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

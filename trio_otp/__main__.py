"""``python -m trio_otp``: the library's command line (see :mod:`trio_otp._cli`)."""

from __future__ import annotations

from trio_otp._cli import main

if __name__ == "__main__":
    raise SystemExit(main())

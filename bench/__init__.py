"""trio_otp's benchmark suite: ``python -m bench`` (``nox -s bench``); see README.md.

Never imported by the test suite. This package imports nothing at import time, so
that the triotp peer worker (another venv, without trio_otp) can use its helpers.
"""

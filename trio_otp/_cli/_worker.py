"""``trio-otp worker MODULE:ATTRIBUTE``: run job queues as a program, under
:func:`~trio_otp.run_application`."""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import math
import os
import sys
from collections.abc import Iterable
from typing import Any, Final

from . import UsageError
from ._migrate import EXIT_OK, store_status
from ._options import DATABASE_URL_ENV, add_database_url, database_url, make_store

HELP: Final = "run job queues (MODULE:ATTRIBUTE) until SIGTERM, draining them in order"
DESCRIPTION: Final = f"""\
Run the job queues that MODULE:ATTRIBUTE names as one program, under
trio_otp.run_application: SIGTERM or SIGINT stops them in order (running jobs get
their queue's shutdown budget, then their claims are handed back), a second signal
cancels what is left at once.

ATTRIBUTE is either
  * a function taking the job store (made from --database-url) and returning the
    children of the application (JobQueue specs, or any child specs), e.g.
        def queues(store):
            return [(JobQueue, {{"store": store, "queues": {{"mail": 10}}}})]
  * or a list of children (that make their own stores; --database-url is then
    only used by --check).

environment: {DATABASE_URL_ENV} (for --database-url), TRIO_OTP_SHUTDOWN (for
--shutdown), TRIO_OTP_LOG_LEVEL (for --log-level), TRIO_OTP_NO_MIGRATE=1 (for
--no-migrate). The current directory is put first on sys.path, as `python -m` does.

exit status:
  0  orderly stop after SIGTERM/SIGINT (or the queues stopped normally);
     --check: the store is reachable and its schema current
  1  the queues failed to start, gave up (restart intensity) or crashed
  2  usage error: bad arguments, MODULE:ATTRIBUTE cannot be imported, no store
  3  --check: the store is unreachable or unusable
  4  --check: the store's schema is not current (run `trio-otp migrate`)
  128+N  the stop took longer than --shutdown, or a second signal N cut it short
"""

#: The default cap on the stop after SIGTERM (seconds): a process manager's grace
#: period must exceed it (systemd's TimeoutStopSec, Kubernetes'
#: terminationGracePeriodSeconds; docs/deploy/ keeps both).
DEFAULT_SHUTDOWN: Final = 30.0

logger = logging.getLogger("trio_otp.cli")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (0 < value < math.inf):
        raise argparse.ArgumentTypeError(f"must be seconds > 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        metavar="MODULE:ATTRIBUTE",
        help="the queues to run: a function of the store returning children, or a list",
    )
    add_database_url(parser)
    parser.add_argument(
        "--check",
        action="store_true",
        help="health check: import MODULE:ATTRIBUTE, open the store without migrating, "
        "exit 0 if it is reachable and its schema current (3: unreachable, 4: schema), "
        "run nothing",
    )
    parser.add_argument(
        "--shutdown",
        metavar="SECONDS",
        type=_seconds,
        default=None,
        help="cap on the whole stop after SIGTERM/SIGINT: what still runs then is "
        "cancelled (its claim is rescued later) and the status is 128+signal. Default: "
        f"TRIO_OTP_SHUTDOWN, else {DEFAULT_SHUTDOWN:g}. Give the process manager a "
        "longer grace period",
    )
    parser.add_argument(
        "--no-migrate",
        action="store_true",
        help="do not apply schema migrations at start (then an older schema is an error): "
        "for deployments that run `trio-otp migrate` once beforehand. Default: migrate",
    )
    parser.add_argument(
        "--log-level",
        metavar="LEVEL",
        default=None,
        help="DEBUG, INFO, WARNING or ERROR, logged to stderr. Default: "
        "TRIO_OTP_LOG_LEVEL, else INFO",
    )


def resolve(target: str) -> Any:
    """The object ``module:attribute`` names (the attribute may be dotted).

    Raises:
        UsageError: a bad form, a module that cannot be imported, a missing attribute.
    """
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(
            f"the target must be MODULE:ATTRIBUTE (e.g. myapp.jobs:queues), got {target!r}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r} (from {target!r}): {exc}") from exc
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"{module_name!r} has no attribute {attribute!r}") from None
    return obj


def children_of(target: Any, name: str, store: Any) -> list[Any]:
    """The application's children: ``target(store)`` for a function, else ``target``."""
    if isinstance(target, (list, tuple)):
        return list(target)
    if callable(target) and not isinstance(target, type):
        made = target(store)
        if isinstance(made, Iterable) and not isinstance(made, (str, bytes)):
            return list(made)
        raise UsageError(f"{name}(store) must return a list of children, got {made!r}")
    raise UsageError(
        f"{name} must be a function of the store returning children, or a list of "
        f"children, got {target!r}"
    )


def _shutdown(args: argparse.Namespace) -> float:
    if args.shutdown is not None:
        return float(args.shutdown)
    text = os.environ.get("TRIO_OTP_SHUTDOWN")
    if not text:
        return DEFAULT_SHUTDOWN
    try:
        return _seconds(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"TRIO_OTP_SHUTDOWN: {exc}") from None


def _configure_logging(args: argparse.Namespace) -> None:
    level = (args.log_level or os.environ.get("TRIO_OTP_LOG_LEVEL") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise UsageError(f"--log-level must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def run(args: argparse.Namespace) -> int:
    import trio

    from trio_otp._supervision._application import run_application

    _configure_logging(args)
    target = resolve(args.target)
    if args.check:
        return store_status(database_url(args), migrate=False, verb="current")
    migrate = not (args.no_migrate or os.environ.get("TRIO_OTP_NO_MIGRATE") == "1")
    needs_store = not isinstance(target, (list, tuple))
    store = make_store(database_url(args), migrate=migrate) if needs_store else None
    children = children_of(target, args.target, store)
    shutdown = _shutdown(args)
    logger.info(
        "trio-otp worker %s (pid %d): %d children, shutdown cap %g s",
        args.target,
        os.getpid(),
        len(children),
        shutdown,
    )
    status: int = trio.run(functools.partial(run_application, children, shutdown_timeout=shutdown))
    return EXIT_OK if status == EXIT_OK else status

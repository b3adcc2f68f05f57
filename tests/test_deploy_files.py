"""The deployment examples (docs/deploy/, shown by docs/deployment.rst) stay true:
each process manager's grace period exceeds the worker's shutdown budget it serves,
the stop signal is SIGTERM, and every command line they hold parses with the real
``trio-otp`` argument parser."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path
from typing import Any

import pytest

from trio_otp._cli import build_parser

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy"


def shutdown_budget(argv: list[str]) -> float:
    """The --shutdown of a ``trio-otp worker`` command line, parsed as the CLI does."""
    assert argv[0].endswith("trio-otp"), argv
    args = build_parser().parse_args(argv[1:])
    assert args.command == "worker", argv
    assert args.shutdown is not None, f"{argv}: give --shutdown explicitly"
    return float(args.shutdown)


def test_the_systemd_unit_waits_longer_than_the_shutdown_budget() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "trio-otp-worker.service")
    service = unit["Service"]
    budget = shutdown_budget(shlex.split(service["ExecStart"]))
    grace = float(service["TimeoutStopSec"])
    assert service["KillSignal"] == "SIGTERM"
    assert grace > budget, f"TimeoutStopSec={grace} must exceed --shutdown {budget}"


def test_the_kubernetes_grace_period_exceeds_every_containers_budget() -> None:
    yaml = pytest.importorskip("yaml")
    documents: list[Any] = list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))
    deployments = [d for d in documents if d and d.get("kind") == "Deployment"]
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        grace = float(pod["terminationGracePeriodSeconds"])
        workers = [c for c in pod["containers"] if "worker" in c["command"]]
        assert workers
        for container in workers:
            budget = shutdown_budget(container["command"])
            assert grace > budget, (
                f"{container['name']}: terminationGracePeriodSeconds {grace} must exceed "
                f"--shutdown {budget}"
            )
            probe = container["livenessProbe"]["exec"]["command"]
            assert build_parser().parse_args(probe[1:]).check
        for init in pod.get("initContainers", []):
            assert build_parser().parse_args(init["command"][1:]).command == "migrate"

"""Peers: triotp (own venv, subprocess) and Elixir (the reference .exs scripts).

``TRIOTP_NOTES`` says how triotp expresses each workload (reported with the results);
a workload listed in ``TRIOTP_CANNOT`` is reported as "cannot express: <why>" instead
of being run. Every workload is expressible with triotp 0.2.1, with the differences
below.
"""

from __future__ import annotations

TRIOTP_NOTES: dict[str, str] = {
    "W1": "gen_server.start + gen_server.call by name (rendezvous mailbox, a fresh "
    "reply channel per call)",
    "W2": "as W1, 100 concurrent clients",
    "W3": "partly: dynamic_supervisor.start_child only hands the spec to the supervisor's "
    "mailbox and returns before the child runs (no 'started after init' semantics); "
    "measured until all N init callbacks ran. No stop call: the supervisor's nursery "
    "is cancelled",
    "W4": "gen_server JobQueue + dynamic_supervisor 'JobSupervisor'; the job task "
    "answers with gen_server.reply(caller, result); restart TEMPORARY",
    "W5": "PERMANENT gen_server under supervisor.start (triotp has no strategies: each "
    "child is restarted on its own, i.e. one_for_one); crash = Stop(reason=exception) "
    "from handle_cast; the client retries the call (with a trio.sleep(0), since "
    "triotp's send to a missing name raises without a checkpoint)",
    "W6": "as W4 with restart TRANSIENT and max_restarts=1,000,000 (triotp counts "
    "restart intensity per child, not per supervisor)",
}

TRIOTP_CANNOT: dict[str, str] = {}

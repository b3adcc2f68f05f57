"""The Elixir chapter, "Dynamic supervision", retold with trio_otp.

Run it::

    python examples/job_queue.py              # real time: the 5 s call timeout really takes 5 s
    python examples/job_queue.py --seed 1     # the same "random" failures every run
    python examples/job_queue.py --fast       # on a virtual clock: done in a blink
    python examples/job_queue.py --serve      # as a program: SIGTERM/Ctrl-C stop it in order

What it shows, in the chapter's order:

1. A supervisor that starts with no children, and tasks added to it on the fly with
   ``Supervisor.start_child``; then the same with a ``DynamicSupervisor``.
2. A job queue: a GenServer that hands every job to a fresh Task under a
   DynamicSupervisor and lets that task answer the caller (``otp.reply(from_, ...)``).
3. The supervision tree that forms, drawn from the live supervisors.
4. Jobs: one that works; one that fails ~30% of the time and, with the default
   *temporary* task spec, leaves its caller waiting until the 5 s call timeout; and
   the fix, a *transient* task spec, which makes the supervisor re-run the failed job.
5. Epilogue: a job that always fails exhausts JobSupervisor's restart intensity.

``--seed N`` (or ``TRIO_OTP_DEMO_SEED=N``) seeds the failures; ``--fast`` (or
``TRIO_OTP_DEMO_FAST=1``) runs on ``trio.testing.MockClock``, so the timeouts cost no
real time; ``--full-tracebacks`` prints whole tracebacks in the crash reports.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import logging
import os
import random
import sys
import textwrap
import traceback
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import trio
import trio.testing

import trio_otp as otp
from trio_otp import DynamicSupervisor, Supervisor, Task

#: A job is an async function with no arguments; its return value is the job's result.
Job = Callable[[], Awaitable[Any]]


# ----------------------------------------------------------------------------------------
# Printing the story
# ----------------------------------------------------------------------------------------


def heading(title: str) -> None:
    print()
    print(title)
    print("=" * len(title))


def subheading(title: str) -> None:
    print()
    print(f"--- {title} ---")


def explain(text: str) -> None:
    """Print a paragraph of explanation, wrapped."""
    for paragraph in textwrap.dedent(text).strip().split("\n\n"):
        print()
        print(textwrap.fill(" ".join(paragraph.split()), width=88))


def code(line: str) -> None:
    """Show the line of code that runs next, REPL style."""
    print(f">>> {line}")


def now() -> float:
    return trio.current_time()


# ----------------------------------------------------------------------------------------
# The job queue (the chapter's JobQueue module)
# ----------------------------------------------------------------------------------------


class JobQueue(otp.GenServer[otp.Restart]):
    """Runs each job in its own Task under the DynamicSupervisor "JobSupervisor".

    The argument is the restart type of those tasks: ``"temporary"`` (what ``(Task, fn)``
    gives, the default) or ``"transient"`` (the chapter's fix). It is the state.
    """

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> otp.ChildSpec:
        # Use the class as the process name, a common pattern (the chapter's
        # `name: __MODULE__`): callers then address the queue as JobQueue.
        return super().child_spec(arg, name=cls, **overrides)

    @staticmethod
    async def schedule_job(job: Job) -> Any:
        """Run ``job`` in a fresh task and return its result (5 s call timeout)."""
        return await otp.call(JobQueue, ("schedule_job", job))

    async def init(self, restart: str | None) -> otp.Ok[otp.Restart]:
        return otp.Ok(otp.Restart(restart or otp.Restart.TEMPORARY))

    async def handle_call(
        self, request: tuple[str, Job], from_: otp.From, restart: otp.Restart
    ) -> otp.NoReply[otp.Restart]:
        _, job = request

        # The task that handles the job and sends the result back. We don't run the
        # job in this GenServer: it handles one message at a time and would become a
        # bottleneck. `from_` lets any task reply to the call.
        async def run_job() -> None:
            result = await job()
            # The same as returning Reply(result, ...) from handle_call, from anywhere.
            otp.reply(from_, result)

        # (Task, run_job) is a temporary child; Supervisor.child_spec overrides that.
        task_spec = Supervisor.child_spec((Task, run_job), restart=restart)
        await DynamicSupervisor.start_child("JobSupervisor", task_spec)
        # A NoReply from handle_call: run_job takes care of replying.
        return otp.NoReply(restart)


async def start_my_app(nursery: trio.Nursery, job_restart: str = "temporary") -> otp.Pid:
    """The chapter's "start our queue" cell: safe to run again and again."""
    # Check if the supervisor is already running and if so, stop it. This avoids a
    # name conflict when the cell runs again.
    if otp.whereis("my_app_supervisor"):
        await Supervisor.stop("my_app_supervisor")
    children = [(DynamicSupervisor, {"name": "JobSupervisor"}), (JobQueue, job_restart)]
    return await Supervisor.start(
        nursery, children, strategy="one_for_one", name="my_app_supervisor"
    )


# ----------------------------------------------------------------------------------------
# Jobs
# ----------------------------------------------------------------------------------------


async def simple_job() -> str:
    print(f"{otp.current_process()}: Running a job")
    await trio.sleep(0.1)
    return "Job result"


@dataclasses.dataclass(repr=False)
class FlakyJob:
    """The chapter's job that fails ~30% of the time; it counts its attempts."""

    rng: random.Random
    attempts: list[otp.Pid | None] = dataclasses.field(default_factory=list)

    async def __call__(self) -> str:
        self.attempts.append(otp.current_process())
        print(f"{otp.current_process()}: Running a job (attempt {len(self.attempts)})")
        # rng.random() returns a value from 0 to 1 from a uniform distribution.
        if self.rng.random() > 0.7:
            raise RuntimeError("Job failure")
        return "Job result"

    def __repr__(self) -> str:
        return "flaky_job"


@dataclasses.dataclass(repr=False)
class DoomedJob:
    """A job that always fails."""

    attempts: int = 0

    async def __call__(self) -> str:
        self.attempts += 1
        print(f"{otp.current_process()}: Running a doomed job (attempt {self.attempts})")
        raise RuntimeError("Job failure, again")

    def __repr__(self) -> str:
        return "doomed_job"


# ----------------------------------------------------------------------------------------
# The story
# ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Story:
    """What happened, for the tests (the printed output tells the same)."""

    seed: int
    hello_tasks: int = 0
    tree: str = ""
    job_result: object = None
    temporary_runs: int = 0
    timeout_after: float = 0.0
    timeout_error: str = ""
    transient_attempts: int = 0
    transient_result: object = None
    intensity_exceeded: int = 0
    doomed_attempts: int = 0
    doomed_timeout_after: float = 0.0
    job_supervisor_restarted: bool = False


def hello() -> None:
    print("Hello from a task spawned dynamically under a supervisor")


async def part1_dynamic_supervision(nursery: trio.Nursery, story: Story) -> None:
    heading("1. Dynamic supervision")

    subheading("1a. A Supervisor with no children, and Supervisor.start_child")
    explain(
        """
        Supervisor.start(nursery, children) is Elixir's Supervisor.start_link: the
        supervisor is a process running in *your* nursery, so it cannot outlive the
        `async with` that opened it. Here it starts with no children at all.
        """
    )
    code("sup = await Supervisor.start(nursery, [])")
    sup = await Supervisor.start(nursery, [])
    print(f"sup = {sup}; children: {await Supervisor.which_children(sup)}")

    explain(
        """
        Task implements child_spec, so (Task, fn) is a child spec: the supervisor
        runs fn in a new process. Run it a few times:
        """
    )
    for _ in range(3):
        code("await Supervisor.start_child(sup, (Task, hello))")
        pid = await Supervisor.start_child(sup, (Task, hello))
        story.hello_tasks += 1
        print(f"started {pid}")
    print(f"children now: {await Supervisor.which_children(sup)}")
    explain(
        """
        Every (Task, fn) child has the id Task, and a static Supervisor allows one
        child per id. Starting another one works only because Task is *temporary*:
        once a task finishes, its spec is deleted. While one is still running, the id
        is taken:
        """
    )
    code("await Supervisor.start_child(sup, (Task, trio.sleep_forever))")
    print(f"started {await Supervisor.start_child(sup, (Task, trio.sleep_forever))}")
    code("await Supervisor.start_child(sup, (Task, trio.sleep_forever))")
    try:
        await Supervisor.start_child(sup, (Task, trio.sleep_forever))
    except otp.AlreadyStartedError as exc:
        print(f"AlreadyStartedError: {exc}")
    code("await Supervisor.stop(sup)   # shuts the sleeping task down first")
    await Supervisor.stop(sup)

    subheading("1b. The same with a DynamicSupervisor")
    explain(
        """
        A DynamicSupervisor starts with no children (it takes none at startup),
        its only strategy is one_for_one, and its children have no ids: they are
        addressed by their handle. It is the right tool when children come and go,
        especially many of them.
        """
    )
    code("ds = await DynamicSupervisor.start(nursery)")
    ds = await DynamicSupervisor.start(nursery)
    for _ in range(3):
        code("await DynamicSupervisor.start_child(ds, (Task, hello))")
        pid = await DynamicSupervisor.start_child(ds, (Task, hello))
        story.hello_tasks += 1
        print(f"started {pid}")
    explain("Two long-running tasks side by side are no problem here:")
    for _ in range(2):
        code("await DynamicSupervisor.start_child(ds, (Task, trio.sleep_forever))")
        print(f"started {await DynamicSupervisor.start_child(ds, (Task, trio.sleep_forever))}")
    code("await DynamicSupervisor.count_children(ds)")
    print(await DynamicSupervisor.count_children(ds))
    code("await DynamicSupervisor.stop(ds)")
    await DynamicSupervisor.stop(ds)


async def part2_job_queue(nursery: trio.Nursery) -> None:
    heading("2. Example: a job queue")
    explain(
        """
        JobQueue is a GenServer registered under its own class (its child_spec passes
        name=cls), so anyone can call it as JobQueue. schedule_job(job) is
        otp.call(JobQueue, ("schedule_job", job)). Its handle_call does not run the
        job: it starts (Task, run_job) under the DynamicSupervisor "JobSupervisor" and
        returns NoReply. run_job runs the job and answers the waiting caller with
        otp.reply(from_, result), from the task. (The restart type of the tasks is
        JobQueue's argument, and its state.)
        """
    )
    print()
    print(textwrap.dedent(inspect.getsource(JobQueue.handle_call)).rstrip())
    explain(
        """
        Both live under a top-level supervisor, my_app_supervisor (one_for_one). The
        start code stops a running my_app_supervisor first, so it can be re-run
        without a name conflict. Run it twice:
        """
    )
    print()
    print(inspect.getsource(start_my_app).rstrip())
    print()
    first: otp.Pid | None = None
    for _ in range(2):
        code("await start_my_app(nursery)")
        app = await start_my_app(nursery)
        print(f"-> {app} with {otp.whereis('JobSupervisor')} and {otp.whereis(JobQueue)}")
        if first is not None:
            print(f"(the first one, {first}, exited with reason {first.exit_reason!r})")
        first = app
    code('await Supervisor.which_children("my_app_supervisor")   # reverse start order')
    for info in await Supervisor.which_children("my_app_supervisor"):
        child_id = info.id.__name__ if isinstance(info.id, type) else repr(info.id)
        print(f"  {child_id}: {info.pid}, {info.type.value}")


async def part3_tree(story: Story) -> None:
    heading("3. The supervision tree")
    explain(
        """
        The job queue and the job supervisor run under a top-level supervisor, and
        every job runs in a task under JobSupervisor: a supervision tree. Nodes are
        supervisors, leaves are workers. With two slow jobs in flight,
        otp.render_tree draws it from the live supervisors:
        """
    )
    running, started = trio.open_memory_channel[int](2)

    def slow_job(n: int) -> Job:
        async def job() -> str:
            running.send_nowait(n)
            await trio.sleep(0.5)
            return f"slow job {n} done"

        return job

    async def schedule(n: int) -> None:
        print(f"slow job {n} -> {await JobQueue.schedule_job(slow_job(n))!r}")

    async with trio.open_nursery() as jobs:
        for n in (1, 2):
            jobs.start_soon(schedule, n)
        for _ in range(2):
            await started.receive()  # both jobs are running
        code('print(await otp.render_tree("my_app_supervisor"))')
        story.tree = await otp.render_tree("my_app_supervisor")
        print(story.tree)


async def run_until_timeout(job: FlakyJob, story: Story) -> None:
    """Re-run the flaky job (a new one each time) until a call times out."""
    for run in range(1, 101):
        story.temporary_runs = run
        job.attempts.clear()
        code(f"await JobQueue.schedule_job(flaky_job)   # run {run}")
        began = now()
        try:
            result = await JobQueue.schedule_job(job)
        except otp.CallTimeout as exc:
            story.timeout_after = now() - began
            story.timeout_error = str(exc)
            print(f"otp.CallTimeout after {story.timeout_after:.2f} s: {exc}")
            return
        print(repr(result))
    print("(no failure in 100 runs: an unlucky seed)")


async def part4_jobs(nursery: trio.Nursery, rng: random.Random, story: Story) -> None:
    heading("4. Running jobs")

    subheading("4a. A job that works")
    code("await JobQueue.schedule_job(simple_job)")
    began = now()
    story.job_result = await JobQueue.schedule_job(simple_job)
    print(f"{story.job_result!r}   (after {now() - began:.2f} s)")

    subheading("4b. A job that fails ~30% of the time (task spec: temporary)")
    explain(
        """
        Jobs like database queries can fail. This one raises RuntimeError("Job
        failure") when rng.random() > 0.7. Keep running it until it fails:
        """
    )
    queue, jobs_sup = otp.whereis(JobQueue), otp.whereis("JobSupervisor")
    await run_until_timeout(FlakyJob(rng), story)
    explain(
        """
        The task crashed (the ERROR report above, logged by trio_otp on the logger
        "trio_otp.task") and was not restarted, so nobody ever replied: the caller
        waited for call's default deadline, 5 s, and got otp.CallTimeout. Why wasn't
        the job restarted? Task.child_spec sets restart to *temporary*: a temporary
        child is never restarted. Nothing else was touched:
        """
    )
    print(f"JobSupervisor children: {await DynamicSupervisor.count_children('JobSupervisor')}")
    untouched = otp.whereis(JobQueue) is queue and otp.whereis("JobSupervisor") is jobs_sup
    print(f"{queue} and {jobs_sup} restarted? {'no, same pids' if untouched else 'yes'}")
    code("await JobQueue.schedule_job(simple_job)")
    print(repr(await JobQueue.schedule_job(simple_job)))

    subheading("4c. The fix: a transient task spec")
    explain(
        """
        In handle_call, build the task spec with
        Supervisor.child_spec((Task, run_job), restart="transient"): a transient
        child is restarted when it exits abnormally (an exception), and only then.
        Our JobQueue takes the restart type as its argument; re-run the start code
        with it:
        """
    )
    code('await start_my_app(nursery, job_restart="transient")')
    app = await start_my_app(nursery, job_restart="transient")
    print(f"-> {app} with {otp.whereis('JobSupervisor')} and {otp.whereis(JobQueue)}")
    explain("Now run the flaky job until it fails, and watch it being retried:")
    for run in range(1, 101):
        job = FlakyJob(rng)
        code(f"await JobQueue.schedule_job(flaky_job)   # run {run}")
        try:
            result = await JobQueue.schedule_job(job)
        except otp.CallTimeout as exc:
            # An unlucky streak: 4 crashes within 5 s (part 5 does it on purpose).
            story.intensity_exceeded += 1
            print(f"otp.CallTimeout: {exc}")
            print(
                "(4 crashes within 5 s: JobSupervisor gave up and my_app_supervisor "
                "restarted it; the job was lost. Part 5 shows this on purpose.)"
            )
            continue
        restarts = len(job.attempts) - 1
        print(f"{result!r}   ({len(job.attempts)} attempt(s), {restarts} restart(s))")
        if restarts:
            story.transient_attempts = len(job.attempts)
            story.transient_result = result
            print(f"the attempts ran in {', '.join(map(str, job.attempts))}")
            break
    explain(
        """
        Each restart is a new process running the same run_job closure, so it still
        holds the caller's from_ and its reply reaches the caller, which never saw
        the failures.
        """
    )


async def part5_epilogue(nursery: trio.Nursery, story: Story) -> None:
    heading("5. Epilogue: a job that always fails")
    explain(
        """
        Restarts are not free: a supervisor allows max_restarts=3 restarts within
        max_seconds=5, counted across all its children. A transient job that always
        fails runs 4 times; the 4th crash makes JobSupervisor give up and exit with
        reason "shutdown" (stopping its other children). my_app_supervisor, one_for_one,
        restarts JobSupervisor under the same name and leaves JobQueue alone. The
        caller's job is lost: it times out after 5 s. (A fresh my_app_supervisor
        first, so earlier restarts do not count.)
        """
    )
    code('await start_my_app(nursery, job_restart="transient")')
    await start_my_app(nursery, job_restart="transient")
    queue, jobs_sup = otp.whereis(JobQueue), otp.whereis("JobSupervisor")
    assert jobs_sup is not None
    doomed = DoomedJob()
    code("await JobQueue.schedule_job(doomed_job)")
    began = now()
    try:
        await JobQueue.schedule_job(doomed)
    except otp.CallTimeout as exc:
        story.doomed_timeout_after = now() - began
        print(f"otp.CallTimeout after {story.doomed_timeout_after:.2f} s: {exc}")
    story.doomed_attempts = doomed.attempts
    new_jobs_sup = otp.whereis("JobSupervisor")
    story.job_supervisor_restarted = new_jobs_sup is not None and new_jobs_sup != jobs_sup
    print(f"attempts: {doomed.attempts}")
    print(f"the old {jobs_sup} exited with reason {jobs_sup.exit_reason!r}")
    print(f"my_app_supervisor restarted it: JobSupervisor is now {new_jobs_sup}")
    print(f"JobQueue is still {otp.whereis(JobQueue)} (was {queue})")
    code("await JobQueue.schedule_job(simple_job)")
    print(repr(await JobQueue.schedule_job(simple_job)))


async def main(seed: int | None = None) -> Story:
    """Tell the whole story; return what happened (for the tests)."""
    if seed is None:
        seed = random.randrange(1_000_000)
    print(f"trio_otp {otp.__version__}: the job queue demo (seed {seed}; --seed {seed} replays it)")
    story = Story(seed)
    rng = random.Random(seed)
    began = now()
    async with trio.open_nursery() as nursery:
        await part1_dynamic_supervision(nursery, story)
        await part2_job_queue(nursery)
        await part3_tree(story)
        await part4_jobs(nursery, rng, story)
        await part5_epilogue(nursery, story)
        heading("The end")
        code('await Supervisor.stop("my_app_supervisor")')
        await Supervisor.stop("my_app_supervisor")
    virtual = isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
    print(f"done after {now() - began:.2f} s of {'virtual' if virtual else 'real'} time")
    return story


# ----------------------------------------------------------------------------------------
# Serve mode: the queue as a long-running program (python job_queue.py --serve)
# ----------------------------------------------------------------------------------------


class Shift(otp.GenServer[tuple[str, float]]):
    """A worker that says when it goes on duty and, on shutdown, drains for a while."""

    async def init(self, arg: tuple[str, float]) -> otp.Ok[tuple[str, float]]:
        print(f"{arg[0]}: on duty", flush=True)
        return otp.Ok(arg)

    async def terminate(self, reason: object, state: tuple[str, float]) -> None:
        name, drain = state
        print(f"{name}: terminate({reason!r}), draining for {drain:g} s", flush=True)
        await trio.sleep(drain)
        print(f"{name}: off duty", flush=True)


async def feed_jobs() -> None:
    """Schedule a job every second, for ever (a permanent Task: restarted if it dies)."""
    while True:
        result = await JobQueue.schedule_job(simple_job)
        print(f"feeder: job returned {result!r}", flush=True)
        await trio.sleep(1)


#: Seconds a report (a job of the production queue, otp.JobQueue) takes.
REPORT_SECONDS = 1.0


async def write_report(n: int) -> int:
    """A job that takes a while: the one in flight when SIGTERM comes is drained."""
    print(f"report {n}: started", flush=True)
    await trio.sleep(REPORT_SECONDS)
    print(f"report {n}: done", flush=True)
    return n


async def file_reports() -> None:
    """The producer: schedule one report after the other on the "reports" queue.

    It starts after the queue, so the shutdown stops it first: its ``schedule`` is
    cancelled, and the queue still finishes the report it accepted, within the
    queue's ``shutdown`` budget (the answer has nobody to go to and is dropped).
    """
    n = 0
    while True:
        n += 1
        filed = await otp.JobQueue.lookup("reports").schedule(write_report, n)
        print(f"reporter: report {filed} filed", flush=True)


def serve_children(drain: float) -> list[Any]:
    """The queue's tree in serve mode; each Shift's budget covers its drain."""

    def shift(name: str) -> otp.ChildSpec:
        return Supervisor.child_spec((Shift, (name, drain)), id=name, shutdown=drain + 5)

    return [
        (DynamicSupervisor, {"name": "JobSupervisor"}),
        (JobQueue, "transient"),
        shift("accounts"),
        shift("dispatcher"),
        Supervisor.child_spec((Task, feed_jobs), restart="permanent", id="feeder"),
        # The production queue, and a producer started after it (so stopped before it).
        (otp.JobQueue, {"name": "reports", "shutdown": REPORT_SECONDS + 4}),
        Supervisor.child_spec((Task, file_reports), restart="permanent", id="reporter"),
    ]


def serve(drain: float) -> int:
    """Run the tree through trio_otp.run_application until SIGTERM or Control-C.

    The first signal stops it in order (the reporter; the reports queue, which
    finishes the report in flight; the feeder; dispatcher, then accounts, each
    draining); a second one cancels the rest. The exit status is for the process
    manager.
    """
    logging.getLogger("trio_otp.application").setLevel(logging.INFO)
    print("serving: send SIGTERM or press Control-C to stop", flush=True)
    status: int = trio.run(
        functools.partial(otp.run_application, serve_children(drain), name="my_app_supervisor")
    )
    print(f"exit status {status}", flush=True)
    return status


# ----------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------


class CompactFormatter(logging.Formatter):
    """Crash reports with only the line that raised, not the whole traceback."""

    def __init__(self, full_tracebacks: bool = False) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.full_tracebacks = full_tracebacks

    def formatException(
        self,
        ei: tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None],
    ) -> str:
        if self.full_tracebacks:
            return super().formatException(ei)
        frames = traceback.extract_tb(ei[2])
        if not frames:
            return ""
        last = frames[-1]
        return f"    (raised at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"


def configure_logging(full_tracebacks: bool = False) -> None:
    """Crash reports go to stdout, in order with the story."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CompactFormatter(full_tracebacks))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    env_seed = os.environ.get("TRIO_OTP_DEMO_SEED")
    parser.add_argument(
        "--seed",
        type=int,
        default=int(env_seed) if env_seed else None,
        help="seed the job failures (default: $TRIO_OTP_DEMO_SEED, else random)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("TRIO_OTP_DEMO_FAST", "") not in ("", "0"),
        help="run on a virtual clock (default: $TRIO_OTP_DEMO_FAST, else real time)",
    )
    parser.add_argument(
        "--full-tracebacks", action="store_true", help="print whole tracebacks in crash reports"
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="run the queue as a program until SIGTERM/Control-C (exit status 0 if orderly)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=0.2,
        help="serve mode: seconds each worker drains in terminate (default 0.2)",
    )
    args = parser.parse_args(argv)
    configure_logging(args.full_tracebacks)
    if args.serve:
        return serve(args.drain)
    clock = trio.testing.MockClock(autojump_threshold=0) if args.fast else None
    trio.run(main, args.seed, clock=clock)
    return 0


if __name__ == "__main__":
    sys.exit(cli())

"""Supervised network connections (_behaviours/_tcp.py): serve_tcp and TCPHandler.

Real sockets on 127.0.0.1 and the real clock: autojump would jump the clock while
the kernel moves bytes (trio issue 456), so waits here are short and real, bounded
by ``fail_after``. The SIGTERM test runs examples/chat_server.py as a real
subprocess and sends it a real signal.
"""

from __future__ import annotations

import logging
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme

import trio_otp as otp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class Echo(otp.TCPHandler[int]):
    async def init(self, arg: Any) -> otp.Ok[int]:
        return otp.Ok(0)

    async def handle_data(self, data: bytes, count: int) -> Any:
        if data.startswith(b"crash"):
            raise RuntimeError("the handler has a bug")
        await self.send(data)
        return otp.NoReply(count + 1)

    async def handle_call(self, request: Any, from_: otp.From, count: int) -> Any:
        return otp.Reply(count, count)

    async def handle_info(self, message: Any, count: int) -> Any:
        await self.send(repr(message).encode() + b"\n")
        return otp.NoReply(count)


def port_of(listener: object) -> int:
    port: int = otp.listener_addresses(listener)[0][1]
    return port


async def connect(port: int) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", port)


async def receive_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


async def test_500_clients_every_message_delivered() -> None:
    """500 clients at once, 20 messages each, every byte echoed back to its sender."""
    spec = otp.serve_tcp(Echo, 0, host="127.0.0.1", name="echo")
    async with otp.Supervisor.open([spec]):
        port = port_of("echo")
        received: dict[int, bytes] = {}

        async def client(i: int) -> None:
            stream = await connect(port)
            async with stream:
                expected = b""
                for n in range(20):
                    message = f"client {i} message {n}\n".encode()
                    await stream.send_all(message)
                    expected += message
                    assert await receive_exactly(stream, len(message)) == message
                received[i] = expected

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for i in range(500):
                    nursery.start_soon(client, i)
        assert len(received) == 500


async def test_a_connection_has_a_mailbox_reached_by_call_send_and_registry_dispatch() -> None:
    """A connection's process answers calls, and a Registry dispatch reaches it."""

    class Member(Echo):
        async def init(self, arg: Any) -> otp.Ok[int]:
            otp.Registry.register("members", "all")
            return otp.Ok(0)

    children = [
        (otp.Registry, {"keys": "duplicate", "name": "members"}),
        otp.serve_tcp(Member, 0, host="127.0.0.1", name="members_listener"),
    ]
    async with otp.Supervisor.open(children):
        port = port_of("members_listener")
        streams = [await connect(port) for _ in range(3)]
        with trio.fail_after(10):
            for stream in streams:  # echoed: its init (which registers) has run
                await stream.send_all(b"one")
                assert await receive_exactly(stream, 3) == b"one"
            await streams[0].send_all(b"two")
            assert await receive_exactly(streams[0], 3) == b"two"
            otp.Registry.dispatch(
                "members", "all", lambda entries: [otp.send(p, ("news", 1)) for p, _ in entries]
            )
            for stream in streams:
                assert await receive_exactly(stream, 12) == b"('news', 1)\n"
            pids = [pid for pid, _ in otp.Registry.lookup("members", "all")]
            counts = sorted([await otp.call(pid, "count") for pid in pids])
            assert counts == [1, 1, 2]
        for stream in streams:
            await stream.aclose()


async def test_a_crashing_handler_is_reported_once_and_leaves_the_others_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One handler raises: one ERROR report (naming the class and the real error), its
    connection closes, the other connections and the listener go on."""
    caplog.set_level(logging.INFO, logger="trio_otp")
    async with otp.Supervisor.open([otp.serve_tcp(Echo, 0, host="127.0.0.1", name="e")]):
        port = port_of("e")
        with trio.fail_after(10):
            good, bad = await connect(port), await connect(port)
            await good.send_all(b"hi")
            assert await receive_exactly(good, 2) == b"hi"
            await bad.send_all(b"crash")
            assert await bad.receive_some(10) == b""  # closed by the crash
            await good.send_all(b"still")
            assert await receive_exactly(good, 5) == b"still"
            late = await connect(port)  # the listener still accepts
            await late.send_all(b"late")
            assert await receive_exactly(late, 4) == b"late"
        for stream in (good, bad, late):
            await stream.aclose()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert "Echo <Pid" in message.splitlines()[0]
    assert "** (RuntimeError) the handler has a bug" in message


async def test_max_connections_stops_accepting_and_drops_nobody() -> None:
    """With max_connections=2 a third client waits (unserved, not refused) until one
    of the first two closes; then it is served."""
    spec = otp.serve_tcp(Echo, 0, host="127.0.0.1", max_connections=2, name="small")
    async with otp.Supervisor.open([spec]):
        port = port_of("small")
        first, second = await connect(port), await connect(port)
        for stream in (first, second):
            await stream.send_all(b"x")
            with trio.fail_after(10):
                assert await receive_exactly(stream, 1) == b"x"
        third = await connect(port)  # the kernel completes the handshake: backlog
        await third.send_all(b"waiting")
        with trio.move_on_after(0.3) as waited:
            await third.receive_some(10)
        assert waited.cancelled_caught  # not served while two are open
        await first.aclose()
        with trio.fail_after(10):
            assert await receive_exactly(third, 7) == b"waiting"
        for stream in (second, third):
            await stream.aclose()


async def test_tls_connections_through_ssl_stream_with_trustme_certificates() -> None:
    """ssl_context= serves TLS (trio.SSLStream); a client that fails the handshake is
    a routine close, not a crash report."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    spec = otp.serve_tcp(Echo, 0, host="127.0.0.1", ssl_context=server_context, name="tls")
    async with otp.Supervisor.open([spec]):
        port = port_of("tls")
        with trio.fail_after(10):
            tcp = await connect(port)
            stream = trio.SSLStream(tcp, client_context, server_hostname="localhost")
            await stream.send_all(b"secret")
            assert await receive_exactly(stream, 6) == b"secret"
            await stream.aclose()
            # A plain-text client: the handshake fails on the server, quietly.
            plain = await connect(port)
            await plain.send_all(b"GET / HTTP/1.0\r\n\r\n")
            assert await plain.receive_some(100) == b""
            await plain.aclose()


async def test_orderly_stop_stops_accepting_then_gives_each_connection_its_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On stop the listener closes first (new clients refused), every connection's
    terminate runs (and may still write), and one stuck in handle_data is cancelled
    when its shutdown budget runs out; nothing is logged at ERROR."""
    terminated: list[object] = []

    class Polite(Echo):
        async def handle_data(self, data: bytes, count: int) -> Any:
            if data == b"hang":
                await trio.sleep_forever()
            return await super().handle_data(data, count)

        async def terminate(self, reason: object, count: int) -> None:
            terminated.append(reason)
            await self.send(b"bye")

    caplog.set_level(logging.INFO, logger="trio_otp")
    spec = otp.serve_tcp(Polite, 0, host="127.0.0.1", shutdown=0.5, name="polite")
    async with otp.Supervisor.open([spec]) as sup:
        port = port_of("polite")
        streams = [await connect(port) for _ in range(5)]
        for stream in streams:
            await stream.send_all(b"a")
            with trio.fail_after(10):
                assert await receive_exactly(stream, 1) == b"a"
        await streams[0].send_all(b"hang")
        await trio.sleep(0.05)
        began = trio.current_time()
        await otp.Supervisor.stop(sup)
        took = trio.current_time() - began
    assert 0.5 <= took < 3
    assert terminated == [otp.SHUTDOWN] * 4
    with trio.fail_after(10):
        assert await streams[0].receive_some(10) == b""  # cancelled: no goodbye
        for stream in streams[1:]:
            assert await receive_exactly(stream, 3) == b"bye"
            assert await stream.receive_some(10) == b""
    for stream in streams:
        await stream.aclose()
    with pytest.raises(OSError, match="connect"):
        await connect(port)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_serve_tcp_refuses_bad_arguments_with_what_to_do() -> None:
    """Each bad argument is refused when the spec is made, saying what is expected."""
    with pytest.raises(TypeError, match="TCPHandler subclass"):
        otp.serve_tcp(otp.GenServer, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"port must be an int in 0\.\.65535"):
        otp.serve_tcp(Echo, 70000)
    with pytest.raises(ValueError, match="max_connections must be an int >= 1"):
        otp.serve_tcp(Echo, 0, max_connections=0)
    with pytest.raises(TypeError, match=r"ssl_context must be an ssl\.SSLContext"):
        otp.serve_tcp(Echo, 0, ssl_context="cert.pem")  # type: ignore[arg-type]
    with pytest.raises(otp.ChildSpecError):
        otp.serve_tcp(Echo, 0, shutdown=-1)
    with pytest.raises(TypeError, match="plain def"):

        class Sync(otp.TCPHandler[None]):
            def handle_data(self, data, state):  # type: ignore[override]
                return otp.NoReply(state)


async def test_a_taken_port_is_a_start_error_that_says_so() -> None:
    """Listening on a port in use fails the start with the port and what to do."""
    async with otp.Supervisor.open([otp.serve_tcp(Echo, 0, host="127.0.0.1", name="a")]):
        port = port_of("a")
        with pytest.raises(otp.ChildStartError, match="could not listen"):
            async with otp.Supervisor.open([otp.serve_tcp(Echo, port, host="127.0.0.1")]):
                pass


def _sigterm_300_clients(argv: list[str], log: Any = None) -> tuple[int, float, list[bytes], str]:
    """Run a server (its first line: 'listening on 127.0.0.1:PORT'), connect 300
    clients, wait for each one's greeting, SIGTERM it, drain every client.

    Returns the exit status, the seconds from SIGTERM to the last client closed,
    what each client was told after its greeting, and the server's output (its
    stdout, or ``log``'s content when its log goes to that file).
    """
    proc = subprocess.Popen(
        [sys.executable, "-u", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if log is None else log,
        text=True,
        cwd=EXAMPLES.parent,
        env={"PYTHONPATH": str(EXAMPLES.parent), "PATH": "/usr/bin:/bin"},
    )
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:" in line, line + proc.stdout.read()
        port = int(line.rsplit(":", 1)[1])
        told: list[bytes] = []

        async def clients() -> float:
            streams = [await connect(port) for _ in range(300)]
            for stream in streams:
                assert (await stream.receive_some(100)).startswith(b"welcome")
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)

            async def drain(stream: trio.SocketStream) -> None:
                rest = b""
                while data := await stream.receive_some(1000):
                    rest += data
                told.append(rest)
                await stream.aclose()

            with trio.fail_after(20):
                async with trio.open_nursery() as nursery:
                    for stream in streams:
                        nursery.start_soon(drain, stream)
            return time.monotonic() - began

        took = trio.run(clients)
        output = proc.stdout.read()
        status = proc.wait(timeout=20)
        if log is not None:
            log.seek(0)
            output = log.read()
    finally:
        watchdog.cancel()
        proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
    return status, took, told, output


@pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")
def test_sigterm_closes_300_connections_within_the_budget_with_no_error_flood() -> None:
    """examples/chat_server.py --serve with 300 connected clients, stopped by SIGTERM:
    exit status 0, every client told and closed within the budget, no ERROR line."""
    argv = [str(EXAMPLES / "chat_server.py"), "--serve", "--port", "0", "--shutdown", "3"]
    status, took, told, output = _sigterm_300_clients(argv)
    assert status == 0, output
    assert took < 3 + 2, took
    assert told == [b"* server shutting down\n"] * 300
    assert "ERROR" not in output, output
    assert "Traceback" not in output, output
    assert "exit status 0" in output


@pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")
def test_an_orderly_stop_reports_a_childs_exit_during_shutdown_as_info_not_error(
    tmp_path: Path,
) -> None:
    """300 real connections of a hand-written server (a reader Task and a writer
    GenServer per connection, tests/_two_process_server.py), stopped by SIGTERM: the
    writers close their streams first, so each reader exits with ClosedResourceError
    during its supervisor's shutdown. That is the stop, not a crash (OTP's exit
    signal would have ended the reader at once): one INFO line each, no ERROR, no
    traceback, exit status 0."""
    with (tmp_path / "server.log").open("w+") as log:  # read at the end: no full pipe
        status, _, told, output = _sigterm_300_clients(
            [str(Path(__file__).parent / "_two_process_server.py")], log
        )
    assert status == 0, output
    assert told == [b"bye\n"] * 300
    assert "ERROR" not in output, output[:3000]
    assert "Traceback" not in output, output[:3000]
    during = [ln for ln in output.splitlines() if "while its supervisor shut down" in ln]
    assert len(during) == 300, output[:3000]
    assert all(ln.startswith("INFO trio_otp.task Task reader <Pid") for ln in during), during[:3]
    assert all("ClosedResourceError" in ln for ln in during), during[:3]

"""The serving event loop's poll-before-sleep (openenv_server.eventloop) and its settings."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from openenv_server import eventloop
from openenv_server.app import Settings, add_serve_arguments, settings_from_args, uvicorn_config
from openenv_server.eventloop import SpinThenBlockSelector, loop_factory


def quiet_others() -> float:
    return 0.0


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_it_polls_only_after_a_short_wait_and_sleeps_after_a_long_one(pair):
    a, b = pair
    sel = SpinThenBlockSelector(0.01, others=quiet_others)  # a wide window: robust on a loaded host
    sel.register(a, eventloop.selectors.EVENT_READ)
    b.send(b"x")
    assert sel.select(1.0) and sel.polls == 0  # no wait yet to judge by: plain select, data ready
    assert sel.last_wait < 0.01
    a.recv(1)
    start = time.perf_counter()
    assert sel.select(0.03) == []  # the last wait was short: poll for the window, then sleep
    assert time.perf_counter() - start >= 0.029
    assert sel.polls > 0 and sel.last_wait >= 0.029
    polls = sel.polls
    assert sel.select(0.005) == []  # the last wait was long (no fast client): sleep at once
    assert sel.polls == polls


def test_ready_work_never_polls_and_a_message_in_the_window_ends_the_poll(pair):
    a, b = pair
    sel = SpinThenBlockSelector(0.5, others=quiet_others)
    sel.register(a, eventloop.selectors.EVENT_READ)
    sel.last_wait = 0.0
    assert sel.select(0) == [] and sel.polls == 0
    b.send(b"x")
    ready = sel.select(None)  # polls and finds the message long before the 0.5 s window ends
    assert [key.fileobj for key, _ in ready] == [a]
    assert sel.polls >= 1 and sel.last_wait < 0.5


def test_other_threads_at_work_stop_the_polling_until_they_have_been_quiet(pair):
    a, _ = pair
    cpu = [0.0]
    sel = SpinThenBlockSelector(0.001, others=lambda: cpu[0])
    sel.register(a, eventloop.selectors.EVENT_READ)
    sel.last_wait = 0.0
    cpu[0] += 0.001  # another thread ran for 1 ms since the loop last waited
    assert sel.select(0.002) == []
    assert sel.polls == 0
    sel.last_wait = 0.0
    sel.others_busy_until = time.perf_counter() - 1  # quiet for the whole cooldown since
    assert sel.select(0.002) == []
    assert sel.polls > 0


def test_a_polling_loop_runs_io_and_timers_like_asyncios_own():
    selector = SpinThenBlockSelector(0.005, others=quiet_others)
    loop = asyncio.SelectorEventLoop(selector)

    handlers: list[asyncio.Task] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> list[bytes]:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        got = []
        for i in range(200):
            writer.write(f"m{i}\n".encode())
            got.append(await reader.readline())
            if i % 50 == 0:
                await asyncio.sleep(0.002)  # a timer in between: polls, then sleeps, then resumes
        writer.close()
        await writer.wait_closed()
        await asyncio.gather(*handlers)  # the server side sees the end of the stream and finishes
        server.close()
        await server.wait_closed()
        return got

    try:
        assert loop.run_until_complete(main()) == [f"M{i}\n".encode() for i in range(200)]
    finally:
        loop.close()
    assert selector.polls > 0


def test_spin_us_setting_flag_env_and_bounds():
    assert Settings.from_env({"GHOSTEXEC_SPIN_US": "0"}).spin_us == 0
    assert Settings.from_env({"GHOSTEXEC_SPIN_US": "400"}).spin_us == 400
    args = add_serve_arguments(__import__("argparse").ArgumentParser()).parse_args(["--spin-us", "125"])
    assert settings_from_args(args, {}).spin_us == 125
    for bad in ("-1", "10001"):
        with pytest.raises(ValueError, match=r"spin_us must be in 0\.\.10000"):
            Settings.from_env({"GHOSTEXEC_SPIN_US": bad})
    with pytest.raises(ValueError, match="GHOSTEXEC_SPIN_US='fast' is not a valid int"):
        Settings.from_env({"GHOSTEXEC_SPIN_US": "fast"})


def test_uvicorn_gets_its_own_loop_for_0_and_a_polling_loop_otherwise():
    assert uvicorn_config(None, Settings(spin_us=0)).loop == "auto"
    factory = uvicorn_config(None, Settings(spin_us=300)).get_loop_factory()
    loop = factory()
    try:
        assert isinstance(loop._selector, SpinThenBlockSelector)  # type: ignore[attr-defined]
        assert loop._selector.spin_s == pytest.approx(300e-6)  # type: ignore[attr-defined]
    finally:
        loop.close()
    assert loop_factory(0) == "auto"


def test_one_cpu_gets_no_polling_by_default(monkeypatch):
    monkeypatch.setattr(eventloop, "usable_cpus", lambda: 1)
    assert eventloop.default_spin_us() == 0
    assert Settings().spin_us == 0
    monkeypatch.setattr(eventloop, "usable_cpus", lambda: 2)
    if eventloop.sys.platform != "win32":
        assert eventloop.default_spin_us() == eventloop.DEFAULT_SPIN_US
        assert Settings().spin_us == eventloop.DEFAULT_SPIN_US


def test_a_negative_window_is_refused():
    with pytest.raises(ValueError, match="spin_s must be >= 0"):
        SpinThenBlockSelector(-1.0)


def test_other_threads_cpu_time_is_read_at_most_once_a_millisecond(pair):
    a, _ = pair
    reads = []
    sel = SpinThenBlockSelector(0.0001, others=lambda: reads.append(1) or 0.0)
    sel.register(a, eventloop.selectors.EVENT_READ)
    start = time.perf_counter()
    for _ in range(40):
        sel.select(0.0002)
    elapsed = time.perf_counter() - start
    assert 1 <= len(reads) - 1 <= elapsed / eventloop.OTHERS_SAMPLE_S + 1  # (one read at construction)

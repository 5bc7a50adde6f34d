"""A response body chunk's acknowledgement (serve/_app.py ``_Ack``): what an outgoing body
uses of a Future, completed by the event loop, waited on from the guest's thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

import pytest

from wasmforge.serve._app import _Ack, _Exchange


def test_a_callback_added_before_the_chunk_is_sent_runs_when_it_is():
    ack, seen = _Ack(), []
    ack.add_done_callback(lambda a: seen.append(a.exception()))
    assert not ack.done() and seen == []
    with pytest.raises(concurrent.futures.InvalidStateError):
        ack.exception()
    ack.set_result(None)
    assert ack.done() and seen == [None]
    ack.result()


def test_a_callback_added_after_runs_at_once_and_a_failure_is_seen():
    ack, seen = _Ack(), []
    error = ConnectionResetError("gone")
    ack.set_exception(error)
    ack.add_done_callback(lambda a: seen.append(a.exception()))
    assert seen == [error]
    with pytest.raises(ConnectionResetError):
        ack.result()
    with pytest.raises(concurrent.futures.InvalidStateError):
        ack.set_result(None)


def test_each_callback_runs_once_when_threads_race():
    # the guest's thread adds the callback while the event loop completes the chunk
    for _ in range(200):
        ack, seen = _Ack(), []
        t = threading.Thread(target=ack.set_result, args=(None,))
        t.start()
        ack.add_done_callback(seen.append)
        t.join()
        assert seen == [ack]


def test_a_worker_threads_messages_reach_the_loop_all_and_in_order():
    # the loop takes the outbox while the thread puts more: none lost, none reordered
    loop = asyncio.new_event_loop()
    try:
        ex = _Exchange(loop, None)
        n = 2000

        def guest():
            for i in range(n):
                ex.finish([("i", str(i).encode())])
            ex.done(None)
        got = []

        async def take():
            t = threading.Thread(target=guest)
            t.start()
            while True:
                kind, arg = await ex.next(time.monotonic() + 10)
                if kind == "done":
                    break
                got.append(int(arg[0][1]))
            t.join()
        loop.run_until_complete(take())
        assert got == list(range(n))
    finally:
        loop.close()


def test_chunks_put_after_the_loop_closed_fail_even_with_a_hand_over_pending():
    # the loop closed before the hand-over it was given ran: that chunk and every later one
    # fail (a guest waiting for its window to free would otherwise wait forever)
    loop = asyncio.new_event_loop()
    ex = _Exchange(loop, None)
    first = ex.push(b"a")
    assert not first.done()
    loop.close()
    second = ex.push(b"b")
    for ack in (first, second):
        assert ack.done() and isinstance(ack.exception(), ConnectionResetError)
    assert ex.broken
    third = ex.push(b"c")
    assert isinstance(third.exception(), ConnectionResetError)

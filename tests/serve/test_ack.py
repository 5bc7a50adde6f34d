"""A response body chunk's acknowledgement (serve/_app.py ``_Ack``): what an outgoing body
uses of a Future, completed by the event loop, waited on from the guest's thread."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from wasmforge.serve._app import _Ack


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

"""Helpers and fixtures shared by the rig hardware-layer tests; test files import what they use from here."""
from __future__ import annotations

import socket

import numpy as np
import pytest
import zmq

from rig.drivers.null_slm import NullSLM
from rig.slm_server import SlmServer
from rig.wire.client import SlmClient

SLM_SHAPE = (24, 40)


def free_loopback_endpoint() -> str:
    """``tcp://127.0.0.1:PORT`` with a port that was free a moment ago.

    A plain socket, not a ZMQ one: ZMQ closes sockets asynchronously in its I/O thread, so a port probed with
    ``bind_to_random_port`` and closed may still be bound when the code under test binds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


class RecordingSLM(NullSLM):
    """A NullSLM that also counts load calls, and can be told to fail (a driver error)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.load_calls = 0
        self.fail_show = False

    def load_masks(self, levels):
        self.load_calls += 1
        super().load_masks(levels)

    def show(self, index):
        if self.fail_show:
            raise OSError("pretend DMA failure")
        return super().show(index)


@pytest.fixture
def context():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def slm_server(context):
    """(server, slm, client) with the server serving in a thread; stopped at teardown."""
    slm = RecordingSLM(SLM_SHAPE, bit_depth=8)
    server = SlmServer(slm, "tcp://127.0.0.1:*", context=context)
    thread = server.start_thread()
    client = SlmClient(server.endpoint, timeout_s=5.0, context=context)
    yield server, slm, client
    server.stop()
    thread.join(timeout=5)
    client.close()
    assert not thread.is_alive(), "the server thread did not stop"


@pytest.fixture
def masks():
    return np.random.default_rng(7).integers(0, 256, (4, *SLM_SHAPE), dtype=np.uint8)

"""Imaging bridge for ScanImage: frames and acquisition events arrive over ZMQ from a ScanImage user function.

ScanImage (MATLAB) runs ``rig/drivers/matlab/holostim_scanimage_userfcn.m`` as a user function on the events
``acqModeStart``, ``acqStart``, ``frameAcquired``, ``acqDone`` and ``acqModeDone``. It binds a PUB socket at the
rig's ``zmq.imaging`` endpoint and publishes, in the framing of :mod:`rig.wire.framing`,

* per acquired frame and channel: an :class:`~rig.wire.messages.ImagingFrame` and the image's raw buffer;
* per other event: an :class:`~rig.wire.messages.ImagingEvent`.

This bridge subscribes (it connects; ``bind=True`` reverses the roles), turns frames into
:class:`rig.hardware.Frame` records, counts frames lost on the way from gaps in ScanImage's frame counter, keeps
a running mean of red-channel frames per plane (for finding red nuclei), and drops malformed messages with a
warning rather than stopping.
"""
from __future__ import annotations

import collections
import logging
import time
from typing import Callable, Optional, Union

import numpy as np
import zmq

from rig.hardware.errors import HardwareError
from rig.hardware.frames import Frame
from rig.wire import framing, messages as m
from rig.wire.errors import WireError

log = logging.getLogger(__name__)


class ScanImageBridge:
    """A :class:`rig.hardware.ImagingSource` fed by ScanImage over ZMQ.

    Parameters
    ----------
    endpoint : the ScanImage user function's PUB endpoint (``zmq.imaging`` of the rig profile).
    functional_channel : ScanImage channel of the calcium indicator (1-based).
    red_channel : ScanImage channel of the red nuclear marker (1-based), or None.
    bind : bind instead of connect (when ScanImage connects to this computer).
    on_event : called with each :class:`~rig.wire.messages.ImagingEvent` as it arrives.
    """

    def __init__(self, endpoint: str, functional_channel: int = 1, red_channel: Optional[int] = 2,
                 bind: bool = False, context: Optional[zmq.Context] = None,
                 on_event: Optional[Callable[[m.ImagingEvent], None]] = None,
                 clock: Callable[[], float] = time.monotonic, max_events: int = 10_000):
        self.functional_channel = int(functional_channel)
        self.red_channel = red_channel
        self._on_event = on_event
        self._clock = clock
        self._socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SUBSCRIBE, b"")
        (self._socket.bind if bind else self._socket.connect)(endpoint)
        self.endpoint = self._socket.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.events: collections.deque = collections.deque(maxlen=max_events)
        self.frames_received = 0
        self.dropped_frames = 0
        self.rejected_messages = 0
        self._last_counter: dict[int, int] = {}
        self._red_sum: dict[int, np.ndarray] = {}
        self._red_count: dict[int, int] = {}

    def poll(self, timeout_s: float) -> Union[Frame, m.ImagingEvent, None]:
        """The next message as a Frame or an ImagingEvent, or None after ``timeout_s`` or for a malformed one."""
        if not self._socket.poll(int(max(timeout_s, 0) * 1000), zmq.POLLIN):
            return None
        parts = self._socket.recv_multipart(copy=False)
        received_s = self._clock()
        try:
            message, arrays = framing.decode(parts)
            item = m.parse(m.ImagingMessage, message)
            if isinstance(item, m.ImagingFrame):
                if len(arrays) != 1 or arrays[0].ndim != 2:
                    raise WireError("an imaging_frame carries exactly one 2-D image", "invalid")
                return self._frame(item, arrays[0], received_s)
            if arrays:
                raise WireError("an imaging_event carries no arrays", "invalid")
        except WireError as err:
            self.rejected_messages += 1
            log.warning("dropped a malformed imaging message: %s", err)
            return None
        self._event(item)
        return item

    def next_frame(self, timeout_s: float) -> Optional[Frame]:
        """The next functional-channel frame within ``timeout_s`` (red frames and events are taken in passing)."""
        deadline = self._clock() + timeout_s
        while True:
            item = self.poll(max(deadline - self._clock(), 0.0))
            if isinstance(item, Frame) and item.channel == self.functional_channel:
                return item
            if item is None and self._clock() >= deadline:
                return None

    def red_image(self, plane: int = 0) -> np.ndarray:
        """Mean of the red-channel frames of ``plane`` received so far, float32 (rows, cols)."""
        if self._red_count.get(plane, 0) == 0:
            raise HardwareError(f"no red-channel frames of plane {plane} received; acquire ScanImage channel "
                                f"{self.red_channel} (the nuclear marker) with the user function running")
        return (self._red_sum[plane] / self._red_count[plane]).astype(np.float32)

    def close(self) -> None:
        self._socket.close(linger=0)

    # ------------------------------------------------------------------------------------------------ internals
    def _frame(self, header: m.ImagingFrame, image: np.ndarray, received_s: float) -> Frame:
        self.frames_received += 1
        last = self._last_counter.get(header.channel)
        if last is not None and header.counter > last + 1:
            self.dropped_frames += header.counter - last - 1
            log.warning("channel %d: %d frame(s) lost before frame %d", header.channel, header.counter - last - 1,
                        header.counter)
        self._last_counter[header.channel] = header.counter
        if self.red_channel is not None and header.channel == self.red_channel:
            self._accumulate_red(header.plane, image)
        return Frame(counter=header.counter, timestamp_s=header.timestamp_s, received_s=received_s,
                     plane=header.plane, channel=header.channel, image=image, z_um=header.z_um)

    def _accumulate_red(self, plane: int, image: np.ndarray) -> None:
        total = self._red_sum.get(plane)
        if total is None or total.shape != image.shape:
            self._red_sum[plane] = image.astype(np.float64)
            self._red_count[plane] = 1
        else:
            total += image
            self._red_count[plane] += 1

    def _event(self, event: m.ImagingEvent) -> None:
        if event.name == "acqModeStart":
            self._last_counter.clear()
        self.events.append(event)
        if self._on_event is not None:
            self._on_event(event)

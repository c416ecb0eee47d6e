"""The rig's ZMQ wire format: message models, multipart framing of arrays, heartbeats, and clients."""
from rig.wire.errors import WireError
from rig.wire.framing import decode, encode
from rig.wire.heartbeat import HeartbeatMonitor, laser_off_then_pause

__all__ = ["HeartbeatMonitor", "WireError", "decode", "encode", "laser_off_then_pause"]

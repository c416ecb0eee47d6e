"""``holostim slm-server`` (the process that owns the SLM, :mod:`rig.slm_server`) and ``holostim controller``
(the session command server, :mod:`rig.controller`)."""
from __future__ import annotations

import argparse
import logging
import signal

from pydantic import ValidationError

from rig.config import ConfigError, format_validation_error, load_rig
from rig.drivers.factory import SLM_DRIVERS, open_slm
from rig.slm_server import SlmServer

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "slm-server", help="run the SLM server: hold the session's masks, switch on command",
        description="Own the SLM of a rig profile and serve it over ZMQ until a 'shutdown' message, SIGINT "
                    "or SIGTERM. Prints the bound endpoint on stdout.")
    parser.add_argument("--rig", required=True, help="rig profile YAML (its slm and zmq sections are used)")
    parser.add_argument("--endpoint", help="endpoint to bind (default: the profile's zmq.slm_server; "
                                           "tcp://127.0.0.1:* picks a free port)")
    parser.add_argument("--driver", choices=SLM_DRIVERS, default="auto",
                        help="SLM driver (default 'auto': the profile's slm.driver; 'null' records masks only)")
    parser.set_defaults(func=_slm_server)

    ctl = subparsers.add_parser(
        "controller", help="run the controller: start, pause, resume and abort sessions on command",
        description="Serve session commands (start, status, pause, resume, abort, ping, shutdown) as JSON "
                    "request/reply on the profile's zmq.controller and publish events and progress on "
                    "zmq.events, until a 'shutdown' message, SIGINT or SIGTERM (a running session is stopped "
                    "safely first). Prints the bound endpoints on stdout.")
    ctl.add_argument("--rig", required=True, help="rig profile YAML the sessions run on")
    ctl.add_argument("--endpoint", help="command endpoint to bind (default: the profile's zmq.controller; "
                                        "tcp://127.0.0.1:* picks a free port)")
    ctl.add_argument("--events", help="event endpoint to bind (default: the profile's zmq.events)")
    ctl.set_defaults(func=_controller)


def _check_endpoint(rig, endpoint: str, field: str = "slm_server", option: str = "--endpoint") -> None:
    """An endpoint given on the command line obeys the profile's loopback rule too."""
    model = type(rig.zmq)
    try:
        model.model_validate({**rig.zmq.model_dump(), field: endpoint.replace(":*", ":1")})
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, model, f"{option} {endpoint}")) from None


def serve_until_stopped(server, name: str, listening: str) -> int:
    """Run ``server.serve()`` until a ``shutdown`` message, SIGINT or SIGTERM (which call ``server.stop()``)."""
    previous = {sig: signal.signal(sig, lambda *_: server.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"{name} listening on {listening}", flush=True)
        server.serve()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"{name} stopped", flush=True)
    return 0


def _slm_server(args: argparse.Namespace) -> int:
    rig = load_rig(args.rig)
    endpoint = args.endpoint or rig.zmq.slm_server
    _check_endpoint(rig, endpoint)
    slm = open_slm(rig, args.driver)
    try:
        server = SlmServer(slm, endpoint)
        return serve_until_stopped(server, "slm-server", server.endpoint)
    finally:
        slm.close()


def _controller(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rig.controller import Controller

    rig = load_rig(args.rig)
    endpoint = args.endpoint or rig.zmq.controller
    events = args.events or rig.zmq.events
    _check_endpoint(rig, endpoint, "controller")
    _check_endpoint(rig, events, "events", "--events")
    import zmq
    try:
        controller = Controller(rig, Path(args.rig).read_text(encoding="utf-8"), endpoint, events)
    except zmq.ZMQError as err:
        raise ConfigError(f"cannot bind {endpoint} / {events}: {err}; is another controller running? "
                          f"Pick other endpoints with --endpoint/--events") from None
    return serve_until_stopped(controller, "controller",
                               f"{controller.endpoint} events on {controller.events_endpoint}")

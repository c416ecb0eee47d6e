"""Message fuzz: 10,000 random and malformed messages to the controller. Every one gets an error reply, none
starts or changes a session, and the controller still answers ping and status after."""
from __future__ import annotations

import json

import numpy as np
import pytest
import zmq

from rig.config import load_rig
from rig.controller import MAX_REQUEST_BYTES, Controller
from rig.wire import framing, messages as m
from rig.wire import controller_messages as cm
from rig.wire.client import PeerTimeout, ReqClient
from rig.wire.framing import MAX_JSON_BYTES

N_MESSAGES = 10_000


def _j(obj) -> bytes:
    return json.dumps(obj).encode()


@pytest.fixture
def controller(tmp_path, repo_root):
    started = []

    def never(*args, **kwargs):  # a fuzz message must never start a session
        started.append((args, kwargs))
        return {}

    rig = load_rig(repo_root / "configs/rig/sim.yaml")
    ctl = Controller(rig, "", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", runners=(never, never), base_dir=tmp_path)
    thread = ctl.start_thread()
    (tmp_path / "exists.h5").write_bytes(b"")
    yield ctl, started
    ctl.stop()
    thread.join(timeout=10)


def _fuzz_cases(rng: np.random.Generator, protocol_path: str):
    """Generators of invalid requests, each a list of parts. None of them may be accepted in the idle state."""

    def random_bytes():
        return [rng.bytes(int(rng.integers(0, 300)))]

    def random_parts():
        return [rng.bytes(int(rng.integers(0, 60))) for _ in range(int(rng.integers(2, 6)))]

    def random_json_value():
        return [_j([None, 1, "x", [1, 2], 2.5, True][int(rng.integers(0, 6))])]

    def no_type():
        return [_j({"seed": int(rng.integers(0, 9)), "out": "a.h5"})]

    def unknown_type():
        return [_j({"type": "".join(rng.choice(list("abcdefxyz_"), int(rng.integers(1, 12))))})]

    def type_not_a_string():
        return [_j({"type": [None, 3, 2.5, ["start"], {"a": "start"}, True][int(rng.integers(0, 6))]})]

    def slm_request_here():
        return [_j({"type": ["show", "load_masks", "heartbeat"][int(rng.integers(0, 3))], "index": 0})]

    def reply_as_request():
        return [[m.Pong(server_s=1.0), cm.Accepted(request_type="x", state="idle"),
                 cm.SessionStatus(state="idle")][int(rng.integers(0, 3))].to_json()]

    def start_missing_fields():
        full = {"type": "start", "protocol_path": protocol_path, "out": "new.h5"}
        drop = ["out", "protocol_path"][int(rng.integers(0, 2))]
        return [_j({k: v for k, v in full.items() if k != drop})]

    def start_both_protocols():
        return [_j({"type": "start", "protocol_path": protocol_path, "protocol": {"name": "x"}, "out": "n.h5"})]

    def start_wrong_types():
        field = ["seed", "out", "dry_run", "protocol_path", "overwrite", "protocol"][int(rng.integers(0, 6))]
        text = "" if field in ("out", "protocol_path") else "3"      # a string is right for those two
        bad = [text, 3.5, None, [1], {"a": 1}, -1, 2**60][int(rng.integers(0, 7))]
        msg = {"type": "start", "protocol_path": protocol_path, "out": "n.h5", field: bad}
        if field == "protocol":
            msg.pop("protocol_path")
        return [_j(msg)]

    def start_bad_inline_protocol():
        protocol = [{"name": ""}, {"tuning": {"repetitions": -1}}, {"stimulation": "fast"},
                    {"kind": "rig"}, {"unknown_section": 1}][int(rng.integers(0, 5))]
        return [_j({"type": "start", "protocol": protocol, "out": "n.h5"})]

    def start_missing_protocol_file():
        return [_j({"type": "start", "protocol_path": f"missing_{int(rng.integers(0, 10**6))}.yaml", "out": "n.h5"})]

    def start_real_run_on_sim_rig():
        return [_j({"type": "start", "protocol_path": protocol_path, "out": "n.h5", "dry_run": False})]

    def start_existing_out():
        return [_j({"type": "start", "protocol_path": protocol_path, "out": "exists.h5"})]

    def command_in_wrong_state():
        return [_j({"type": ["pause", "resume", "abort"][int(rng.integers(0, 3))]})]

    def extra_field():
        return [_j({"type": ["ping", "status", "pause", "shutdown"][int(rng.integers(0, 4))],
                    "force": True})]

    def nan_literal():
        return [b'{"type": "ping", "seq": NaN}']

    def huge_json():
        return [b'{"type": "ping", "pad": "' + b"x" * (MAX_JSON_BYTES + int(rng.integers(1, 1000))) + b'"}']

    def huge_part():
        return [_j({"type": "ping"}), _j({"arrays": [{"dtype": "|u1", "shape": [10]}]}),
                b"\0" * int(rng.integers(1_000_000, 4_000_000))]

    def deep_nesting():
        depth = int(rng.integers(1000, 100_000))
        return [b'{"type": "start", "protocol": ' + b"[" * depth + b"]" * depth + b"}"]

    def truncated_json():
        raw = cm.Start(protocol_path=protocol_path, out="n.h5").to_json()
        return [raw[: int(rng.integers(0, len(raw) - 1))]]

    def arrays_on_a_command():
        return framing.encode(m.Ping().to_json(), [np.zeros(int(rng.integers(1, 9)), np.float32)])

    def bad_array_header():
        return [_j({"type": "status"}), rng.bytes(20), b"\0" * 4]

    def not_utf8():
        return [b'{"type": "\xff\xfe"}']

    return [random_bytes, random_parts, random_json_value, no_type, unknown_type, type_not_a_string,
            slm_request_here, reply_as_request, start_missing_fields, start_both_protocols, start_wrong_types,
            start_bad_inline_protocol, start_missing_protocol_file, start_real_run_on_sim_rig, start_existing_out,
            command_in_wrong_state, extra_field, nan_literal, huge_json, huge_part, deep_nesting, truncated_json,
            arrays_on_a_command, bad_array_header, not_utf8]


def test_ten_thousand_malformed_messages_get_error_replies_and_the_controller_stays_up(controller, repo_root):
    ctl, started = controller
    rng = np.random.default_rng(7)
    cases = _fuzz_cases(rng, str(repo_root / "configs/protocols/quick.yaml"))
    weights = np.ones(len(cases))
    for i, case in enumerate(cases):
        if case.__name__ in ("huge_json", "huge_part", "deep_nesting", "start_bad_inline_protocol",
                             "start_real_run_on_sim_rig", "start_existing_out"):
            weights[i] = 0.1          # big or slow to validate: fewer of them
    weights /= weights.sum()
    kinds: dict[str, int] = {}
    with ReqClient(ctl.endpoint, timeout_s=10) as client:
        for k in range(N_MESSAGES):
            case = cases[int(rng.choice(len(cases), p=weights))]
            reply = m.parse(cm.ControllerReply, client.request_parts(case())[0])
            assert isinstance(reply, m.ErrorReply), (case.__name__, reply)
            assert reply.message
            kinds[case.__name__] = kinds.get(case.__name__, 0) + 1
        assert set(kinds) == {c.__name__ for c in cases}            # every kind of bad message was sent
        assert ctl.errors == N_MESSAGES
        assert not started                                           # nothing started a session
        assert m.parse(cm.ControllerReply, client.request_parts([m.Ping(seq=9).to_json()])[0]).seq == 9
        status = m.parse(cm.ControllerReply, client.request_parts([m.Status().to_json()])[0])
        assert isinstance(status, cm.SessionStatus) and status.state == "idle"


def test_error_kinds_say_what_was_wrong(controller):
    ctl, _ = controller
    with ReqClient(ctl.endpoint, timeout_s=10) as client:
        def ask(parts):
            return m.parse(cm.ControllerReply, client.request_parts(parts)[0])

        assert ask([b"\x00garbage"]).error == "malformed"
        unknown = ask([_j({"type": "launch"})])
        assert unknown.error == "unknown_type" and "start" in unknown.message and "abort" in unknown.message
        invalid = ask([_j({"type": "start", "out": "x.h5"})])
        assert invalid.error == "invalid" and invalid.request_type is None
        state = ask([_j({"type": "pause"})])
        assert state.error == "invalid" and state.request_type == "pause" and "idle" in state.message


def test_a_part_over_the_size_limit_drops_that_peer_but_not_the_controller(controller):
    ctl, _ = controller
    with ReqClient(ctl.endpoint, timeout_s=1) as client:
        with pytest.raises(PeerTimeout):
            client.request_parts([b"x" * (MAX_REQUEST_BYTES + 1)])
    with ReqClient(ctl.endpoint, timeout_s=10) as client:
        reply = m.parse(cm.ControllerReply, client.request_parts([m.Ping(seq=1).to_json()])[0])
        assert isinstance(reply, m.Pong) and reply.seq == 1


def test_binding_a_taken_endpoint_fails_without_leaking_sockets(controller, repo_root):
    ctl, _ = controller
    rig = load_rig(repo_root / "configs/rig/sim.yaml")
    with pytest.raises(zmq.ZMQError):
        Controller(rig, "", ctl.endpoint, "tcp://127.0.0.1:*")

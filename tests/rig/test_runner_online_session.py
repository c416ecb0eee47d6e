"""A whole dry run with the online analysis and the SLM server in child processes (``--online process --slm
process``, the defaults) writes the same session file as one with the pipelines and the SLM server in the runner's
process (``--online inline --slm server``): trial tables, responses, traces, every stage's results. Only the
recorded links differ (``meta/extra_json``)."""
import json
import subprocess
import sys

import pytest

from rig.config import load_protocol, load_rig
from rig.runner import Progress, start_session
from rig.runner import online_link
from runner_testing import SEED, datasets, same, write_protocol, write_rig

pytestmark = pytest.mark.slow


def test_process_and_inline_online_analysis_write_the_same_session(tmp_path, repo_root, monkeypatch):
    rig_path, protocol_path = write_rig(tmp_path, repo_root), write_protocol(tmp_path)
    inline_out, process_out = tmp_path / "inline.h5", tmp_path / "process.h5"
    # the inline run in another process, in parallel (2 cores)
    cmd = [sys.executable, "-m", "rig.cli", "-q", "dry-run", "--rig", str(rig_path), "--protocol",
           str(protocol_path), "--seed", str(SEED), "--out", str(inline_out), "--no-progress", "--online", "inline",
           "--slm", "server"]
    inline = subprocess.Popen(cmd, cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    children = []
    original = online_link.OnlineChild.__init__

    def recording(self):
        original(self)
        children.append(self)

    monkeypatch.setattr(online_link.OnlineChild, "__init__", recording)
    try:
        summary = start_session(process_out, rig=load_rig(rig_path), protocol=load_protocol(protocol_path),
                                seed=SEED, rig_text=rig_path.read_text(), protocol_text=protocol_path.read_text(),
                                progress=Progress(enabled=False))
        _, err = inline.communicate(timeout=300)
    finally:
        if inline.poll() is None:
            inline.kill()
    assert inline.returncode == 0, err.decode()[-2000:]
    assert summary["ensembles"] == 3
    # one child served the session and was stopped when it ended
    assert len(children) == 1 and children[0].proc.poll() == 0

    a, b = datasets(process_out), datasets(inline_out)
    assert a.keys() == b.keys()
    assert {"trials/table", "trials/response", "traces/plane0/F", "traces/plane2/neuropil", "traces/plane1/shift_px",
            "power_test/response", "tuning/mean"} <= a.keys()
    different = [name for name in a if not same(a[name], b[name])]
    assert different == ["meta/extra_json"], different
    links = [json.loads(d["meta/extra_json"]) for d in (a, b)]
    assert [(k["online_link"], k["slm_link"]) for k in links] == [("process", "process"), ("inline", "server")]

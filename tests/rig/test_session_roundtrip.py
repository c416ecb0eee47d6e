"""A session written through every writer call reads back exactly, as typed objects."""
import numpy as np
import pytest

from rig.config import load_protocol, load_rig
from rig.session import InvalidFlag, SessionError, SessionReader, SessionWriter

RIG = "configs/rig/sim.yaml"
PROTOCOL = "configs/protocols/oldenburg2024.yaml"


@pytest.fixture()
def configs(repo_root):
    rig = load_rig(repo_root / RIG).model_copy(update={})
    rig.slm.shape = (48, 80)  # small masks keep the test fast; the layout follows the rig's SLM shape
    return rig, load_protocol(repo_root / PROTOCOL), (repo_root / RIG).read_text()


def _write_session(path, rig, protocol, rig_text, rng):
    n = 40
    data = {
        "ids": np.arange(n) * 3 + 7,
        "pos": rng.normal(0, 200, (n, 3)).astype(np.float32),
        "plane": rng.integers(0, 3, n),
        "pixel_rc": rng.uniform(0, 512, (n, 2)).astype(np.float32),
        "red": rng.random(n).astype(np.float32),
        "masks": [(rng.choice(512 * 512, 30, replace=False), rng.random(30).astype(np.float32)) for _ in range(n)],
        "powers": protocol.power_test.powers_mw,
        "pt_response": rng.random((n, len(protocol.power_test.powers_mw))).astype(np.float32),
        "stimmable": np.where(rng.random(n) < 0.8, rng.choice(protocol.power_test.powers_mw, n), np.nan),
        "mean": rng.random((n, 8)).astype(np.float32),
        "sem": rng.random((n, 8)).astype(np.float32) * 0.1,
        "po": rng.choice(np.arange(0, 360, 45), n).astype(np.float32),
        "osi": rng.random(n).astype(np.float32),
        "gosi": rng.random(n).astype(np.float32),
        "responsive": rng.random(n) < 0.5,
        "p": rng.random(n).astype(np.float32),
        "phase": [rng.uniform(0, 2 * np.pi, rig.slm.shape).astype(np.float32) for _ in range(3)],
    }
    data["ensembles"] = [{"cells": data["ids"][i * 10:(i + 1) * 10], "power_mw": rng.uniform(20, 110, 10),
                          "spatial": "compact", "tuning": "cotuned", "target_orientation_deg": 45.0 * i,
                          "orientation_deg": 45.0 * i + 3, "spread_um": 150.0 + i, "ensemble_osi": 0.8,
                          "mean_osi": 0.6} for i in range(3)]
    with SessionWriter.create(path, rig=rig, protocol=protocol, seed=11, rig_text=rig_text,
                              protocol_text="name: p\n") as w:
        w.write_cells(data["ids"], data["pos"], data["plane"], pixel_rc=data["pixel_rc"], red=data["red"],
                      masks=data["masks"], t_s=1.0)
        w.write_calibration({"kind": "poly3", "coef": [[1.0, 2.0], [3.0, 4.0]]}, np.array([0.2, 0.4]), t_s=2.0)
        w.write_power_test(data["powers"], data["pt_response"], data["stimmable"], t_s=3.0)
        w.write_tuning(directions_deg=protocol.tuning.directions_deg, mean=data["mean"], sem=data["sem"],
                       po_deg=data["po"], osi=data["osi"], gosi=data["gosi"], responsive=data["responsive"],
                       p_anova=data["p"], blank_mean=np.zeros(n), t_s=4.0)
        w.write_ensembles(data["ensembles"], t_s=5.0)
        for i, phase in enumerate(data["phase"]):
            assert w.append_hologram(phase, ensemble=i, n_targets=10, laser_power_mw=500.0 + i,
                                     efficiency=0.8, uniformity=0.97) == i
        w.mark_stage("holograms", t_s=6.0)
        frame = 0
        data["F"] = {p: [] for p in range(3)}
        for k in range(12):
            for p in range(3):
                m = int((data["plane"] == p).sum())
                F = rng.random((5, m)).astype(np.float32)
                data["F"][p].append(F)
                w.append_frames(p, F, F / 2, np.arange(frame, frame + 5), np.arange(frame, frame + 5) / 6.0,
                                np.full((5, 2), 0.25))
            w.append_event("photostim_on", k * 2.0, frame=frame + 2, trial=k, value=k % 3, detail="ens")
            w.append_behaviour(k * 2.0, frame, 1.5 * k)
            flags = InvalidFlag.RUNNING | InvalidFlag.MOTION if k == 4 else 0
            assert w.append_trial({"block": "stim", "condition": "ensemble", "ensemble": k % 3, "hologram": k % 3,
                                   "t_scheduled_s": k * 2.0, "t_start_s": k * 2.0 + 0.001, "t_end_s": k * 2 + 1,
                                   "frame_start": frame, "frame_end": frame + 5, "valid": flags == 0,
                                   "invalid_flags": int(flags), "max_running_cm_s": 1.5 * k},
                                  np.full(n, k, np.float32)) == k
            frame += 5
        w.mark_stage("stimulation", t_s=30.0)
    return data


def test_round_trip_is_exact(tmp_path, configs):
    rig, protocol, rig_text = configs
    path = tmp_path / "s.h5"
    data = _write_session(path, rig, protocol, rig_text, np.random.default_rng(0))
    with SessionReader(path) as r:
        assert r.closed_cleanly and r.seed == 11
        assert r.rig_text == rig_text and r.protocol_text == "name: p\n"
        assert r.rig == rig and r.protocol == protocol
        cells = r.cells()
        np.testing.assert_array_equal(cells.id, data["ids"])
        np.testing.assert_array_equal(cells.position_um, data["pos"])
        np.testing.assert_array_equal(cells.plane, data["plane"])
        np.testing.assert_array_equal(cells.pixel_rc, data["pixel_rc"])
        np.testing.assert_array_equal(cells.red, data["red"])
        for i, (pixels, weights) in enumerate(data["masks"]):
            got_p, got_w = cells.mask(i)
            np.testing.assert_array_equal(got_p, pixels)
            np.testing.assert_array_equal(got_w, weights)
        assert cells.dense_mask(0, (512, 512)).sum() == pytest.approx(data["masks"][0][1].sum(), rel=1e-6)
        cal = r.calibration()
        assert cal.model == {"kind": "poly3", "coef": [[1.0, 2.0], [3.0, 4.0]]}
        np.testing.assert_array_equal(cal.residual_um, np.float32([0.2, 0.4]))
        pt = r.power_test()
        np.testing.assert_array_equal(pt.response, data["pt_response"])
        np.testing.assert_array_equal(pt.stimmable_power_mw, data["stimmable"].astype(np.float32))
        tuning = r.tuning()
        for name, key in (("mean", "mean"), ("sem", "sem"), ("po_deg", "po"), ("osi", "osi"), ("gosi", "gosi"),
                          ("p_anova", "p"), ("responsive", "responsive")):
            np.testing.assert_array_equal(getattr(tuning, name), data[key])
        ensembles = r.ensembles()
        assert len(ensembles) == 3
        for got, want in zip(ensembles, data["ensembles"]):
            np.testing.assert_array_equal(got.cells, want["cells"])
            np.testing.assert_array_equal(got.power_mw, np.float32(want["power_mw"]))
            assert (got.spatial, got.tuning) == ("compact", "cotuned")
            assert got.orientation_deg == want["orientation_deg"]
        holograms = r.holograms()
        assert [h.laser_power_mw for h in holograms] == [500.0, 501.0, 502.0]
        for i, phase in enumerate(data["phase"]):
            np.testing.assert_array_equal(r.hologram_phase(i), phase)
        trials = r.trials()
        assert len(trials) == 12
        np.testing.assert_array_equal(trials["trial"], np.arange(12))
        assert list(trials["block"]) == ["stim"] * 12
        assert trials.reasons(4) == ["running", "motion"] and trials.reasons(3) == []
        assert trials.valid.sum() == 11
        np.testing.assert_array_equal(trials.response[:, 0], np.arange(12, dtype=np.float32))
        df = trials.to_dataframe()
        assert df.loc[4, "reasons"] == "running;motion"
        for p in range(3):
            traces = r.traces(p)
            np.testing.assert_array_equal(traces.F, np.concatenate(data["F"][p]))
            np.testing.assert_array_equal(traces.neuropil, np.concatenate(data["F"][p]) / 2)
            np.testing.assert_array_equal(traces.frame, np.arange(60))
            np.testing.assert_array_equal(traces.cells, data["ids"][data["plane"] == p])
        events = r.events()
        assert list(events["kind"]) == ["photostim_on"] * 12 and events["detail"][0] == "ens"
        np.testing.assert_array_equal(r.behaviour().running_cm_s, np.float32(1.5 * np.arange(12)))
        info = r.info()
        assert info.stages == ["targets", "calibration", "power_test", "tuning", "ensembles", "holograms",
                               "stimulation"]
        assert (info.n_cells, info.n_ensembles, info.n_trials, info.n_trials_valid) == (40, 3, 12, 11)
        assert info.n_frames == [60, 60, 60]


def test_writer_refuses_bad_input_and_keeps_what_was_saved(tmp_path, configs):
    rig, protocol, _ = configs
    path = tmp_path / "s.h5"
    w = SessionWriter.create(path, rig=rig, protocol=protocol, seed=0)
    with pytest.raises(SessionError, match="plane index"):
        w.write_cells([1, 2], np.zeros((2, 3)), [0, 5])
    w.write_cells([1, 2], np.zeros((2, 3)), [0, 1])
    with pytest.raises(SessionError, match="already written"):
        w.write_cells([1, 2], np.zeros((2, 3)), [0, 1])
    with pytest.raises(SessionError, match="SLM's shape"):
        w.append_hologram(np.zeros((3, 3)), ensemble=0, n_targets=3, laser_power_mw=1, efficiency=1, uniformity=1)
    with pytest.raises(SessionError, match="block must be one of"):
        w.append_trial({"block": "nonsense", "condition": "ensemble"})
    with pytest.raises(SessionError, match="unknown trial columns"):
        w.append_trial({"block": "stim", "condition": "ensemble", "colour": 3})
    with pytest.raises(SessionError, match="frames × 1"):
        w.append_frames(0, np.zeros((2, 4)), np.zeros((2, 4)), [0, 1], [0, 1])
    w.append_trial({"block": "tuning", "condition": "grating", "direction_deg": 90.0})
    w.close()
    with pytest.raises(SessionError, match="already exists"):
        SessionWriter.create(path, rig=rig, protocol=protocol, seed=0)
    with SessionReader(path) as r:
        assert r.closed_cleanly
        assert r.trials()["direction_deg"].tolist() == [90.0]
        assert len(r.cells()) == 2


def test_reopen_appends_after_a_clean_close(tmp_path, configs):
    rig, protocol, _ = configs
    path = tmp_path / "s.h5"
    with SessionWriter.create(path, rig=rig, protocol=protocol, seed=0) as w:
        w.append_trial({"block": "stim", "condition": "no_stim"})
    with SessionWriter.open(path) as w:
        assert w.n_trials == 1
        w.append_trial({"block": "stim", "condition": "no_stim"})
    with SessionReader(path) as r:
        assert len(r.trials()) == 2 and r.closed_cleanly
        assert [s[0] for s in r.stages()] == ["closed", "closed"]


def test_reader_rejects_foreign_files(tmp_path):
    import h5py

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(SessionError, match="not a holostim session"):
        SessionReader(other)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(SessionError, match="not a readable HDF5"):
        SessionReader(text)


def test_an_exception_inside_the_writer_is_recorded_and_the_file_still_closes(tmp_path, configs):
    rig, protocol, _ = configs
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError):
        with SessionWriter.create(path, rig=rig, protocol=protocol, seed=0) as w:
            w.append_trial({"block": "stim", "condition": "no_stim"})
            raise RuntimeError("SLM lost: µ" * 20)          # non-ASCII, longer than the event's text field
    with SessionReader(path) as r:
        assert r.closed_cleanly and len(r.trials()) == 1
        events = r.events()
        assert list(events["kind"]) == ["error"] and events["detail"][0].startswith("RuntimeError: SLM lost")

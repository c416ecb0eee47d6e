"""`holostim online replay` end to end on a multi-page TIFF written by tifffile, and on HDF5."""
import json

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile

from online_synth import make_movie, orientation_error_deg
from rig.cli import main


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    d = tmp_path_factory.mktemp("replay")
    movie = make_movie(11, shape=(64, 64), n_cells=16, tuning_reps=6, power_test=True, warmup_frames=60)
    frames = np.clip(movie.frames, 0, 65535).astype(np.uint16)
    tifffile.imwrite(d / "movie.tif", frames)
    with h5py.File(d / "movie.h5", "w") as f:
        f["imaging/frames"] = frames
    np.save(d / "footprints.npy", movie.masks)
    events = pd.DataFrame(movie.events)
    events["targets"] = events["targets"].map(lambda t: "" if t is None else ";".join(map(str, t)))
    events.to_csv(d / "events.csv", index=False)
    return d, movie


def test_replay_tiff_writes_all_outputs(recording, capsys):
    d, movie = recording
    out = d / "out"
    rc = main(["online", "replay", str(d / "movie.tif"), "--footprints", str(d / "footprints.npy"),
               "--events", str(d / "events.csv"), "--out", str(out)])
    assert rc == 0
    assert "replayed" in capsys.readouterr().out
    tuning = pd.read_csv(out / "tuning.csv")
    assert list(tuning.columns[:14]) == ["cell", "po_deg", "osi", "gosi", "responsive", "p_anova"] + [
        f"resp_{d}" for d in range(0, 360, 45)]
    assert len(tuning) == 16
    sel = movie.tuned & (tuning.responsive.to_numpy() == 1)
    assert sel.sum() >= 5
    assert np.median(orientation_error_deg(tuning.po_deg[sel], movie.pd_deg[sel] % 180)) < 15
    shifts = pd.read_csv(out / "shifts.csv")
    assert list(shifts.columns[:3]) == ["frame", "dy", "dx"] and len(shifts) == len(movie.frames)
    with h5py.File(out / "traces.h5", "r") as f:
        assert f["dff"].shape == (len(movie.frames), 16)
        assert f["trial_responses"].shape[1] == 16
    power = pd.read_csv(out / "power_test.csv")
    assert power.tested.all()
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["frames_accepted"] == len(movie.frames)
    assert not list(out.glob(".*partial*"))


def test_replay_hdf5_matches_tiff(recording):
    d, movie = recording
    out = d / "out_h5"
    rc = main(["online", "replay", f"{d / 'movie.h5'}:/imaging/frames", "--footprints",
               str(d / "footprints.npy"), "--events", str(d / "events.csv"), "--out", str(out),
               "--max-frames", "300"])
    assert rc == 0
    a = pd.read_csv(out / "shifts.csv")
    assert len(a) == 300
    ref = pd.read_csv(d / "out" / "shifts.csv").iloc[:300] if (d / "out").exists() else None
    if ref is not None:
        np.testing.assert_allclose(a[["dy", "dx"]].to_numpy(), ref[["dy", "dx"]].to_numpy())


def test_replay_bad_inputs_exit_2(recording, tmp_path, capsys):
    d, _ = recording
    pd.DataFrame({"trial": [0], "kind": ["grating"]}).to_csv(tmp_path / "bad.csv", index=False)
    base = ["online", "replay", str(d / "movie.tif"), "--footprints", str(d / "footprints.npy"),
            "--out", str(tmp_path / "o")]
    assert main(base + ["--events", str(tmp_path / "bad.csv")]) == 2
    assert "lacks column" in capsys.readouterr().err
    assert main(base + ["--events", str(tmp_path / "missing.csv")]) == 2
    np.save(tmp_path / "fp.npy", np.ones((2, 32, 32), bool))
    assert main(["online", "replay", str(d / "movie.tif"), "--footprints", str(tmp_path / "fp.npy"),
                 "--events", str(d / "events.csv"), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o" / "tuning.csv").exists()
    assert main(["online", "replay", str(d / "movie.h5"), "--footprints", str(d / "footprints.npy"),
                 "--events", str(d / "events.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "dataset" in capsys.readouterr().err


def test_replay_interleaved_channels(recording, tmp_path):
    d, movie = recording
    frames = np.clip(movie.frames[:200], 0, 65535).astype(np.uint16)
    red = np.full_like(frames, 7)
    tifffile.imwrite(tmp_path / "two.tif", np.stack([frames, red], axis=1).reshape(-1, 64, 64))
    out = tmp_path / "o"
    assert main(["online", "replay", str(tmp_path / "two.tif"), "--channels", "2", "--channel", "0",
                 "--footprints", str(d / "footprints.npy"), "--events", str(d / "events.csv"),
                 "--out", str(out)]) == 0
    with h5py.File(out / "traces.h5", "r") as f:
        assert f["f_cell"].shape[0] == 200
        assert np.nanmin(f["f_cell"][:]) > 50  # green frames, not the flat red channel


def test_replay_with_a_frame_rate_uses_the_matched_estimator(recording, capsys):
    """Without a frame rate the indicator model cannot be placed in time: the report says so (window means) and
    the command prints how to fix it. With --frame-rate and the movie's indicator kinetics (instant rise, 0.5 s
    decay) grating responses are matched-filter amplitudes, and the tuning is found as well."""
    d, movie = recording
    (d / "kinetics.yaml").write_text("indicator_rise_s: 0.0\nindicator_decay_s: 0.5\n")
    out = d / "out_matched"
    rc = main(["online", "replay", str(d / "movie.tif"), "--footprints", str(d / "footprints.npy"),
               "--events", str(d / "events.csv"), "--out", str(out), "--frame-rate", "10",
               "--config", str(d / "kinetics.yaml")])
    assert rc == 0
    assert "note:" not in capsys.readouterr().out
    assert json.loads((out / "report.json").read_text())["visual_responses"] == "matched"
    tuning = pd.read_csv(out / "tuning.csv")
    sel = movie.tuned & (tuning.responsive.to_numpy() == 1)
    assert sel.sum() >= 5
    assert np.median(orientation_error_deg(tuning.po_deg[sel], movie.pd_deg[sel] % 180)) < 15
    ok = movie.responsive & np.isfinite(tuning.osi.to_numpy())
    assert np.corrcoef(tuning.osi[ok], movie.osi[ok])[0, 1] > 0.8


def test_replay_without_a_frame_rate_says_so(recording, tmp_path, capsys):
    d, _ = recording
    rc = main(["online", "replay", str(d / "movie.tif"), "--footprints", str(d / "footprints.npy"),
               "--events", str(d / "events.csv"), "--out", str(tmp_path / "o"), "--max-frames", "400"])
    assert rc == 0
    assert "give --frame-rate" in capsys.readouterr().out
    assert "frame rate unknown" in json.loads((tmp_path / "o" / "report.json").read_text())["visual_responses"]
    rc = main(["online", "replay", str(d / "movie.tif"), "--footprints", str(d / "footprints.npy"),
               "--events", str(d / "events.csv"), "--out", str(tmp_path / "o2"), "--frame-rate", "-3"])
    assert rc == 2


def test_scanimage_frame_rate_from_metadata():
    from rig.commands.online import scanimage_frame_rate

    def meta(**frame):
        return {"FrameData": {"SI.hRoiManager.scanFrameRate": 30.02, **frame}}

    assert scanimage_frame_rate(meta()) == pytest.approx(30.02)
    assert scanimage_frame_rate(meta(**{"SI.hStackManager.numSlices": 1, "SI.hFastZ.enable": False})) == 30.02
    # a volume: planes interleaved in the file, each at the volume rate — the user must say which
    assert scanimage_frame_rate(meta(**{"SI.hFastZ.enable": True, "SI.hFastZ.numFramesPerVolume": 4})) is None
    assert scanimage_frame_rate(meta(**{"SI.hStackManager.numSlices": 3})) is None
    assert scanimage_frame_rate({"FrameData": {"SI.hRoiManager.scanFrameRate": float("nan")}}) is None
    assert scanimage_frame_rate({}) is None and scanimage_frame_rate(None) is None

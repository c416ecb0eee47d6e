"""`holostim hologram preview` on the simulated rig."""
import numpy as np

from rig.cli import main


def test_preview_writes_png_and_prints_figures(tmp_path, capsys, repo_root):
    out = tmp_path / "preview.png"
    mask = tmp_path / "mask.npy"
    code = main(["hologram", "preview", "--targets", "0,0,0;40,-25,30;-60,10,-30",
                 "--powers-mw", "50,60,40", "--rig", str(repo_root / "configs/rig/sim.yaml"),
                 "--iterations", "10", "--out", str(out), "--save-mask", str(mask)])
    text = capsys.readouterr().out
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.load(mask).shape == (1152, 1920)
    assert "efficiency" in text and "uniformity" in text and "laser power needed" in text
    efficiency = float(text.split("efficiency")[1].split()[0])
    assert 0.5 < efficiency <= 1.0


def test_preview_from_csv_with_weights(tmp_path, capsys, repo_root):
    csv = tmp_path / "targets.csv"
    csv.write_text("x_um,y_um,z_um,weight\n0,0,0,1\n50,0,0,2\n0,50,30,3\n")
    code = main(["hologram", "preview", "--targets-csv", str(csv), "--rig", str(repo_root / "configs/rig/sim.yaml"),
                 "--iterations", "10", "--out", str(tmp_path / "p.png")])
    assert code == 0
    text = capsys.readouterr().out
    weights = [float(line.split()[5]) for line in text.splitlines() if line.strip()[:1].isdigit()]
    np.testing.assert_allclose(weights, [1 / 6, 2 / 6, 3 / 6], atol=1e-3)


def test_preview_bad_targets_exit_2(tmp_path, capsys, repo_root):
    rig = str(repo_root / "configs/rig/sim.yaml")
    assert main(["hologram", "preview", "--targets", "0,0,0;10,10,0", "--rig", rig,
                 "--out", str(tmp_path / "p.png")]) == 2
    assert "at least 3 targets" in capsys.readouterr().err
    assert main(["hologram", "preview", "--targets", "0,0;1,1;2,2", "--rig", rig]) == 2
    assert main(["hologram", "preview", "--targets", "0,0,0;50,0,0;0,50,0", "--powers-mw", "50,60,500",
                 "--rig", rig, "--out", str(tmp_path / "p.png")]) == 2
    assert "above the rig's maximum" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()

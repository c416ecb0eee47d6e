"""Mock scanner frames, photostimulation through the laser, gratings, treadmill, determinism."""
import numpy as np
import pytest

import holography
from sims.config import SimConfig
from sims.errors import SimError
from sims.microscope import SimulatedMicroscope


@pytest.fixture(scope="module")
def small():
    """A smaller FOV so each microscope builds fast."""
    def build(seed=0, **cfg):
        return SimulatedMicroscope(fov_um=(400.0, 400.0), pixels=(256, 256), seed=seed,
                                   sim_config=SimConfig(network_box_um=900.0, **cfg))
    return build


def test_frames_have_counters_timestamps_planes(small):
    m = small()
    frames = [m.scanner.next_frame() for _ in range(9)]
    assert [f.counter for f in frames] == list(range(9))
    assert [f.plane for f in frames] == [0, 1, 2] * 3
    assert np.allclose(np.diff([f.timestamp_s for f in frames]), 1 / 18.0)
    assert frames[0].image.shape == (256, 256) and frames[0].image.dtype == np.int16
    assert m.clock.now() == pytest.approx(frames[-1].timestamp_s)
    assert m.scanner.next_frame(timeout_s=0.001) is None          # the next frame is not due yet


def test_same_seed_same_frames(small):
    a, b, c = small(4), small(4), small(5)
    fa = [a.scanner.next_frame().image for _ in range(4)]
    fb = [b.scanner.next_frame().image for _ in range(4)]
    fc = [c.scanner.next_frame().image for _ in range(4)]
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb))
    assert not np.array_equal(fa[0], fc[0])


def test_dropped_frames_leave_counter_gaps(small):
    m = small(dropped_frame_rate=0.3)
    counters = [m.scanner.next_frame().counter for _ in range(60)]
    gaps = np.diff(counters)
    assert gaps.min() >= 1 and gaps.max() > 1


def test_photostimulation_lights_up_targets_and_makes_an_artefact(small):
    m = small(1)
    pop = m.population
    targets = np.flatnonzero(pop.opsin & (pop.stimmable_power_mw < 60))[:5]
    request = 1.2 * pop.stimmable_power_mw[targets]
    slm_pos = m.mapping.to_slm(pop.xyz_um[targets])
    weights = holography.power_weights(slm_pos, request, m.slm.geometry)
    m.slm.load_phases(holography.compute_phase(slm_pos, m.slm.geometry, weights=weights, iterations=10).phase)
    for _ in range(30):                                        # baseline
        m.scanner.next_frame()
    before = m.activity.dff()[targets].copy()
    m.slm.show(0)
    m.laser.set_power(request * 1.6)
    t0 = m.laser.pulse(10, 0.005, 10.0)
    frames = [m.scanner.next_frame() for _ in range(36)]
    after = m.activity.dff()[targets]
    assert np.mean(after - before) > 0.5                       # ~10 spikes × 0.23 ΔF/F
    hit = [f for f in frames if f.timestamp_s < t0 + 1.0]
    edge = np.mean([f.image[:, :10].mean() - f.image[:, 100:110].mean() for f in hit])
    late = [f for f in frames if f.timestamp_s > t0 + 1.2]
    quiet = np.mean([f.image[:, :10].mean() - f.image[:, 100:110].mean() for f in late])
    assert edge > quiet + 5


def _centre_pixels(m, cells):
    pop, (uy, ux) = m.population, m.scanner.um_per_px
    return (np.round(pop.xyz_um[cells, 1] / uy).astype(int), np.round(pop.xyz_um[cells, 0] / ux).astype(int))


def test_somata_are_drawn_at_their_cells_and_brighten_when_they_fire(small):
    m = small(3, motion_step_px=0.0, motion_jump_rate_hz=0.0)
    pop = m.population
    cells = np.flatnonzero(pop.plane == 1)
    rows, cols = _centre_pixels(m, cells)
    inside = (rows > 2) & (rows < 253) & (cols > 2) & (cols < 253)
    rest = m.scanner.render(1, 1.0).astype(np.float64)
    ring = rest[np.clip(rows[inside] + 8, 0, 255), np.clip(cols[inside] + 8, 0, 255)]
    # the soma (nucleus dimmed, cytoplasm bright) stands out against neuropil 8 px away
    soma = np.array([rest[r - 2:r + 3, c - 2:c + 3].max() for r, c in zip(rows[inside], cols[inside])])
    assert np.median(soma) > np.median(ring) * 1.3
    fired = cells[inside][:20]
    before = m.scanner.render(1, 2.0).astype(np.float64)
    p_spike = np.zeros(pop.n)
    p_spike[fired] = 1.0                                   # ten certain spikes in each fired cell
    m.activity.add_train(2.0 + 0.1 * np.arange(10), p_spike, np.zeros(pop.n))
    after = m.scanner.render(1, 3.5).astype(np.float64)
    r, c = _centre_pixels(m, fired)
    gain = [after[y - 2:y + 3, x - 2:x + 3].mean() - before[y - 2:y + 3, x - 2:x + 3].mean() for y, x in zip(r, c)]
    quiet = cells[inside][40:60]
    r, c = _centre_pixels(m, quiet)
    drift = [after[y - 2:y + 3, x - 2:x + 3].mean() - before[y - 2:y + 3, x - 2:x + 3].mean() for y, x in zip(r, c)]
    assert np.median(gain) > np.median(drift) + 20.0


def test_laser_refuses_unsafe_power(small):
    m = small()
    with pytest.raises(Exception) as err:
        m.laser.set_power([250.0, 10.0, 10.0])                 # above 200 mW per target
    assert getattr(err.value, "exit_code", None) == 2
    assert m.laser.total_mw == 0.0


def test_grating_drives_tuned_cells_at_their_preference(small):
    m = small(2)
    pop = m.population
    ori = np.abs((pop.po_deg + 90.0) % 180.0 - 90.0)            # distance of PO from 0°
    cells = np.flatnonzero(pop.responsive & (pop.osi > 0.5) & (ori < 20))
    spikes = {}
    for direction in (0.0, 90.0, 180.0, 270.0) * 3:
        spikes.setdefault(direction, 0.0)
        start = m.activity.spike_count[cells].sum()
        m.visual.show_grating(direction, duration_s=1.0)
        m.clock.sleep(1.0)
        m.activity.advance_to(m.clock.now())
        m.visual.blank()
        spikes[direction] += m.activity.spike_count[cells].sum() - start
        m.clock.sleep(3.0)
        m.activity.advance_to(m.clock.now())
    assert spikes[0.0] + spikes[180.0] > 1.5 * (spikes[90.0] + spikes[270.0])


def test_motion_shifts_content_and_red_image_shows_opsin_nuclei(small):
    m = small(3, motion_step_px=0.0, motion_jump_rate_hz=0.0)
    a = m.scanner.render(1, 1.0, shift=(0, 0)).astype(np.float64)
    b = m.scanner.render(1, 1.0, shift=(4, -3)).astype(np.float64)
    spec = np.fft.ifft2(np.fft.fft2(b - b.mean()) * np.conj(np.fft.fft2(a - a.mean()))).real
    dy, dx = np.unravel_index(np.argmax(spec), spec.shape)
    assert ((dy + 128) % 256 - 128, (dx + 128) % 256 - 128) == (4, -3)
    red = m.scanner.red_image(1)
    pop = m.population
    on = pop.plane == 1
    rc = m.imaging_to_pixels(pop.xyz_um[on]).round().astype(int)
    vals = red[np.clip(rc[:, 0], 0, 255), np.clip(rc[:, 1], 0, 255)]
    assert vals[pop.opsin[on]].mean() > 3 * vals[~pop.opsin[on]].mean()
    with pytest.raises(SimError):
        m.scanner.red_image(7)


def test_treadmill_bouts_cross_the_exclusion_threshold(small):
    m = small(0, running_bout_rate_per_min=2.0)
    speeds = np.array([m.treadmill.speed_at(t) for t in np.arange(0, 1200, 0.5)])
    assert (speeds > 6.0).mean() > 0.05 and (speeds < 1.0).mean() > 0.5
    t, s = m.treadmill.speed_cm_s()
    assert t == m.clock.now() and s == m.treadmill.speed_at(t)


def test_slide_mode_frames_show_the_mask_spots_only_while_the_laser_fires(small):
    m = small(6)
    targets = np.array([[-60.0, -40.0, 0.0], [50.0, 30.0, 0.0], [20.0, -70.0, 0.0]])
    m.slm.load_phases(holography.compute_phase(targets, m.slm.geometry, iterations=10).phase)
    m.slm.show(0)
    m.scanner.set_slide(0.0)
    dark = m.scanner.next_frame()
    m.laser.set_power([60.0, 60.0, 60.0])
    m.laser.pulse(20, 0.005, 20.0)
    lit = m.scanner.next_frame()
    assert lit.image.max() > dark.image.max() + 50
    spots = m.imaging_to_pixels(m.mapping.to_imaging(m.slm.spots().slm_xyz_um[m.slm.spots().fraction > 0.1]))
    shift = m.scanner.shift_px
    for r, c, _ in spots:
        r0, c0 = int(round(r)) + shift[0], int(round(c)) + shift[1]
        assert lit.image[r0 - 2:r0 + 3, c0 - 2:c0 + 3].max() > 0.5 * lit.image.max()
    m.scanner.set_slide(None)
    assert m.scanner.next_frame().image.mean() > 10             # tissue again

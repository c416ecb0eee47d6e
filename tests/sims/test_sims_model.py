"""Kernels, the grid neural field and the sampled network agree with each other and with the formulas."""
import numpy as np
import pytest

from sims.config import SimConfig
from sims.errors import SimError
from sims.field import NeuralField
from sims.kernels import feature_kernel, feature_kernel_raw, orientation_difference_deg, spatial_kernel


def test_spatial_kernel_integrates_to_one():
    r = np.linspace(0, 2000, 200001)
    g = spatial_kernel(r, 110.0, 16.0, 0.15)
    assert np.trapezoid(2 * np.pi * r * g, r) == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(SimError):
        spatial_kernel(r, 110.0, 16.0, 1.5)


def test_feature_kernel_matches_rossi_connection_probabilities():
    """r0 = 0.05, rp = 0.07, σ = 29° reproduce 0.125/0.080/0.064/0.046 at Δori 0/30/60/90° within 0.015."""
    p = feature_kernel_raw(np.array([0.0, 30.0, 60.0, 90.0]), 0.05, 0.07, 29.0)
    assert np.allclose(p, [0.125, 0.080, 0.064, 0.046], atol=0.015)
    theta = np.linspace(0, 90, 9001)
    assert np.trapezoid(feature_kernel(theta, 0.05, 0.07, 29.0), theta) / 90 == pytest.approx(1.0, rel=1e-3)
    assert orientation_difference_deg(170.0, 10.0) == pytest.approx(20.0)


def test_field_fft_convolution_matches_direct_sum():
    cfg = SimConfig(network_box_um=400.0)
    f = NeuralField(cfg, e_density_per_um2=0.006, n_grid=40)
    stim = np.zeros((1, 40, 40))
    stim[0, 5, 7] = 10.0
    stim[0, 30, 22] = 4.0
    ee = f.pathways(stim).ee[0]
    g = f._spatial(cfg.sigma_e_broad_um, cfg.sigma_e_narrow_um, cfg.kappa_e) * cfg.w_ee
    direct = np.zeros((40, 40))
    for (r, c), s in ((( 5, 7), 10.0), ((30, 22), 4.0)):
        direct += s * np.roll(np.roll(g, r, axis=0), c, axis=1)
    per_cell = cfg.response_gain / (0.006 * f.bin_um ** 2)
    assert np.allclose(ee, direct * per_cell, rtol=1e-9, atol=1e-12)


def test_field_pathways_have_their_signs_and_integrals():
    cfg = SimConfig()
    f = NeuralField(cfg, e_density_per_um2=0.006, n_grid=140)
    stim = np.zeros((1, 140, 140))
    stim[0, 70, 70] = 10.0
    p = f.pathways(stim)
    per_cell = cfg.response_gain / (0.006 * f.bin_um ** 2)
    assert p.ee.sum() / per_cell == pytest.approx(10 * cfg.w_ee, rel=1e-9)
    assert p.eee.sum() / per_cell == pytest.approx(10 * cfg.w_ee ** 2, rel=1e-9)
    assert p.eie.sum() / per_cell == pytest.approx(10 * cfg.w_eie, rel=1e-9)
    assert p.total.sum() < 0                            # net suppression
    d, prof = f.radial_profile(max_um=400)
    assert prof[0] > 0 and prof[(d > 60) & (d < 150)].max() < 0


def test_field_with_orientation_bins_favours_iso_cells():
    f = NeuralField(SimConfig(), e_density_per_um2=0.006, n_grid=70, n_theta=6)
    stim = f.stim_map(np.array([[700.0, 700.0]] * 3), 10.0, po_deg=np.array([0.0, 1.0, 179.0]))
    total = f.pathways(stim).total
    r, c = f.bin_points(np.array([[700.0 + 20, 700.0]]))[1:]
    iso, ortho = total[0, r[0], c[0]], total[3, r[0], c[0]]
    assert iso > ortho


def test_sampled_network_matches_field_expectation(tissue):
    """Mean discrete response vs distance from one stimulated cell = the field's radial profile (±15 %)."""
    pop, cfg = tissue.pop, tissue.config
    field = NeuralField(cfg, pop.e_density_per_um2, n_grid=280)
    d_f, prof = field.radial_profile(max_um=400)
    rng = np.random.default_rng(0)
    dist, resp = [], []
    for t in rng.choice(pop.n, 250, replace=False):
        s = np.zeros(pop.n)
        s[t] = 10.0
        dist.append(np.hypot(*(pop.xyz_um[:, :2] - pop.xyz_um[t, :2]).T))
        resp.append(tissue.responder.respond(s))
        resp[-1][t] = np.nan
    dist, resp = np.concatenate(dist), np.concatenate(resp)
    for lo in (60.0, 100.0, 150.0, 200.0):
        m = (dist >= lo) & (dist < lo + 20) & np.isfinite(resp)
        expect = np.interp(lo + 10, d_f, prof)
        assert resp[m].mean() == pytest.approx(expect, rel=0.15), lo


def test_network_row_sums_and_pathway_decomposition(tissue):
    net, cfg = tissue.network, tissue.config
    assert net.ee_in.sum(axis=1).mean() == pytest.approx(cfg.w_ee, rel=0.05)
    assert net.ei_in.sum(axis=1).mean() == pytest.approx(cfg.w_ei, rel=0.05)
    assert net.ee_in.diagonal().sum() == 0                      # no autapses
    s = np.zeros(tissue.pop.n)
    s[[3, 50, 400]] = 10.0
    pw = tissue.responder.respond_pathways(s)
    assert np.allclose(pw.total, tissue.responder.respond(s), atol=1e-5)
    assert pw.ee.sum() > 0 > pw.eie.sum() and 0 < pw.eee.sum() < pw.ee.sum()


def test_connectome_tables(tissue):
    cells, syn = tissue.network.to_tables(tissue.pop)
    assert list(syn.columns) == ["pre_id", "post_id", "pre_type", "post_type", "synapses", "weight"]
    assert (syn.synapses >= 1).all()
    e_pre = syn.pre_type == "E"
    assert (syn.weight[e_pre] > 0).all() and (syn.weight[~e_pre] < 0).all()
    assert cells.imaged.sum() == tissue.pop.n
    # like-to-like: E→E connections between imaged cells are denser for similar orientation
    imaged = syn[(syn.pre_id < tissue.pop.n) & (syn.post_id < tissue.pop.n) & e_pre & (syn.post_type == "E")]
    po = cells.po_deg.to_numpy()
    dori = orientation_difference_deg(po[imaged.pre_id], po[imaged.post_id])
    assert (dori < 30).mean() > (dori > 60).mean() * 1.2


def test_same_seed_same_network():
    from sims.network import sample_network
    from sims.population import make_population
    cfg = SimConfig(cell_density_per_mm3=30000.0, synapses_per_cell=50)
    a = make_population(cfg, (-30.0, 0.0, 30.0), (400.0, 400.0), 7)
    b = make_population(cfg, (-30.0, 0.0, 30.0), (400.0, 400.0), 7)
    assert np.array_equal(a.xyz_um, b.xyz_um) and np.array_equal(a.stimmable_power_mw, b.stimmable_power_mw)
    na, nb = sample_network(a, cfg, 7), sample_network(b, cfg, 7)
    assert (na.ee_in != nb.ee_in).nnz == 0 and (na.ie_out != nb.ie_out).nnz == 0
    c = make_population(cfg, (-30.0, 0.0, 30.0), (400.0, 400.0), 8)
    assert c.n != a.n or not np.array_equal(c.xyz_um, a.xyz_um)


def test_population_matches_seed_002_numbers(tissue):
    pop = tissue.pop
    assert 1000 <= pop.n <= 1500
    assert set(np.unique(pop.plane)) == {0, 1, 2}
    assert np.all(np.abs(pop.xyz_um[:, 2] - pop.planes_z_um[pop.plane]) <= tissue.config.detection_half_depth_um)
    assert 0.1 < (~pop.opsin).mean() < 0.3
    stim = pop.stimmable_power_mw
    assert np.percentile(stim, 5) >= 8 and 12.5 < np.median(stim) < 100
    osi = pop.osi[pop.responsive]
    assert 0.5 < (osi > 0.25).mean() < 0.95
    assert np.all(pop.osi[~pop.responsive] == 0)

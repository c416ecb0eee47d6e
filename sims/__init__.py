"""Simulated microscope: cells, ground-truth network, neural-field responder, mock SLM / scanner / stimulus.

The parts, one physical concern per module: :mod:`~sims.population` (cells), :mod:`~sims.kernels` and
:mod:`~sims.field` (the seed-002 neural field), :mod:`~sims.network` (sampled ground-truth weights, the
connectome), :mod:`~sims.responder` (network response of every cell), :mod:`~sims.optics` (PPSF, spikes per
pulse), :mod:`~sims.mapping` (hidden imaging ↔ SLM mapping), :mod:`~sims.mock_slm`, :mod:`~sims.laser`,
:mod:`~sims.activity` and :mod:`~sims.calcium` (spikes → GCaMP6s ΔF/F), :mod:`~sims.scanner`,
:mod:`~sims.stimulus` (gratings, treadmill), :mod:`~sims.microscope` (everything wired to one clock), and
:mod:`~sims.rehearsal` (``holostim sim ensembles``). Parameters and sources: docs/simulator.md.
"""
from .config import SimConfig
from .errors import SimError

__all__ = ["SimConfig", "SimError", "Population", "NeuralField", "Network", "Responder", "MockSLM", "MockLaser",
           "MockScanner", "MockVisualStimulus", "MockTreadmill", "SimClock", "SimulatedMicroscope",
           "build_microscope", "make_population", "sample_network"]

_LAZY = {
    "Population": "population", "make_population": "population", "NeuralField": "field", "Network": "network",
    "sample_network": "network", "Responder": "responder", "MockSLM": "mock_slm", "MockLaser": "laser",
    "MockScanner": "scanner", "MockVisualStimulus": "stimulus", "MockTreadmill": "stimulus", "SimClock": "clock",
    "SimulatedMicroscope": "microscope", "build_microscope": "microscope",
}


def __getattr__(name):
    # Lazy: rig.config imports sims.config at start-up; the heavy parts load only when used.
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'sims' has no attribute {name!r}")

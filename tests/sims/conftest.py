"""Shared simulated tissue and microscope (built once per test session: building takes a few seconds)."""
import pytest

from sims.config import SimConfig
from sims.network import sample_network
from sims.population import make_population
from sims.responder import Responder


class Tissue:
    def __init__(self, config: SimConfig, seed: int):
        self.config = config
        self.pop = make_population(config, (-30.0, 0.0, 30.0), (800.0, 800.0), seed)
        self.network = sample_network(self.pop, config, seed)
        self.responder = Responder(self.network, config.response_gain)


@pytest.fixture(scope="session")
def tissue():
    """Default parameters, seed 0."""
    return Tissue(SimConfig(), 0)


@pytest.fixture(scope="session")
def microscope():
    from sims.microscope import SimulatedMicroscope
    return SimulatedMicroscope(seed=0)

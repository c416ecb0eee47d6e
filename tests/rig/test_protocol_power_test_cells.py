"""``power_test.max_cells``: an optional protocol field that caps how many cells the power test covers."""
import types

import numpy as np
import pytest

from rig.config import ConfigError, validate_mapping
from rig.runner.stages import power_test

BASE = {"kind": "protocol", "optimizer": {"ensembles": [{"count": 3}]}}


def test_max_cells_is_optional_validated_and_reaches_the_power_test():
    default = validate_mapping(BASE)
    assert default.power_test.max_cells is None
    # default: one candidate per ensemble slot (3 ensembles × 10 cells = 30), at least 40
    assert power_test.max_cells(default) == 40
    many = validate_mapping({**BASE, "optimizer": {"ensembles": [{"count": 8}]}})
    assert power_test.max_cells(many) == 80
    capped = validate_mapping({**BASE, "power_test": {"max_cells": 12}})
    assert capped.power_test.max_cells == 12 and power_test.max_cells(capped) == 12
    for bad in (0, -3, 2.5, "many"):
        with pytest.raises(ConfigError, match="max_cells"):
            validate_mapping({**BASE, "power_test": {"max_cells": bad}})


def test_candidates_are_the_brightest_nuclei_up_to_max_cells():
    protocol = validate_mapping({**BASE, "power_test": {"max_cells": 3}})
    red = np.array([5.0, 9.0, 1.0, 9.0, 7.0, 2.0])
    ctx = types.SimpleNamespace(protocol=protocol, cells=_Cells(red))
    assert list(power_test.candidates(ctx)) == [1, 3, 4]          # 9, 9 (ties by row), 7; in row order


class _Cells:
    def __init__(self, red):
        self.red = red

    def __len__(self):
        return len(self.red)

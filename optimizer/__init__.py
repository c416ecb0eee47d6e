"""Discrete ensemble optimizer (seed 002, Methods, "Discrete optimizer"): eligible cells → ensembles.

Pure computation (numpy): :func:`design_ensembles` takes a :class:`CellTable` (or a DataFrame) and an
:class:`OptimizerSpec` and returns an :class:`OptimizationResult`.
"""
from .cells import CellTable, cells_from_frame, read_cells
from .design import EnsembleRecord, OptimizationResult, design_ensembles
from .errors import InfeasibleSpec, OptimizerError
from .spec import CriterionWeights, EnsembleGroup, OptimizerSpec, Range
from .synthetic import synthetic_cells
from .tuning import osi_of_direction_curves

__all__ = ["CellTable", "CriterionWeights", "EnsembleGroup", "EnsembleRecord", "InfeasibleSpec",
           "OptimizationResult", "OptimizerError", "OptimizerSpec", "Range", "cells_from_frame",
           "design_ensembles", "osi_of_direction_curves", "read_cells", "synthetic_cells"]

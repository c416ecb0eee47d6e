"""Discrete ensemble optimizer (seed 002, Methods, "Discrete optimizer"): eligible cells → ensembles."""
from .spec import CriterionWeights, EnsembleGroup, OptimizerSpec, Range

__all__ = ["CriterionWeights", "EnsembleGroup", "OptimizerSpec", "Range"]

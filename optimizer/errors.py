"""Errors a user of the optimizer can cause: bad cell tables, bad arguments, specs that cannot be met."""
from __future__ import annotations


class OptimizerError(ValueError):
    """Bad input to the ensemble optimizer. The message says what to change."""

    exit_code = 2


class InfeasibleSpec(OptimizerError):
    """No selection of the given cells can meet a rule of the spec; the message names the rule and why."""

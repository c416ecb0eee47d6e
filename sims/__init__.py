"""Simulated microscope: cells, ground-truth network, neural-field responder, mock SLM / scanner / stimulus."""
from .config import SimConfig

__all__ = ["SimConfig"]

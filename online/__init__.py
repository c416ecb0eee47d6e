"""Online analysis: streaming motion correction, trace extraction, ΔF/F, tuning and photostim responses."""
from .config import OnlineConfig

__all__ = ["OnlineConfig"]

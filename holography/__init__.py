"""Holography engine: 3D multi-target Gerchberg–Saxton phase masks, per-cell power, calibration, LUT."""

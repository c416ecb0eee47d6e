"""The table of eligible cells the optimizer chooses from, validated, with PO/OSI derived (see :mod:`.tuning`).

Columns (one row per cell):

* ``id`` — any unique label (int or str), reported back in the ensembles;
* ``x_um, y_um, z_um`` — soma position, µm; x, y relative to the optical axis (the centre of the field of
  view), so ``|x|, |y| ≤ reachable_half_field_um`` is the reachable field;
* ``responsive`` — visually responsive (seed 002: P < 0.05, ANOVA across gratings), bool or 0/1;
* ``power_mw`` — stimmable power from the power test, mW (seed 002: 12.5–100 mW); empty/NaN = not stimmable,
  the cell is dropped;
* ``uses`` — how many holograms already contain the cell (criterion 2), integer ≥ 0;
* ``resp_<direction_deg>`` — mean response to each grating direction, e.g. ``resp_0 … resp_315``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from .errors import OptimizerError
from .tuning import check_directions, osi_of_direction_curves, peak_orientation_deg, vector_orientation_deg

REQUIRED_COLUMNS = ("id", "x_um", "y_um", "z_um", "responsive", "power_mw", "uses")
_RESP = re.compile(r"^resp_(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class CellTable:
    """Eligible cells as arrays (N rows). Build with :meth:`from_frame` or :func:`read_cells`."""

    ids: np.ndarray             # (N,) labels
    xyz_um: np.ndarray          # (N, 3) float64
    responsive: np.ndarray      # (N,) bool
    power_mw: np.ndarray        # (N,) float64, finite > 0
    uses: np.ndarray            # (N,) int64 ≥ 0
    directions_deg: np.ndarray  # (D,) sorted, in [0, 360), each direction's ± 90° present
    resp: np.ndarray            # (N, D) raw mean response per direction (columns in that order)
    osi: np.ndarray             # (N,) seed-002 OSI in [0, 1] (see :mod:`.tuning`)
    po_deg: np.ndarray          # (N,) seed-002 PO as an orientation: direction of the largest mean response mod 180
    orientation_deg: np.ndarray  # (N,) vector-sum orientation, [0, 180)
    dropped_ids: tuple = ()     # rows dropped because power_mw was missing (not stimmable)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_frame(cls, frame) -> "CellTable":
        """Validate a pandas DataFrame with the columns in the module docstring."""
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise OptimizerError(f"the cell table must be a pandas DataFrame, got {type(frame).__name__}")
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        resp_cols = [c for c in frame.columns if _RESP.match(str(c))]
        if missing:
            raise OptimizerError(f"cell table lacks column(s) {', '.join(missing)}; needs {', '.join(REQUIRED_COLUMNS)}"
                                 " and resp_<direction> columns")
        if not resp_cols:
            raise OptimizerError("cell table has no tuning columns: add resp_0, resp_45, …, resp_315 "
                                 "(mean response per grating direction)")
        directions = np.array([float(_RESP.match(str(c)).group(1)) for c in resp_cols])
        order = np.argsort(directions)
        resp_cols = [resp_cols[i] for i in order]
        directions = directions[order]
        if np.any(directions >= 360):
            raise OptimizerError(f"directions must lie in [0, 360), got {directions[directions >= 360].tolist()}")
        if frame["id"].duplicated().any():
            dup = frame["id"][frame["id"].duplicated()].unique()[:5].tolist()
            raise OptimizerError(f"cell ids must be unique; repeated: {dup}")
        numeric = _numeric(frame, ["x_um", "y_um", "z_um", "power_mw", "uses", *resp_cols])
        power = numeric["power_mw"]
        stimmable = np.isfinite(power)
        if np.any(power[stimmable] <= 0):
            bad = frame["id"].to_numpy()[stimmable & (np.nan_to_num(power) <= 0)][:5].tolist()
            raise OptimizerError(f"power_mw must be positive (or empty for a cell that is not stimmable); cells {bad}")
        for col in ["x_um", "y_um", "z_um", "uses", *resp_cols]:
            bad = ~np.isfinite(numeric[col]) & stimmable
            if bad.any():
                raise OptimizerError(f"column {col} has missing or non-numeric values for cells "
                                     f"{frame['id'].to_numpy()[bad][:5].tolist()}")
        if np.any(numeric["uses"][stimmable] < 0):
            raise OptimizerError("column uses must be ≥ 0 (holograms already containing the cell)")
        responsive = _flags(frame["responsive"])
        keep = stimmable
        resp = np.stack([numeric[c] for c in resp_cols], axis=1)[keep]
        return cls.build(
            ids=frame["id"].to_numpy()[keep],
            xyz_um=np.stack([numeric["x_um"], numeric["y_um"], numeric["z_um"]], axis=1)[keep],
            responsive=responsive[keep], power_mw=power[keep], uses=numeric["uses"][keep].astype(np.int64),
            directions_deg=directions, resp=resp, dropped_ids=tuple(frame["id"].to_numpy()[~keep].tolist()))

    @classmethod
    def build(cls, *, ids, xyz_um, responsive, power_mw, uses, directions_deg, resp, dropped_ids=()) -> "CellTable":
        """Derive PO, OSI and orientation from validated arrays (columns put in increasing direction)."""
        given = np.mod(np.asarray(directions_deg, dtype=float), 360.0)
        directions = check_directions(given)
        resp = np.asarray(resp, dtype=float).reshape(-1, len(given))[:, np.argsort(given, kind="stable")]
        return cls(ids=np.asarray(ids), xyz_um=np.asarray(xyz_um, dtype=float).reshape(-1, 3),
                   responsive=np.asarray(responsive, dtype=bool), power_mw=np.asarray(power_mw, dtype=float),
                   uses=np.asarray(uses, dtype=np.int64), directions_deg=directions, resp=resp,
                   osi=osi_of_direction_curves(resp, directions), po_deg=peak_orientation_deg(resp, directions),
                   orientation_deg=vector_orientation_deg(resp, directions), dropped_ids=tuple(dropped_ids))

    def subset(self, index: np.ndarray) -> "CellTable":
        """The cells at ``index`` (row positions)."""
        index = np.asarray(index)
        return CellTable.build(ids=self.ids[index], xyz_um=self.xyz_um[index], responsive=self.responsive[index],
                               power_mw=self.power_mw[index], uses=self.uses[index],
                               directions_deg=self.directions_deg, resp=self.resp[index],
                               dropped_ids=self.dropped_ids)


def _numeric(frame, columns) -> dict:
    import pandas as pd

    out = {}
    for col in columns:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        out[col] = values
    return out


def _flags(series) -> np.ndarray:
    """responsive column → bool; accepts bools, 0/1 and true/false strings."""
    if series.dtype == bool:
        return series.to_numpy()
    text = series.astype(str).str.strip().str.lower()
    truthy, falsy = {"true", "1", "1.0", "yes", "y", "t"}, {"false", "0", "0.0", "no", "n", "f", ""}
    bad = ~text.isin(truthy | falsy)
    if bad.any():
        raise OptimizerError(f"column responsive must be true/false or 1/0, got {text[bad].unique()[:5].tolist()}")
    return text.isin(truthy).to_numpy()


def cells_from_frame(frame) -> CellTable:
    """Validate a DataFrame of eligible cells into a :class:`CellTable`."""
    return CellTable.from_frame(frame)


def read_cells(path: Union[str, Path]) -> CellTable:
    """Read a cell table from CSV or Parquet (Parquet needs pyarrow or fastparquet, through pandas)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise OptimizerError(f"{path}: no such cell table")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except ImportError:
            raise OptimizerError(f"{path}: reading Parquet needs pyarrow (pip install 'holostim[parquet]'); "
                                 "or save the table as CSV") from None
    elif suffix in (".csv", ".tsv", ".txt"):
        try:
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise OptimizerError(f"{path}: not a readable CSV table ({err})") from None
    else:
        raise OptimizerError(f"{path}: unknown table format {suffix!r}; use .csv or .parquet")
    try:
        return CellTable.from_frame(frame)
    except OptimizerError as err:
        raise OptimizerError(f"{path}: {err}") from None

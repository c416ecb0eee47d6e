"""Plain-text table of a design, one row per ensemble, for the command line."""
from __future__ import annotations

CRITERIA = (("distinct", "1"), ("reuse", "2"), ("power", "3"), ("responsive", "4"), ("spread", "6"),
            ("spatial", "7"), ("ensemble_osi", "8"), ("mean_osi", "9"))


def _rules_text(rec) -> str:
    short = {"spatial": "S", "ensemble_osi": "E", "mean_osi": "M", "orientation": "O"}
    return " ".join(f"{short[k]}{'✓' if ok else '✗'}" for k, ok in rec.rules.items())


def format_table(result) -> str:
    """Spread, ensemble OSI, mean OSI, orientation, power, each criterion's value and the rules met."""
    head = (f"{'#':>3} {'spatial':<9} {'tuning':<8} {'target':>6} {'spread':>7} {'ensOSI':>6} {'meanOSI':>7} "
            f"{'ori':>5} {'power':>7} " + " ".join(f"c{n}:{name[:5]:<5}" for name, n in CRITERIA[1:])
            + "  rules")
    units = (f"{'':>3} {'':<9} {'':<8} {'deg':>6} {'um':>7} {'':>6} {'':>7} {'deg':>5} {'mW':>7}")
    lines = [head, units]
    for rec in result.ensembles:
        target = f"{rec.target_orientation_deg:6.1f}" if rec.target_orientation_deg is not None else f"{'-':>6}"
        crit = " ".join(f"{rec.criteria[name]:>11.3f}" for name, _ in CRITERIA[1:])
        ori = round(rec.orientation_deg) % 180         # orientations live in [0, 180): 179.7° reads 0, not 180
        lines.append(f"{rec.index + 1:>3} {rec.spatial:<9.9} {rec.tuning:<8} {target} {rec.spread_um:7.1f} "
                     f"{rec.ensemble_osi:6.2f} {rec.mean_osi:7.2f} {ori:5d} "
                     f"{rec.total_power_mw:7.1f} {crit}  {_rules_text(rec)}")
    met = sum(r.rules_met for r in result.ensembles)
    lines.append(f"criterion 1 (distinct, shared cells): {result.distinct_cost:.3f}; total cost {result.cost:.4f}; "
                 f"{met}/{len(result.ensembles)} ensembles meet every rule "
                 f"(S spatial, E ensemble OSI, M mean OSI, O orientation); hard rules "
                 f"{'met' if result.all_hard_met else 'BROKEN'}")
    return "\n".join(lines)

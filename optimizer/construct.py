"""Starting designs that meet every hard rule: random, or built greedily cell by cell."""
from __future__ import annotations

import numpy as np

from . import clock
from .errors import InfeasibleSpec
from .problem import Problem


def _packing_message(problem: Problem, n: int) -> str:
    cap = problem.limits.max_total_power_mw
    msg = (f"cannot place {n} cells at least {problem.limits.min_distance_um:g} µm apart among the "
           f"{problem.n_cells} eligible cells")
    if cap is not None:
        msg += f" within the total power limit of {cap:g} mW"
    return msg + "; lower 'cells' or 'min_distance_um', or provide more eligible cells"


def _allowed(problem: Problem, near: np.ndarray, chosen: list, n: int) -> np.ndarray:
    """Cells that may join a partial ensemble: not within the minimum distance of a member, and leaving room
    under the total-power limit for the remaining members at the lowest power on offer."""
    allowed = near == 0
    cap = problem.limits.max_total_power_mw
    if cap is not None:
        power = problem.cells.power_mw
        left = n - len(chosen) - 1
        allowed &= power[chosen].sum() + power + left * power.min() <= cap
    return allowed


def random_feasible(problem: Problem, rng: np.random.Generator) -> list[np.ndarray]:
    """One random design that meets every hard rule: cells drawn one at a time among those still allowed."""
    members = []
    for plan in problem.plans:
        near = np.zeros(problem.n_cells, dtype=np.int32)
        chosen: list[int] = []
        for _ in range(plan.n_cells):
            options = np.flatnonzero(_allowed(problem, near, chosen, plan.n_cells))
            if len(options) == 0:
                raise InfeasibleSpec(_packing_message(problem, plan.n_cells))
            c = int(options[rng.integers(len(options))])
            chosen.append(c)
            near += problem.close[c]
        members.append(np.array(chosen, dtype=np.int64))
    return members


def suitable(problem: Problem, e: int) -> np.ndarray:
    """Cells that fit ensemble e's tuning on their own: for cotuned, OSI above the mean-OSI threshold and
    orientation within the tolerance of the target; for untuned, OSI below the threshold."""
    from .tuning import angular_distance_deg

    plan, cells = problem.plans[e], problem.cells
    if plan.tuning == "cotuned":
        ok = cells.osi > plan.mean_osi[0]
        if plan.target_deg is not None:
            ok &= angular_distance_deg(cells.orientation_deg, plan.target_deg) <= plan.tolerance_deg
        return ok
    if plan.tuning == "untuned":
        return cells.osi < plan.mean_osi[1]
    return np.ones(problem.n_cells, dtype=bool)


def local_start(problem: Problem, e: int, rng: np.random.Generator) -> np.ndarray:
    """A random start for ensemble e placed around one suitable cell: members drawn among the cells within half
    the spatial rule's upper bound of it, suitable cells first. Compact ensembles then start in a place that can
    meet their rules, instead of having to crawl there swap by swap."""
    plan = problem.plans[e]
    good = suitable(problem, e)
    centres = np.flatnonzero(good) if good.any() else np.arange(problem.n_cells)
    centre = int(centres[rng.integers(len(centres))])
    radius = min(plan.spatial_um[1] / 2.0, 1e9)
    nearby = problem.dist_um[centre] <= radius
    near = np.zeros(problem.n_cells, dtype=np.int32)
    chosen: list[int] = []
    for _ in range(plan.n_cells):
        allowed = _allowed(problem, near, chosen, plan.n_cells)
        for pool in (allowed & nearby & good, allowed & nearby, allowed):
            if pool.any():
                break
        else:
            raise InfeasibleSpec(_packing_message(problem, plan.n_cells))
        options = np.flatnonzero(pool)
        c = int(options[rng.integers(len(options))])
        chosen.append(c)
        near += problem.close[c]
    return np.array(chosen, dtype=np.int64)


#: Penalty (cost units) on a cell that does not suit an ensemble's tuning on its own, when ranking centres and
#: building greedy starts: larger than any preference difference (terms 2–4 span < 1.5 per cell).
UNSUITED_PENALTY = 2.0

#: Centres ranked by their greedy bound; starts are drawn among this many of the best per try.
CENTRE_POOL = 3


def _cell_scores(problem: Problem, e: int, counts: np.ndarray) -> np.ndarray:
    """Per cell, what it would add to ensemble e on its own: terms 2–4, criterion 1 against the cells other
    ensembles hold, and :data:`UNSUITED_PENALTY` when it does not suit e's tuning."""
    distinct_w = problem.spec.weights.distinct / problem.n_ref
    return (problem.linear[e] + distinct_w * counts
            + UNSUITED_PENALTY * ~suitable(problem, e))


def ranked_centres(problem: Problem, e: int, counts: np.ndarray) -> np.ndarray:
    """Cells around which ensemble e could sit, best first: each suitable cell is scored by the sum of the n
    lowest :func:`_cell_scores` among the cells within half the spatial rule's upper bound of it (a lower bound
    on a greedy ensemble there, ignoring the minimum distance). Vectorised over all centres at once."""
    plan = problem.plans[e]
    good = suitable(problem, e)
    centres = np.flatnonzero(good) if good.sum() >= 1 else np.arange(problem.n_cells)
    radius = plan.spatial_um[1] / 2.0
    score = _cell_scores(problem, e, counts)
    n = plan.n_cells
    masked = np.where(problem.dist_um[centres] <= radius, score[None, :], np.inf)
    if masked.shape[1] > n:
        masked = np.partition(masked, n - 1, axis=1)[:, :n]
    bound = masked.sum(axis=1)
    return centres[np.argsort(bound, kind="stable")]


def greedy_start(problem: Problem, e: int, centre: int | None, counts: np.ndarray) -> np.ndarray:
    """Ensemble e built greedily: the centre (if any), then repeatedly the lowest-scoring allowed cell (
    :func:`_cell_scores`) within half the spatial bound of the centre, or anywhere when none is left there."""
    plan = problem.plans[e]
    score = _cell_scores(problem, e, counts)
    nearby = (problem.dist_um[centre] <= plan.spatial_um[1] / 2.0 if centre is not None
              else np.ones(problem.n_cells, dtype=bool))
    near = np.zeros(problem.n_cells, dtype=np.int32)
    chosen: list[int] = []
    for _ in range(plan.n_cells):
        allowed = _allowed(problem, near, chosen, plan.n_cells)
        if not chosen and centre is not None and allowed[centre]:
            c = int(centre)
        else:
            pool = allowed & nearby if (allowed & nearby).any() else allowed
            if not pool.any():
                raise InfeasibleSpec(_packing_message(problem, plan.n_cells))
            c = int(np.argmin(np.where(pool, score, np.inf)))
        chosen.append(c)
        near += problem.close[c]
    return np.array(chosen, dtype=np.int64)


def _design_alone(problem: Problem, e: int, rng: np.random.Generator, counts: np.ndarray, sweeps: int,
                  tries: int, deadline: float = np.inf) -> tuple[np.ndarray, float]:
    """Best of ``tries`` short anneals of ensemble e alone (others fixed, counted for criterion 1). Ensembles
    with a finite spatial bound start greedily around centres drawn among the best-ranked ones
    (:func:`ranked_centres`; try i draws among the i·:data:`CENTRE_POOL` … best not yet used); the others
    start greedily over the whole field, then from random local starts. Past ``deadline`` (see
    :mod:`.clock`) no further try starts, and a first try past it keeps its greedy start without annealing
    (which meets every hard rule)."""
    from .problem import single_ensemble
    from .search import anneal
    from .state import SearchState

    sub = single_ensemble(problem, e)
    local = np.isfinite(problem.plans[e].spatial_um[1])
    centres = ranked_centres(problem, e, counts) if local else None
    best, best_cost = None, np.inf
    for t in range(tries if local else 1):
        if t > 0 and clock.now() > deadline:
            break
        if local:
            pool = centres[t * CENTRE_POOL:(t + 1) * CENTRE_POOL]
            start = (greedy_start(problem, e, int(pool[rng.integers(len(pool))]), counts) if len(pool)
                     else local_start(problem, e, rng))
        else:
            start = greedy_start(problem, e, None, counts)
        if sweeps <= 0 or clock.now() > deadline:
            return start, SearchState(sub, [start], counts).total()
        found, cost, _ = anneal(sub, [start], rng, sweeps, deadline, exchanges=False, base_counts=counts)
        if cost < best_cost:
            best, best_cost = found[0], cost
    return best, best_cost


def _kinds(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Per ensemble: local (a finite spatial bound) and targeted (a target orientation)."""
    local = np.array([np.isfinite(p.spatial_um[1]) for p in problem.plans])
    target = np.array([p.target_deg is not None for p in problem.plans])
    return local, target


def leads(problem: Problem) -> np.ndarray:
    """Ensembles whose place in the field and whose cells both matter: a finite spatial bound and a target
    orientation (compact cotuned). They need the few cells tuned near their target in one neighbourhood, so
    they are the hardest to fit and are designed first, each by lone anneals (:func:`sequential_start`)."""
    local, target = _kinds(problem)
    return local & target


def start_order(problem: Problem, rng: np.random.Generator) -> list[int]:
    """The order a start builds the ensembles in, most constrained first: local with a target (compact
    cotuned), then the other local ones (compact), then the others with a target (diffuse cotuned), then the
    rest (diffuse untuned), which can take their cells almost anywhere; random within each class."""
    local, target = _kinds(problem)
    rank = np.where(local & target, 0, np.where(local, 1, np.where(target, 2, 3)))
    order = rng.permutation(problem.n_ensembles)
    return [int(e) for e in order[np.argsort(rank[order], kind="stable")]]


def sequential_start(problem: Problem, rng: np.random.Generator, *, lead_sweeps: int, lead_tries: int,
                     deadline: float = np.inf) -> list[np.ndarray]:
    """Design the ensembles one after another in :func:`start_order`, counting the cells earlier ensembles
    hold (criterion 1): each of the :func:`leads` by the best of ``lead_tries`` lone anneals of
    ``lead_sweeps`` sweeps around its best-ranked centres, every other one greedily around its best-ranked
    centre (or over the field). The scarce cells then go to the ensembles that cannot do without them, and the
    joint search starts cold from a design whose hard part is already placed. (Rules the start leaves unmet are
    checked after the first restart's annealing, by the search's feasibility pilot.)"""
    lead = leads(problem)
    counts = np.zeros(problem.n_cells, dtype=np.int64)
    members: list = [None] * problem.n_ensembles
    for e in start_order(problem, rng):
        sweeps, tries = (lead_sweeps, lead_tries) if lead[e] else (0, 1)
        members[e], _ = _design_alone(problem, e, rng, counts, sweeps, tries, deadline)
        counts[members[e]] += 1
    return members


def repair(problem: Problem, members: list[np.ndarray], rng: np.random.Generator, sweeps: int = 10,
           tries: int = 4, deadline: float = np.inf) -> list[np.ndarray]:
    """Redesign, alone, every ensemble that misses a rule (others fixed and counted), keeping the new version
    when it meets the rules. A last resort for an ensemble the joint search left in a bad place. Stops at
    ``deadline``, leaving the ensembles not yet redesigned as they were (they still meet every hard rule)."""
    from .evaluate import ensemble_figures

    members = [m.copy() for m in members]
    for e in range(problem.n_ensembles):
        if all(ensemble_figures(problem, e, members[e])["rules"].values()):
            continue
        if clock.now() > deadline:
            break
        counts = np.bincount(np.concatenate(members), minlength=problem.n_cells).astype(np.int64)
        counts[members[e]] -= 1
        candidate, _ = _design_alone(problem, e, rng, counts, sweeps, tries, deadline)
        if all(ensemble_figures(problem, e, candidate)["rules"].values()):
            members[e] = candidate
    return members

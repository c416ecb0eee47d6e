"""Search: greedy starts, batched heat-bath simulated annealing over replace and exchange moves, polish, restarts.

A restart first builds a start with :func:`~optimizer.construct.sequential_start`: the compact cotuned
ensembles first, each the best of a few lone anneals around its best-ranked centres, then the others greedily
around theirs, each counting the cells earlier ones took. Annealing then works in batched rounds
(:func:`~optimizer.batch.batch_round`): one member (slot) of each of up to 20 ensembles is scored against every
candidate replacement cell and every exchange with a member of another ensemble, in one pass of vectorised
operations, and each slot's move is drawn from the Boltzmann distribution p ∝ exp(−Δ/T) over those and staying
put (Δ = 0). This "heat-bath" move wastes no proposal on a rejection, and at T → 0 it becomes a best-improvement
move. The temperature falls geometrically over a fixed number of sweeps, from a start cold enough to keep the
compact ensembles where the start placed them (one sweep = every slot of every ensemble once, in random order —
three times for ensembles with a target orientation, which settle slowest);
greedy best-improvement sweeps (batched the same way), joint slot reassignments and ejection chains
(:func:`chain_polish`: a slot takes a cell another ensemble holds, which that ensemble replaces by its best
substitute) then run until none lowers the cost. On the best restart, claims (:func:`claim`: a compact cotuned
ensemble takes back the cells of its lone design from the diffuse ensembles that hold them) and relocations
(:func:`relocate`) then rearrange whole ensembles while the budget lasts.

Schedules are counted in sweeps, not seconds, so a seed gives the same design on any machine fast enough to
finish them within the time budget. On a slower one the schedule is compressed to fit the budget — it still ends
cold and polished, but the design then depends on timing (``RunStats.timed_out`` says so).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import clock
from .batch import BatchScorer, batch_round
from .construct import leads, repair, sequential_start
from .problem import Problem
from .state import SearchState

T_START = 0.02     # cost units: a few 12.5-mW power steps (0.006 each) or one unresponsive member (0.05)
#: Start of the joint anneal, from the start of :func:`~optimizer.construct.sequential_start` (compact cotuned
#: ensembles placed first by lone anneals): hot enough to trade cells between ensembles a few power steps at a
#: time, too cold to pull the placed ensembles apart again. From 0.02 the joint anneal forgets the start and
#: the compact cotuned ensembles settle wherever the contest for cells leaves them (docs/optimizer.md, Round 7).
T_START_JOINT = 0.005
T_END = 0.001      # below the smallest preference differences (one 12.5-mW power step is 0.006)
MAX_POLISH_SWEEPS = 20


@dataclass
class RunStats:
    sweeps: int = 0
    steps: int = 0
    polish_sweeps: int = 0
    timed_out: bool = False
    seconds: float = 0.0
    history: list = field(default_factory=list)   # (sweep, current cost) after each sweep


#: Visits per sweep to an ensemble with a target orientation, versus 1 for the others: cotuned ensembles compete
#: for scarce cells tuned near their targets and settle slowest, while untuned ones settle in a few sweeps. At
#: equal steps, 3 visits gave 7 % lower cost than 1 on the benchmark problem (2 and 4: 5 % and 7 %).
VISITS_WITH_TARGET = 3

#: Candidates whose cost change must exceed this many temperatures are not scored: their heat-bath weight is
#: below e^-12 (see :meth:`SearchState.replace_candidates`).
CUTOFF_TEMPERATURES = 12.0


def heat_bath_choice(delta: np.ndarray, temperature: float, rng: np.random.Generator | None) -> int:
    """Index drawn with probability ∝ exp(−Δ/T), or the best improvement when T ≤ 0 (−1 if none improves).
    +inf entries are never drawn; ``delta`` must hold at least one finite entry."""
    if temperature <= 0:
        b = int(np.argmin(delta))
        return b if delta[b] < -1e-9 else -1
    weights = np.exp(-(delta - delta.min()) / temperature)   # exp(-inf) = 0 for forbidden swaps
    cumulative = np.cumsum(weights)
    return int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))


def step(state: SearchState, e: int, slot: int, temperature: float, rng: np.random.Generator | None,
         exchanges: bool = True) -> float:
    """One heat-bath move on one slot over staying put, replacing and exchanging; returns the cost change.

    At temperature 0 the move is the best improvement, or nothing when no candidate lowers the cost.
    """
    cutoff = CUTOFF_TEMPERATURES * temperature if temperature > 0 else 0.0
    idx, delta = state.replace_deltas(e, slot, cutoff)
    parts = [np.zeros(1), delta]
    if exchanges and state.problem.n_ensembles > 1:
        slots, ex_delta = state.exchange_deltas(e, slot)
        parts.append(ex_delta)
    options = np.concatenate(parts)
    choice = heat_bath_choice(options, temperature, rng)
    if choice <= 0 or not options[choice] < np.inf:
        return 0.0
    n_replace = len(delta)
    if choice <= n_replace:
        cell = choice - 1 if isinstance(idx, slice) else int(idx[choice - 1])
        state.apply(e, slot, cell)
    else:
        state.apply_exchange(e, slot, int(slots[choice - 1 - n_replace]))
    return float(options[choice])


def anneal(problem: Problem, members: list[np.ndarray], rng: np.random.Generator, sweeps: int,
           deadline: float = np.inf, t_start: float = T_START, t_end: float = T_END,
           exchanges: bool = True, base_counts: np.ndarray | None = None,
           polish_deadline: float | None = None) -> tuple:
    """Anneal from ``members`` for ``sweeps`` sweeps (compressed to end by ``deadline``), then polish (until
    ``polish_deadline``, default ``deadline``); return (best members, best cost, RunStats)."""
    start = clock.now()
    state = SearchState(problem, members, base_counts)
    stats = RunStats()
    current = state.total()
    best, best_cost = state.snapshot(), current
    span = deadline - start
    scorer = BatchScorer(state) if problem.n_ensembles > 1 else None
    for s in range(sweeps):
        # Progress is the sweep fraction, or the time fraction once the run is a sweep behind the pace that
        # fits the budget: on a machine too slow for the sweeps, the schedule is compressed (still ending cold)
        # rather than cut off warm, while on a fast enough one the temperatures never depend on timing.
        progress = s / max(sweeps - 1, 1)
        elapsed = (clock.now() - start) / span if span > 0 else 1.0
        if elapsed > (s + 1) / sweeps:
            progress = max(progress, elapsed)
        temperature = t_start * (t_end / t_start) ** min(progress, 1.0)
        if problem.n_ensembles > 1:
            stats.steps += batched_sweep(state, scorer, rng, temperature, exchanges, deadline)
        else:
            stats.steps += single_sweep(state, rng, temperature)
        current = state.total()
        stats.sweeps += 1
        stats.history.append((s, current))
        if current < best_cost - 1e-12:
            best, best_cost = state.snapshot(), current
        if progress >= 1.0 or clock.now() > deadline:
            stats.timed_out = s < sweeps - 1
            break
    state = SearchState(problem, best, base_counts)
    polish_deadline = deadline if polish_deadline is None else polish_deadline
    stats.polish_sweeps = deep_polish(state, polish_deadline, exchanges=exchanges)
    stats.timed_out |= clock.now() > polish_deadline      # the polish may have been cut short
    stats.seconds = clock.now() - start
    return state.snapshot(), state.total(), stats


#: The start (:func:`~optimizer.construct.sequential_start`): each compact cotuned ensemble is the best of
#: :data:`LEAD_TRIES` lone anneals of :data:`LEAD_SWEEPS` sweeps around its best-ranked centres, designed before
#: the others, which are built greedily. Benchmark problem, 2-s budget, 48 seeds each: 4 × 8 lone sweeps with 20
#: joint ones 1.632, 4 × 6 with 26 1.635, 2 × 4 with 30 1.642, against 1.654 from greedy starts in random order
#: annealed from T = 0.02 (docs/optimizer.md, Round 7).
LEAD_SWEEPS = 8
LEAD_TRIES = 4

#: Lone sweeps the start spends on all compact cotuned ensembles together, at most: the preset's 5 × 4 × 8
#: (~0.7 s). With more of them each gets fewer tries (:func:`lead_tries`), so the start never eats the joint
#: anneal's time: with 10 compact cotuned ensembles, 4 tries each left one joint sweep in a 2-s budget
#: (+0.05 against the search of Round 6), 2 tries each 20 sweeps (+0.012 ± 0.009, 48 seeds).
LEAD_SWEEPS_IN_ALL = 160


def lead_tries(problem: Problem) -> int:
    """Lone anneals per compact cotuned ensemble in the start: :data:`LEAD_TRIES`, fewer when there are so many
    such ensembles that :data:`LEAD_SWEEPS_IN_ALL` would be exceeded (at least one)."""
    n_leads = max(int(leads(problem).sum()), 1)
    return int(np.clip(LEAD_SWEEPS_IN_ALL // (n_leads * LEAD_SWEEPS), 1, LEAD_TRIES))


def _rounds(problem: Problem, rng: np.random.Generator) -> list:
    """One sweep's batched rounds, in random order: (ensembles, slots) with each ensemble at most once per round;
    every slot of every ensemble once, and :data:`VISITS_WITH_TARGET` times for ensembles with a target."""
    plans = problem.plans
    rounds = []
    for visit in range(VISITS_WITH_TARGET):
        ens = [e for e, p in enumerate(plans) if visit == 0 or p.target_deg is not None]
        if not ens:
            break
        perms = [rng.permutation(plans[e].n_cells) for e in ens]
        for r in range(max(plans[e].n_cells for e in ens)):
            sel = [i for i, e in enumerate(ens) if plans[e].n_cells > r]
            rounds.append((np.array([ens[i] for i in sel]), np.array([perms[i][r] for i in sel])))
    return [rounds[i] for i in rng.permutation(len(rounds))]


def single_sweep(state: SearchState, rng: np.random.Generator, temperature: float) -> int:
    """One sweep of a one-ensemble problem, slot by slot (:func:`step`; a batch of one gains nothing)."""
    visits = VISITS_WITH_TARGET if state.problem.plans[0].target_deg is not None else 1
    n = state.problem.plans[0].n_cells
    for _ in range(visits):
        for slot in rng.permutation(n):
            step(state, 0, int(slot), temperature, rng, False)
    return visits * n


def batched_sweep(state: SearchState, scorer: BatchScorer, rng: np.random.Generator, temperature: float,
                  exchanges: bool, deadline: float = np.inf) -> int:
    """One sweep of batched heat-bath rounds (:func:`~optimizer.batch.batch_round`), cut short at ``deadline``;
    returns the slots visited."""
    exchanges = exchanges and state.problem.n_ensembles > 1
    redo = lambda e, slot: step(state, e, slot, temperature, rng, exchanges)  # noqa: E731
    visited = 0
    for ens, slots in _rounds(state.problem, rng):
        batch_round(scorer, ens, slots, temperature, rng, redo, exchanges)
        visited += len(ens)
        if clock.now() > deadline:
            break
    return visited


def polish(state: SearchState, deadline: float = np.inf, max_sweeps: int = MAX_POLISH_SWEEPS,
           exchanges: bool = True) -> int:
    """Greedy best-improvement over every slot until no move lowers the cost; returns the sweeps done. Slot k
    of every ensemble is improved in one batched round (:func:`~optimizer.batch.batch_round` at T = 0, scored
    in float64)."""
    problem = state.problem
    exchanges = exchanges and problem.n_ensembles > 1
    scorer = BatchScorer(state, np.float64)
    redo = lambda e, slot: step(state, e, slot, 0.0, None, exchanges)  # noqa: E731
    sizes = np.array([p.n_cells for p in problem.plans])
    for sweep in range(max_sweeps):
        improved = False
        for slot in range(int(sizes.max())):
            ens = np.flatnonzero(sizes > slot)
            before = state.total()
            batch_round(scorer, ens, np.full(len(ens), slot), 0.0, None, redo, exchanges)
            improved |= state.total() < before - 1e-9
            if clock.now() > deadline:
                return sweep + 1
        if not improved:
            return sweep + 1
    return max_sweeps


#: Ejection chains tried per slot: the cells held by other ensembles that would lower the slot's own ensemble
#: cost the most (see :func:`chain_polish`).
CHAIN_CANDIDATES = 3


def _slot_of(state: SearchState, f: int, cell: int) -> int:
    return int(np.flatnonzero(state.members[f] == cell)[0])


def chain_move(state: SearchState, e: int, slot: int, b: int) -> float:
    """Ejection chain: member ``slot`` of e → cell b, which another ensemble f holds; f then replaces b by its
    best replacement (possibly e's old member, i.e. an exchange). Kept if the two together lower the cost;
    returns the change (0 if undone)."""
    holders = [f for f in range(state.problem.n_ensembles) if f != e and np.any(state.members[f] == b)]
    if not holders:
        return 0.0
    a = int(state.members[e][slot])
    first = state.swap_delta(e, slot, b)
    if not first < np.inf:
        return 0.0
    state.apply(e, slot, b)
    f = holders[0]
    f_slot = _slot_of(state, f, b)
    idx, delta = state.replace_deltas(f, f_slot)
    k = int(np.argmin(delta))
    if first + delta[k] < -1e-9:
        state.apply(f, f_slot, k if isinstance(idx, slice) else int(idx[k]))
        return float(first + delta[k])
    state.apply(e, slot, a)
    return 0.0


def chain_polish(state: SearchState, deadline: float = np.inf) -> float:
    """One pass of ejection chains over every slot (see :func:`chain_move`): for each, the
    :data:`CHAIN_CANDIDATES` cells held elsewhere that would lower the slot's ensemble cost most, ignoring the
    sharing penalty the chain's second step removes. These resolve contests for scarce cells that single
    replacements and exchanges cannot (the cell's holder must itself find a substitute). Returns the change."""
    problem = state.problem
    total = 0.0
    for e in range(problem.n_ensembles):
        for slot in range(problem.plans[e].n_cells):
            idx, delta = state.replace_deltas(e, slot)
            cells = np.arange(problem.n_cells)[idx]
            held = state.counts[cells] > 0
            if not held.any():
                continue
            own = delta[held] - state.distinct_w * state.counts[cells[held]]
            order = np.argsort(own)[:CHAIN_CANDIDATES]
            for i in order:
                if own[i] >= -1e-9:
                    break
                change = chain_move(state, e, slot, int(cells[held][i]))
                if change < 0:
                    total += change
                    break
        if clock.now() > deadline:
            break
    return total


#: Cost standing in for a forbidden (hard-rule-breaking) cell in the assignment; far above any real change.
FORBIDDEN_COST = 1e6


def assignment_move(state: SearchState, slot: int) -> float:
    """Reassign the ``slot``-th member of every ensemble at once, exactly: with those members taken out, the
    cost is a sum over ensembles of each one's own change (the other members fixed) plus criterion 1 against
    the fixed members, so the best joint choice — each open slot a different cell — is a linear assignment
    (``scipy.optimize.linear_sum_assignment``) on the (ensembles × cells) matrix of marginal costs. This settles
    contests for scarce cells among many ensembles in one move. Applied only if it lowers the cost; returns the
    change."""
    from scipy.optimize import linear_sum_assignment

    problem = state.problem
    ens = [e for e in range(problem.n_ensembles) if problem.plans[e].n_cells > slot]
    open_cells = np.array([int(state.members[e][slot]) for e in ens])
    if len(set(open_cells.tolist())) < len(ens):
        return 0.0                       # the open slots share a cell: outside the assignment's domain
    fixed = state.counts.copy()
    np.subtract.at(fixed, open_cells, 1)
    matrix = np.empty((len(ens), problem.n_cells))
    for row, e in enumerate(ens):
        own, forbidden = state._ensemble_deltas(e, int(open_cells[row]), slice(None))
        own[open_cells[row]] = 0.0       # keeping the member changes nothing (exactly)
        forbidden[open_cells[row]] = False
        matrix[row] = np.where(forbidden, FORBIDDEN_COST, own + state.distinct_w * fixed)
    rows, cols = linear_sum_assignment(matrix)
    current = float(np.sum(matrix[np.arange(len(ens)), open_cells]))
    change = float(matrix[rows, cols].sum()) - current
    if change > -1e-9 or np.any(matrix[rows, cols] >= FORBIDDEN_COST):
        return 0.0
    for row, c in zip(rows, cols):
        state.apply(ens[row], slot, int(c))
    return change


def assignment_polish(state: SearchState, deadline: float = np.inf) -> float:
    """:func:`assignment_move` for every slot position; returns the total change."""
    total = 0.0
    for slot in range(max(p.n_cells for p in state.problem.plans)):
        total += assignment_move(state, slot)
        if clock.now() > deadline:
            break
    return total


def relocate_pass(state: SearchState, rng: np.random.Generator, deadline: float = np.inf, sweeps: int = 3,
                  tries: int = 2) -> float:
    """Large-neighbourhood moves: each ensemble with a finite spatial bound (its place in the field matters),
    costliest first, is redesigned alone around the best-ranked centres given the cells the others hold
    (:func:`~optimizer.construct._design_alone`) and the new version kept if it lowers the total cost. This moves
    a compact ensemble to another part of the field, which single-cell moves can only do through many costly
    intermediate states. Returns the change."""
    from .construct import _design_alone
    from .problem import single_ensemble

    problem = state.problem
    total = 0.0
    for e in np.argsort(-state.ens_cost, kind="stable"):
        e = int(e)
        if not np.isfinite(problem.plans[e].spatial_um[1]) or clock.now() > deadline:
            continue
        counts = state.counts - np.bincount(state.members[e], minlength=problem.n_cells)
        old = SearchState(single_ensemble(problem, e), [state.members[e]], counts).total()
        new, new_cost = _design_alone(problem, e, rng, counts, sweeps, tries, deadline)
        if new_cost < old - 1e-9:
            for slot, cell in enumerate(new):
                state.apply(e, slot, int(cell))
            total += new_cost - old
    return total


def deep_polish(state: SearchState, deadline: float = np.inf, exchanges: bool = True,
                max_rounds: int = 5) -> int:
    """Greedy polish, then rounds of joint slot reassignments (:func:`assignment_polish`) and ejection chains,
    each followed by a polish, until neither lowers the cost."""
    sweeps = polish(state, deadline, exchanges=exchanges)
    for _ in range(max_rounds):
        if clock.now() > deadline:
            break
        change = assignment_polish(state, deadline) if state.problem.n_ensembles > 1 else 0.0
        if chain_polish(state, deadline) + change > -1e-9:
            break
        sweeps += polish(state, deadline, exchanges=exchanges)
    return sweeps


#: Rounds of :func:`relocate_pass` (each followed by a deep polish) at most, while they lower the cost.
RELOCATE_ROUNDS = 3


def relocate(problem: Problem, members: list, rng: np.random.Generator, deadline: float = np.inf) -> tuple:
    """Rounds of :func:`relocate_pass` + :func:`deep_polish` until one gains nothing or the deadline passes;
    returns (members, cost)."""
    state = SearchState(problem, members)
    for _ in range(RELOCATE_ROUNDS):
        if clock.now() > deadline:
            break
        before = state.total()
        relocate_pass(state, rng, deadline)
        deep_polish(state, deadline)
        if state.total() > before - 1e-9:
            break
    return state.snapshot(), state.total()


#: A claim (:func:`claim`) is tried only when an ensemble's lone design beats its current own cost by this much
#: (cost units: a few orientation degrees, or half an unresponsive member), so that the full polish it needs is
#: spent only where the contest is costly.
CLAIM_GAP = 0.02

#: Claims are tried for this many of the costliest compact cotuned ensembles, each from the best of
#: :data:`CLAIM_TRIES` lone designs (3 sweeps each) around different ranked centres. On the benchmark problem
#: (30 sweeps, 64 seeds) nearly all the gain comes from the costliest ensemble: 1 × 4 tries −0.0060 ± 0.0014 for
#: +0.19 s CPU, 2 × 4 tries −0.0069 ± 0.0016 for +0.28 s, 2 × 2 tries −0.0037 ± 0.0012.
CLAIM_CANDIDATES = 2
CLAIM_TRIES = 4


def claim(problem: Problem, members: list, rng: np.random.Generator, deadline: float = np.inf,
          sweeps: int = 3, tries: int = CLAIM_TRIES, candidates: int | None = None) -> tuple:
    """Joint move for contests over scarce cells: a compact cotuned ensemble, costliest first, is redesigned
    alone (:func:`~optimizer.construct._design_alone`) as if the diffuse ensembles held none of their cells —
    only the other local ensembles count — and, where that lone design beats its current cost by
    :data:`CLAIM_GAP`, it takes those cells and the whole design is polished (:func:`deep_polish`), so the
    diffuse holders, which can find substitutes anywhere in the field, give the cells up and replace them. Kept
    only if the total drops. This rearranges several ensembles at once, which single moves and chains (one cell
    at a time, each step downhill) cannot: on the benchmark problem an ensemble left off its target or with an
    unresponsive member because a diffuse ensemble held the cells it needed. Returns (members, cost)."""
    from .construct import _design_alone
    from .problem import single_ensemble

    state = SearchState(problem, members)
    local = [e for e, p in enumerate(problem.plans) if np.isfinite(p.spatial_um[1])]
    allowed = set(np.flatnonzero(leads(problem)).tolist())      # the compact cotuned ensembles
    order = [e for e in np.argsort(-state.ens_cost, kind="stable").tolist() if e in allowed]
    for e in order[:CLAIM_CANDIDATES if candidates is None else candidates]:
        if clock.now() > deadline:
            break
        counts = np.zeros(problem.n_cells, dtype=np.int64)        # cells the other local ensembles hold
        for f in local:
            if f != e:
                counts[state.members[f]] += 1                          # members of one ensemble are distinct
        new, _ = _design_alone(problem, e, rng, counts, sweeps, tries, deadline)
        own_new = SearchState(single_ensemble(problem, e), [new]).total()
        if state.ens_cost[e] - own_new < CLAIM_GAP or clock.now() > deadline:
            continue
        trial = SearchState(problem, state.snapshot())
        for slot, cell in enumerate(new):
            trial.apply(e, slot, int(cell))
        deep_polish(trial, deadline)
        if trial.total() < state.total() - 1e-9:
            state = trial
    return state.snapshot(), state.total()


def _missing_rules(problem: Problem, members: list) -> list[int]:
    """Ensembles of a design that miss a rule."""
    from .evaluate import ensemble_figures

    return [e for e, m in enumerate(members) if not all(ensemble_figures(problem, e, m)["rules"].values())]


def _repair(problem: Problem, members: list, cost: float, seed: int, deadline: float, exchanges: bool) -> tuple:
    """:func:`~optimizer.construct.repair` (bounded by ``deadline``) and, if it changed anything, a polish;
    returns (members, cost)."""
    fixed = repair(problem, members, np.random.default_rng([seed, 1]), deadline=deadline)
    if all(np.array_equal(a, b) for a, b in zip(fixed, members)):
        return members, cost
    state = SearchState(problem, fixed)
    polish(state, deadline, exchanges=exchanges)
    return state.snapshot(), state.total()


@dataclass
class SearchOutcome:
    members: list
    cost: float
    restarts: list            # RunStats per restart
    timed_out: bool
    seconds: float


def search(problem: Problem, *, seed: int, restarts: int, sweeps: int, deadline: float = np.inf,
           reserve_s: float = 0.0, exchanges: bool = True, verify=None) -> SearchOutcome:
    """Anneal ``restarts`` independent starts (``sweeps`` each, from :func:`sequential_start`); keep the best.
    Annealing stops ``reserve_s`` before the deadline, leaving time for the polish and, on the best restart,
    claims (:func:`claim`: the costliest compact cotuned ensembles take back cells diffuse ones hold) and
    relocation rounds (:func:`relocate`: compact ensembles redesigned elsewhere in the field). ``verify(e)`` is
    called for each ensemble the first restart's annealing leaves missing a rule (the feasibility pilot, which
    raises for a rule that cannot be met). An ensemble the search leaves missing a rule is redesigned alone
    (:func:`~optimizer.construct.repair`, before and after relocation) and the design polished again. Every stage
    stops at ``deadline`` (:mod:`.clock`); all moves keep the hard rules, so a cut-short design still meets them.

    (Recombining the best version of each ensemble across restarts was tried: the restarts' ensembles compete for
    the same cheap cells, so the mix, once its shared cells were settled, never beat the best restart.)
    """
    start = clock.now()
    runs, stats = [], []
    start_s, planned = 0.0, restarts
    tries = lead_tries(problem)
    for r, child in enumerate(np.random.SeedSequence(seed).spawn(restarts)):
        if r >= planned:
            break
        rng = np.random.default_rng(child)
        t0 = clock.now()
        start_members = sequential_start(problem, rng, lead_sweeps=LEAD_SWEEPS, lead_tries=tries,
                                         deadline=deadline - reserve_s)
        start_s = max(start_s, clock.now() - t0)
        # Time left is shared by this restart's annealing and the later restarts (a start plus as long again to
        # anneal, at least); restarts that cannot fit are dropped, so the budget holds on a slow machine.
        remaining = deadline - reserve_s - clock.now()
        later = min(planned - r - 1, max(0, int((remaining - start_s) / (2.0 * start_s))) if start_s > 0 else 0)
        planned = r + 1 + later
        anneal_s = (remaining - later * start_s) / (1 + later)
        # No time left after the start (a heavily loaded machine or a tiny budget): only the polish runs.
        members, cost, st = anneal(problem, start_members, rng, sweeps if anneal_s > 0 else 0,
                                   clock.now() + anneal_s, t_start=T_START_JOINT,
                                   exchanges=exchanges, polish_deadline=deadline - 0.5 * reserve_s)
        st.timed_out |= anneal_s <= 0
        if verify is not None and r == 0:
            for e in _missing_rules(problem, members):
                verify(e)
        runs.append((cost, members))
        stats.append(st)
    best_cost, best = min(runs, key=lambda run: run[0])
    best, best_cost = _repair(problem, best, best_cost, seed, deadline, exchanges)
    if problem.n_ensembles > 1:
        # A claim or relocation in flight may pass its deadline by one ensemble's redesign: stop a little early.
        best, best_cost = claim(problem, best, np.random.default_rng([seed, 3]), deadline - 0.1 * reserve_s)
        best, best_cost = relocate(problem, best, np.random.default_rng([seed, 2]), deadline - 0.1 * reserve_s)
        best, best_cost = _repair(problem, best, best_cost, seed, deadline, exchanges)
    return SearchOutcome(members=best, cost=best_cost, restarts=stats,
                         timed_out=planned < restarts or any(s.timed_out for s in stats) or clock.now() > deadline,
                         seconds=clock.now() - start)

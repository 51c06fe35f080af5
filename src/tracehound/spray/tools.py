"""Which failed attempts are one tool: the partition of a cluster's attempts into rotating tools.

A spray tool picks, per attempt and at random, each field's value from a small set of its own —
client app among IMAP4 and Authenticated SMTP, exit country among six, user agent among four — and
keeps its schedule whatever it picked. So one tool's attempts follow one *product* distribution over
the fields (and over the week and the hour of day they come in): the fields vary independently of
each other and of time. Two tools in the same weeks are two products even when they share a value
(both speak IMAP4): one never sends the other's user agents, or never comes in its hours or weeks.
That is a latent-class model, and splitting a campaign by "client app always IMAP4" / "always SMTP"
when the tool rotates between them is exactly the error it avoids.

The partition is scored by the collapsed Dirichlet-multinomial marginal likelihood of each group's
per-field value counts (symmetric Dirichlet(``alpha``) per field and group; the user agent under a
mixture of two priors, see :data:`AGENT_CONCENTRATION`) plus a Chinese-restaurant prior on the
partition. That score needs no parameter count: an unused value costs nothing, a value
a group uses costs once, so a tool rotating among four user agents is cheaper as one group than as
four, and two tools are cheaper apart than merged only when their distributions differ. The search
is greedy and deterministic, starting from one group and applying the best of three moves while the
score improves: *split* a group in two (seeded by each frequent value of each field, polished by hard
EM), *merge* two groups, or *move* the part of a group that carries another group's values of a field
onto that group (a rotating tool's IMAP4 attempts that ended up with another IMAP4 tool go back to
the tool whose user agents they carry). Everything runs on the distinct value patterns with their
counts (a few thousand rows for one tenant, tens of thousands for 10M sign-ins), and each group is
scored on the (field, value) cells it uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import exp, lgamma

import numpy as np
from scipy.special import gammaln

#: Dirichlet parameters. A tool *chooses* its client apps, apps and user agents
#: out of many possible: two tools rarely pick the same, so a value used by a group is cheap to use
#: again and dear to use in another group (a small, sparse prior). Weeks, hours of day and countries
#: are the shared environment — two tools active in the same weeks, from the same hosting countries,
#: are common — so their prior is flat (Laplace).
TOOL_ALPHA = 0.1
#: A tool's user agents: either a handful of its own (a scripted tool rotating three odd agents) or a
#: spread over many that other senders use too (a sprayer rotating ordinary browsers). The agent
#: field is scored under a mixture of two priors: a Dirichlet whose *total* is ``AGENT_CONCENTRATION``
#: however many agents the tenant's unusual attempts carry (each value ``AGENT_CONCENTRATION / K``),
#: of prior probability ``OWN_AGENTS_PRIOR``, and ``TOOL_ALPHA`` per value (the spread). Under the
#: per-value prior alone, a tenant whose unusual attempts carry 60–300 agents let one tool's agents
#: be shared between groups cheaply: two tools of different client apps merged, or one tool's three
#: protocols spread over three groups. Under the small total alone, two browser sprays drawing on
#: the same ordinary browsers merged. Partitions with every campaign whole and pure, over 41
#: simulated tenants (seeds 1–5 standard and hard, 41–43, 61–63, 81–84, 101–104, 201–204, 221–223,
#: 301–306, 321–324: 400–5,000 accounts over 30–200 days; 272 campaigns): 224 under the per-value
#: prior; 242 under this mixture with 0.999 (0.99: 240, 0.5: fewer; 1 − 10⁻⁶ merges the hard
#: tenants' browser sprays again), every hard tenant as before.
AGENT_CONCENTRATION = 0.03
OWN_AGENTS_PRIOR = 0.999
#: The Chinese-restaurant prior's concentration, as its log: every group beyond the first costs this
#: many nats, so a new tool must explain the attempts better by a Bayes factor of e^20. The search
#: maximises over very many candidate partitions, and on one homogeneous campaign (124 attempts
#: over 40 days on 75 accounts, tests/test_spray_pipeline's tenant) its best spurious split gained 12
#: nats; the splits between real tools in the evaluation's tenants gain hundreds.
LOG_GAMMA = -20.0
CONTEXT_ALPHA = 1.0

#: Values of a field tried as the seed of a split, most frequent first.
SPLIT_SEEDS_PER_FIELD = 2
#: EM iterations that polish a seeded split, and how strongly the seed is believed at the start.
POLISH_ITERATIONS = 20
SEED_BELIEF = 0.8
#: Improvements smaller than this (nats) are treated as ties and not taken.
MIN_GAIN = 1e-6


def field_priors(codes: np.ndarray, *, tool: int, agent: bool, context: int) -> tuple[list, tuple | None]:
    """:func:`partition`'s ``alpha`` and ``either`` for ``codes`` whose fields are, in order, the
    ``tool`` fields a tool chooses (its agent last, when ``agent``), the ``context`` fields with the
    week and the hour of day, then the target list."""
    priors = [TOOL_ALPHA] * tool + [CONTEXT_ALPHA] * (context + 2) + [TOOL_ALPHA]
    if not agent or not len(codes):
        return priors, None
    return priors, (tool - 1, AGENT_CONCENTRATION / float(codes[:, tool - 1].max() + 1), OWN_AGENTS_PRIOR)


@dataclass(frozen=True)
class Partition:
    """The result: ``labels[i]`` is pattern ``i``'s group (0, 1, …, numbered by first pattern), and the
    score (log marginal likelihood + log prior) of the partition."""

    labels: np.ndarray
    score: float
    moves: int


class _Either:
    """The field scored under the mixture of two symmetric Dirichlet priors: its cells' range in the
    flat index space and, for each prior, its log weight, its parameter and its total."""

    def __init__(self, either, alpha: np.ndarray, sizes: np.ndarray, offsets: np.ndarray) -> None:
        field, alt, weight = either
        self.log_weight, self.log_alt_weight = float(np.log1p(-weight)), float(np.log(weight))
        self.lo, self.hi = int(offsets[field]), int(offsets[field] + sizes[field])
        self.alpha, self.alt = float(alpha[field]), float(alt)
        self.gammaln_alpha, self.gammaln_alt = lgamma(self.alpha), lgamma(self.alt)
        self.total, self.alt_total = self.alpha * int(sizes[field]), self.alt * int(sizes[field])
        self.gammaln_total, self.gammaln_alt_total = lgamma(self.total), lgamma(self.alt_total)


class _Model:
    """Count tables and scores of groups of weighted patterns (``codes``: patterns × fields)."""

    def __init__(self, codes: np.ndarray, weights: np.ndarray, alpha, either=None) -> None:
        self.codes = np.asarray(codes, dtype=np.int64)
        self.weights = np.asarray(weights, dtype=float)
        self.sizes = self.codes.max(axis=0) + 1 if len(self.codes) else np.zeros(self.codes.shape[1], np.int64)
        self.alpha = np.broadcast_to(np.asarray(alpha, dtype=float), self.sizes.shape).copy()
        offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.flat = self.codes + offsets  # one index space for every (field, value)
        self.width = int(self.sizes.sum())
        #: per field, the total of its Dirichlet parameters; per (field, value) index, the parameter and that total
        self.total = self.alpha * self.sizes
        self.alpha_flat = np.repeat(self.alpha, self.sizes)
        self.total_flat = np.repeat(self.total, self.sizes)
        self.gammaln_alpha_flat = gammaln(self.alpha_flat)
        #: the field scored under two priors (``either``), and the totals of the fields scored under one
        self.mixed = None if either is None else _Either(either, self.alpha, self.sizes, offsets)
        self.single_total = self.total[np.arange(len(self.sizes)) != (-1 if either is None else either[0])]
        self.const = float(gammaln(self.single_total).sum())
        self.every_cell = _Cells(self, np.arange(self.width))

    def counts(self, rows: np.ndarray) -> np.ndarray:
        """Summed (field, value) counts of the patterns ``rows`` picks (a mask, or indices in order)."""
        return self.every_cell.counts(self.flat[rows], self.weights[rows])

    def score(self, counts: np.ndarray) -> float:
        """Log marginal likelihood of one group's counts plus its CRP term ``log Γ(n)``."""
        return self.every_cell.score(counts)

    def cells(self, cells: np.ndarray) -> "_Cells":
        """The (field, value) cells ``cells`` (sorted flat indices) on their own: see :class:`_Cells`."""
        return _Cells(self, cells)


class _Cells:
    """Some (field, value) cells of a model, to count and score groups on just those.

    A group's score reads only the cells it uses, and a large hunt has thousands of cells (one per
    account tried twice) while a group uses a few dozen, so the search scores its candidate moves on
    the cells of the groups involved. The result is the same to the bit: the counts are integers
    (attempts), and the terms summed are the same, in the same order.
    """

    def __init__(self, model: _Model, cells: np.ndarray) -> None:
        self.model, self.cells = model, cells
        self.first = cells < model.sizes[0] if len(model.sizes) else np.zeros(len(cells), bool)
        self.alpha, self.gammaln_alpha = model.alpha_flat[cells], model.gammaln_alpha_flat[cells]
        self.total = model.total_flat[cells]  # each cell's field's total Dirichlet parameter
        mixed = model.mixed
        in_mixed = np.zeros(len(cells), bool) if mixed is None else (cells >= mixed.lo) & (cells < mixed.hi)
        #: the cells scored under one prior (a mask) and the mixed field's cells (positions)
        self.single_cells, self.mixed_at = ~in_mixed, np.flatnonzero(in_mixed)

    def counts(self, local: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Counts over these cells of patterns given by their ``local`` cell positions (patterns × fields)."""
        return np.bincount(local.ravel(), weights=np.repeat(weights, local.shape[1]), minlength=len(self.cells))

    def score(self, counts: np.ndarray) -> float:
        """:meth:`_Model.score` of a group whose counts, all on these cells, are ``counts``."""
        model = self.model
        n = float(counts[self.first].sum())
        if n <= 0:
            return 0.0
        one = (counts > 0) & self.single_cells
        mixed = float(np.logaddexp(*self._mixed_marginals(counts, n))) if model.mixed is not None else 0.0
        return (model.const - float(gammaln(model.single_total + n).sum())
                + float((gammaln(self.alpha[one] + counts[one]) - self.gammaln_alpha[one]).sum())
                + mixed + float(gammaln(n)) + LOG_GAMMA)

    def _mixed_marginals(self, counts: np.ndarray, n: float) -> tuple[float, float]:
        """The mixed field's log marginal likelihood under each of its two priors, each with its weight."""
        mixed, c = self.model.mixed, counts[self.mixed_at]
        c = c[c > 0]
        first = (mixed.log_weight - lgamma(mixed.total + n) + mixed.gammaln_total
                 + float((gammaln(mixed.alpha + c) - mixed.gammaln_alpha).sum()))
        second = (mixed.log_alt_weight - lgamma(mixed.alt_total + n) + mixed.gammaln_alt_total
                  + float((gammaln(mixed.alt + c) - mixed.gammaln_alt).sum()))
        return first, second

    def log_predictive(self, counts: np.ndarray, n: float) -> np.ndarray:
        """Each cell's log predictive probability in a group with (soft) ``counts`` over these cells: the
        mixed field's is the two priors' predictives weighted by how well each explains the group."""
        logp = np.log(counts + self.alpha) - np.log(n + self.total)
        mixed = self.model.mixed
        if mixed is not None and len(self.mixed_at):
            first, second = self._mixed_marginals(counts, n)
            weight = 1.0 / (1.0 + exp(min(max(second - first, -50.0), 50.0)))
            c = counts[self.mixed_at]
            p = (weight * (c + mixed.alpha) / (n + mixed.total)
                 + (1.0 - weight) * (c + mixed.alt) / (n + mixed.alt_total))
            logp[self.mixed_at] = np.log(p)
        return logp


def _pattern_sums(logp: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Each pattern's ``logp`` summed over its fields (``columns``: fields × patterns, flat indices).

    Added field by field, in field order: the same sums, to the bit, as gathering a patterns × fields
    block and summing its rows, at a quarter of the cost (a 2-D gather is most of an EM step).
    """
    total = logp[columns[0]]
    for column in columns[1:]:
        total += logp[column]
    return total


def partition(codes: np.ndarray, weights: np.ndarray, *, alpha=0.5, either=None, conjoin: tuple[int, ...] = (),
              max_moves: int = 400) -> Partition:
    """The product-categorical partition of ``codes`` (distinct patterns × fields, integer codes per field,
    in a fixed order) weighted by ``weights`` (attempts per pattern). ``alpha``: the Dirichlet parameter,
    one for all fields or one per field; ``either``: ``(field, alpha, weight)``, a field scored under the
    mixture of its ``alpha`` prior and this one, of prior probability ``weight``; ``conjoin``: the fields
    a tool chooses (client app, app, user agent), whose value combinations one group may hand to another.
    Deterministic for a given input."""
    conjoin = list(conjoin)
    model = _Model(codes, weights, alpha, either)
    n_patterns = len(model.codes)
    if n_patterns == 0:
        return Partition(np.zeros(0, np.int64), 0.0, 0)
    labels = np.zeros(n_patterns, np.int64)
    groups = {0: model.counts(labels == 0)}
    scores = {0: model.score(groups[0])}
    split_cache: dict[tuple[int, int], tuple[float, np.ndarray] | None] = {}
    pair_cache: dict[tuple[int, int, int, int], float] = {}
    move_cache: dict[tuple[int, int, int, int], tuple[float, np.ndarray] | None] = {}
    version = {0: 0}
    members: dict[int, _Group] = {}
    next_id, moves = 1, 0
    while moves < max_moves:
        best: tuple[float, tuple] | None = None

        def consider(gain: float, move: tuple) -> None:
            nonlocal best
            if gain > MIN_GAIN and (best is None or gain > best[0] + MIN_GAIN):
                best = (gain, move)

        ids = sorted(groups)

        def member(g: int) -> _Group:
            """Group ``g`` as it stands, built once per version of it."""
            if g not in members or members[g].version != version[g]:
                members[g] = _Group(model, labels == g, version[g])
            return members[g]

        for g in ids:
            key = (g, version[g])
            if key not in split_cache:
                split_cache[key] = _best_split(member(g), scores[g])
            found = split_cache[key]
            if found is not None:
                consider(found[0], ("split", g, found[1]))
        unions: dict[tuple[int, int], _Union] = {}  # a new pair's merge and both its moves share one

        def union(g: int, h: int) -> _Union:
            pair = (min(g, h), max(g, h))
            if pair not in unions:
                unions[pair] = _Union(member(pair[0]), member(pair[1]))
            return unions[pair]

        for i, g in enumerate(ids):
            for h in ids[i + 1:]:
                key = (g, version[g], h, version[h])
                if key not in pair_cache:
                    both = union(g, h).cells
                    merged = both.score(groups[g][both.cells] + groups[h][both.cells])
                    pair_cache[key] = merged - scores[g] - scores[h]
                consider(pair_cache[key], ("merge", g, h))
        for g in ids:
            for h in ids:
                if h == g:
                    continue
                key = (g, version[g], h, version[h])
                if key not in move_cache:
                    move_cache[key] = _best_move(member(g), union(g, h), groups[g], groups[h],
                                                 scores[g], scores[h], conjoin)
                found = move_cache[key]
                if found is not None:
                    consider(found[0], ("move", g, h, found[1]))
        if best is None:
            break
        move = best[1]
        if move[0] == "split":
            _, g, part = move
            labels[part] = next_id
            touched = [g, next_id]
            next_id += 1
        elif move[0] == "merge":
            _, g, h = move
            labels[labels == h] = g
            del groups[h], scores[h], version[h]
            touched = [g]
        else:
            _, g, h, part = move
            labels[part] = h
            touched = [g, h]
        for t in touched:
            groups[t] = model.counts(labels == t)
            scores[t] = model.score(groups[t])
            version[t] = version.get(t, -1) + 1
        moves += 1
    labels, score = _reassign(model, labels, float(sum(scores.values())))
    _, first = np.unique(labels, return_index=True)
    order = {int(labels[i]): k for k, i in enumerate(sorted(first))}
    final = np.array([order[int(x)] for x in labels], np.int64)
    return Partition(final, score, moves)


def _reassign(model: _Model, labels: np.ndarray, score: float) -> tuple[np.ndarray, float]:
    """Soft EM over all groups from the greedy partition (softened), hardened; kept if it scores better.

    The greedy moves hand over whole value sets. Attempts whose values two tools share (both rotate
    through the same user agent and client app) go, one by one, to the tool under which they are
    likelier — the one that uses those values more often, in those weeks, on those accounts.
    """
    ids = np.unique(labels)
    if len(ids) < 2:
        return labels, score
    flat, weights = model.flat.ravel(), model.weights
    columns = np.ascontiguousarray(model.flat.T)
    fields = model.flat.shape[1]
    resp = np.where(labels[:, None] == ids[None, :], SEED_BELIEF, (1.0 - SEED_BELIEF) / (len(ids) - 1))
    for _ in range(POLISH_ITERATIONS):
        loglik = np.empty_like(resp)
        for k in range(len(ids)):
            w = weights * resp[:, k]
            counts = np.bincount(flat, weights=np.repeat(w, fields), minlength=model.width)
            n = w.sum()
            logp = model.every_cell.log_predictive(counts, n)
            loglik[:, k] = _pattern_sums(logp, columns) + np.log(max(n, 1e-12))
        loglik -= loglik.max(axis=1, keepdims=True)
        new = np.exp(loglik)
        new /= new.sum(axis=1, keepdims=True)
        done = np.abs(new - resp).max() < 1e-3
        resp = new
        if done:
            break
    hard = ids[resp.argmax(axis=1)]
    new_score = sum(model.score(model.counts(hard == k)) for k in np.unique(hard))
    return (hard, float(new_score)) if new_score > score + MIN_GAIN else (labels, score)


class _Group:
    """One group of the search at one version: its patterns (``idx``, where ``mask`` over every pattern
    is set), the cells they use (``view``) and each pattern's positions among those cells (``local``,
    patterns × fields)."""

    def __init__(self, model: _Model, mask: np.ndarray, version: int) -> None:
        self.model, self.version = model, version
        self.idx = np.flatnonzero(mask)
        cells, local = np.unique(model.flat[self.idx], return_inverse=True)
        self.view, self.local = model.cells(cells), local.reshape(len(self.idx), -1)
        self.columns = np.ascontiguousarray(self.local.T)  # the same, fields × patterns
        self.weights = model.weights[self.idx]


class _Union:
    """The cells two groups use between them, and where each group's own cells fall among them:
    what scoring their merge, or a move from one to the other, reads."""

    def __init__(self, group: _Group, other: _Group) -> None:
        on = np.zeros(group.model.width, bool)
        on[group.view.cells] = on[other.view.cells] = True
        position = np.cumsum(on) - 1
        self.cells = group.model.cells(np.flatnonzero(on))
        self._into = {id(group): position[group.view.cells], id(other): position[other.view.cells]}

    def into(self, group: _Group) -> np.ndarray:
        """The positions of ``group``'s cells among the two groups' cells."""
        return self._into[id(group)]


def _best_move(group: _Group, union: _Union, counts: np.ndarray, other_counts: np.ndarray, score: float,
               other_score: float, conjoin: list[int]) -> tuple[float, np.ndarray] | None:
    """The best part of ``group`` to hand to the other group of ``union`` (whose counts and score
    are ``other_counts``, ``other_score``), as (gain, pattern indices), or None.

    Candidates: for each field, the attempts of ``group`` whose value on it is one the other group
    also uses (its rotation set); and the attempts whose values on every ``conjoin`` field are all
    the other's — the combinations its tool could have sent, when two tools share some values of
    each field. Only ``group``'s patterns are looked at (a pass over all of them per pair was most
    of a large hunt's time), and the moves are scored on the two groups' own cells.
    """
    shared = other_counts[group.view.cells] > 0  # the group's cells the other group uses too
    fits = [shared[column] for column in group.columns]
    if len(conjoin) > 1:
        fits.append(np.logical_and.reduce([fits[f] for f in conjoin]))
    fits = [fit for fit in fits if 0 < fit.sum() < len(group.idx)]
    if not fits:
        return None
    both, into = union.cells, union.into(group)  # the part moved lands on cells of ``group``
    mine, theirs = counts[group.view.cells], other_counts[both.cells]
    best = None
    for fit in fits:
        moved = group.view.counts(group.local[fit], group.weights[fit])
        landed = theirs.copy()
        landed[into] += moved
        gain = group.view.score(mine - moved) + both.score(landed) - score - other_score
        if best is None or gain > best[0] + MIN_GAIN:
            best = (gain, fit)
    return best[0], group.idx[best[1]]


def _best_split(group: _Group, whole: float) -> tuple[float, np.ndarray] | None:
    """The best two-way split of a group (gain, indices of the patterns that leave), or None.

    Seeds: for each field, its most frequent values, each one against the rest; each seed is
    polished by hard EM under the two groups' smoothed distributions.
    """
    idx, view, local, weights = group.idx, group.view, group.local, group.weights
    if len(idx) < 2:
        return None
    codes = group.model.codes[idx]
    best: tuple[float, np.ndarray] | None = None
    seen: set[bytes] = set()
    for f in range(codes.shape[1]):
        values, first = np.unique(codes[:, f], return_index=True)
        if len(values) < 2:
            continue
        weight = np.bincount(np.searchsorted(values, codes[:, f]), weights=weights)
        for v in values[np.lexsort((first, -weight))][:SPLIT_SEEDS_PER_FIELD]:
            side = _polish(group, codes[:, f] == v)
            if side is None or side.all() or not side.any():
                continue
            signature = np.packbits(side).tobytes()
            if signature in seen:
                continue
            seen.add(signature)
            gain = (view.score(view.counts(local[side], weights[side]))
                    + view.score(view.counts(local[~side], weights[~side])) - whole)
            if best is None or gain > best[0] + MIN_GAIN:
                best = (gain, group.idx[side])
    return best


def _polish(group: _Group, side: np.ndarray) -> np.ndarray | None:
    """Soft EM on two parts of ``group`` from a seeded split (``side``: a mask over its patterns),
    hardened at the end.

    The seed is softened (``SEED_BELIEF`` on its side) so that every value has some weight in both
    groups: a hard start could never move an attempt whose user agent the seed side has not seen,
    and a tool that rotates would stay cut along the seed's field. Only the group's cells take part,
    so a small group's EM step costs its own size, not the width of every value of every field.
    """
    view, columns, weights = group.view, group.columns, group.weights
    flat, fields, width = group.local.ravel(), len(columns), len(view.cells)
    resp = np.where(side, SEED_BELIEF, 1.0 - SEED_BELIEF)
    for _ in range(POLISH_ITERATIONS):
        loglik = []
        for r in (resp, 1.0 - resp):
            w = weights * r
            counts = np.bincount(flat, weights=np.repeat(w, fields), minlength=width)
            n = w.sum()
            logp = view.log_predictive(counts, n)
            loglik.append(_pattern_sums(logp, columns) + np.log(max(n, 1e-12)))
        diff = np.clip(loglik[1] - loglik[0], -50, 50)
        new = 1.0 / (1.0 + np.exp(diff))
        if np.abs(new - resp).max() < 1e-3:
            resp = new
            break
        resp = new
    return resp >= 0.5

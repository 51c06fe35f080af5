"""First-order Markov model of request-state transitions, with support counted in distinct clients.

The count behind ``P(next | prev)`` is the number of *distinct clients* that made the transition,
not the number of hits: a scanner repeating its own path a thousand times still counts once, so it
cannot teach the model that its path is normal, and training on all the data (attackers included)
stays robust. Scoring is leave-one-out: a transition's support is the number of *other* clients that
made it, so a path only the scored client ever walked reads "never seen from any other client" even
when the model was fitted on the same data.

Only clients the site actually *served* (at least one request answered below 400) vouch for a
transition by default. A bot that only collects 404s — one IP of a distributed WordPress probe, say —
has shown nothing about how the site is used; without this rule fifty botnet IPs probing
``/wp-login.php`` once each would make the probe look like a common way in. ``vouch="all"`` counts
every client.

Probabilities are additively smoothed (``alpha``) over the fitted state space plus one slot for
states never seen, so an unseen transition has a small, finite probability and a finite surprisal.

Only aggregates leave the engine: fitting stores the support table as Parquet in the engine's
staging area (the distinct (client, prev, state) triples it counts stay an expression); scoring
is a join.
"""

from __future__ import annotations

from typing import Sequence

import ibis
import pandas as pd

from ..engine import Engine
from ..errors import ConfigError, NotFittedError

#: Which clients count as support: only those the site served, or every client.
VOUCHES = ("served", "all")


def vouches(status: ibis.IntegerValue) -> ibis.BooleanValue:
    """A transition that shows its client was served: answered below 400 (``→ END`` never does)."""
    return status.fill_null(999) < 400


class TransitionModel:
    """``P(state | prev)`` from distinct-client support, additively smoothed.

    Parameters
    ----------
    alpha:
        Pseudo-count added to every transition (Laplace smoothing when 1). Must be positive.
    vouch:
        ``"served"`` (default): only clients with at least one request answered below 400 count
        as support; ``"all"``: every client does.
    """

    def __init__(self, alpha: float = 1.0, vouch: str = "served") -> None:
        self.alpha = alpha
        self.vouch = vouch

    def fit(self, transitions: ibis.Table, engine: Engine, client: Sequence[str] = ("client",)) -> "TransitionModel":
        """Learn support from a transitions table (``prev, state, status`` and the ``client``
        column(s) that name a client; see ``states``)."""
        if not self.alpha > 0:
            raise ConfigError(f"alpha must be positive, got {self.alpha!r}")
        if self.vouch not in VOUCHES:
            raise ConfigError(f"vouch must be one of {VOUCHES}, got {self.vouch!r}")
        self.client_ = list(client)
        if self.vouch == "served":
            served = transitions.filter(vouches(transitions.status)).select(*self.client_).distinct()
            transitions = transitions.semi_join(served, self.client_)
        # The triples stay an expression over the staged transitions: the support is counted from
        # them in one pass, and only scoring other traffic (the leave-one-out lookup) reads them again.
        self.triples_ = t = transitions.select(*self.client_, "prev", "state").distinct()
        self.support_ = engine.materialize(t.group_by(["prev", "state"]).agg(support=t.count()),
                                    "web-support")
        s = self.support_
        self.out_ = engine.materialize(s.group_by("prev").agg(out=s.support.sum()), "web-out")
        self.n_clients_ = int(engine.scalar(transitions.select(*self.client_).distinct().count()))
        # every state of a triple is in a (prev, state) pair of the support table
        states = s.select(state=s.prev).union(s.select(state=s.state)).distinct()
        self.n_states_ = int(engine.scalar(states.count()))
        self.n_transitions_ = int(engine.scalar(s.count()))
        self.engine_ = engine
        return self

    def _check(self) -> None:
        if not hasattr(self, "support_"):
            raise NotFittedError("this TransitionModel is not fitted yet; call fit() first")

    def score(self, transitions: ibis.Table, own: str | None = None,
              client: Sequence[str] | None = None) -> ibis.Table:
        """``transitions`` plus ``support`` (other clients), ``out`` (other clients leaving ``prev``),
        ``prob`` and ``surprisal`` (bits, ``-log2 prob``).

        ``own`` names a boolean column saying whether the row's client is among the fitted triples'
        clients, for scoring the very transitions the model was fitted on: each of those rows is
        then one of its client's own triples exactly when its client vouched (``vouches_client``
        from the sessions), which spares joining every row to the triples. Without it, the row's
        (client, prev, state) is looked up in the triples, the client by the ``client`` columns of
        ``transitions`` (those it was fitted with by default).
        """
        self._check()
        if own is None:
            mine = self.triples_.mutate(own=ibis.literal(1, "int64"))
            theirs = list(client) if client is not None else self.client_
            on = [transitions[a] == mine[b] for a, b in zip(theirs, self.client_)]
            on += [transitions.prev == mine.prev, transitions.state == mine.state]
            t = transitions.left_join(mine, on).select(transitions, own=mine.own.fill_null(0))
        elif self.vouch == "all":
            t = transitions.mutate(own=ibis.literal(1, "int64"))
        else:
            t = transitions.mutate(own=transitions[own].cast("int64"))
        t = t.left_join(self.support_, ["prev", "state"]).select(
            t, raw_support=ibis._.support.fill_null(0))
        t = t.left_join(self.out_, ["prev"]).select(t, raw_out=ibis._.out.fill_null(0))
        support = (t.raw_support - t.own).cast("int64")
        out = (t.raw_out - t.own).cast("int64")
        slots = self.n_states_ + 1
        # Double arithmetic on every engine: Spark reads a literal like 1.0 as DECIMAL, divides in
        # decimal and rounds the probability to 16 places, so the evidence would differ from DuckDB's.
        prob = (support.cast("float64") + self.alpha) / (out.cast("float64") + self.alpha * slots)
        t = t.mutate(support=support, out=out, prob=prob.cast("float64"))
        return t.mutate(surprisal=-(t.prob.log2())).drop("own", "raw_support", "raw_out")

    def transition_counts(self) -> pd.DataFrame:
        """The fitted support table (``prev, state, support``) as pandas, sorted; an aggregate."""
        self._check()
        s = self.support_
        return self.engine_.to_pandas(s.order_by(["prev", "state"]))

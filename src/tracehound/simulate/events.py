"""Columnar events: every simulated sign-in is a row of small integers pointing into shared tables.

Ten million sign-ins cannot be ten million Python dicts if they are to be written in minutes. So a sign-in
is one row of numpy arrays — time, user, result, and indices into tables of IPs, places, agents, apps and
labels — and strings are produced only when the writer turns whole columns into text at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from . import catalog
from .devices import Agent

#: The ``kind`` column of labels.csv. Benign kinds (label ``benign``): benign (an ordinary sign-in), typo
#: (50126 just before the user's own success), expired_password (50055), mfa_interrupt (50074/50140/500121),
#: traveller (a sign-in during a trip abroad), new_device (from a replacement phone or laptop),
#: service_account (the misconfigured account on a clock). Attack kinds (label = campaign name):
#: low_and_slow_spray, fast_spray, brute_force; external is the default for injected records.
#: stale_credential (label = its name): a planted service whose password was changed, still signing in
#: with the old one on a clock — benign, but not an ordinary sign-in.
KINDS: tuple[str, ...] = ("benign", "typo", "expired_password", "mfa_interrupt", "traveller", "new_device",
                          "service_account", "low_and_slow_spray", "fast_spray", "brute_force", "external",
                          "stale_credential")
KIND = {k: i for i, k in enumerate(KINDS)}


class Tables:
    """The string tables events point into. Appending returns the new row's index."""

    def __init__(self) -> None:
        self.users: list[tuple[str, str, str]] = []  # (UserPrincipalName, UserDisplayName, UserId)
        self.ips: list[str] = []
        self.places: list[catalog.City] = []
        self.agents: list[Agent] = []
        self.labels: list[str] = ["benign"]
        self._place_index: dict[tuple[str, str], int] = {}
        self._ip_index: dict[str, int] = {}
        self._label_index: dict[str, int] = {"benign": 0}

    def place(self, country: str, city: str) -> int:
        key = (country, city)
        if key not in self._place_index:
            match = [c for c in catalog.CITIES if c.country == country and c.city == city]
            if not match:
                raise KeyError(f"unknown city {city!r} in {country!r}")
            self._place_index[key] = len(self.places)
            self.places.append(match[0])
        return self._place_index[key]

    def ip(self, address: str) -> int:
        if address not in self._ip_index:
            self._ip_index[address] = len(self.ips)
            self.ips.append(address)
        return self._ip_index[address]

    def agent(self, agent: Agent) -> int:
        self.agents.append(agent)
        return len(self.agents) - 1

    def label(self, name: str) -> int:
        if name not in self._label_index:
            self._label_index[name] = len(self.labels)
            self.labels.append(name)
        return self._label_index[name]


@dataclass
class Events:
    """A batch of sign-ins as parallel arrays (see module docstring). ``ext`` ≥ 0 marks an external record."""

    time_ms: np.ndarray      # int64, Unix epoch milliseconds UTC
    user: np.ndarray         # int32 → Tables.users
    result: np.ndarray       # int32, ResultType
    ip: np.ndarray           # int32 → Tables.ips
    place: np.ndarray        # int32 → Tables.places
    agent: np.ndarray        # int32 → Tables.agents
    app: np.ndarray          # int16 → catalog.APPS
    client: np.ndarray       # int8  → catalog.CLIENTS
    interactive: np.ndarray  # bool
    label: np.ndarray        # int16 → Tables.labels
    kind: np.ndarray         # int8  → KINDS
    ext: np.ndarray          # int32 → external records, -1 for simulated rows

    def __len__(self) -> int:
        return len(self.time_ms)

    @classmethod
    def build(cls, n: int, **cols) -> "Events":
        """A batch of ``n`` rows; columns not given get their neutral value (benign, success, no external)."""
        dtypes = {"time_ms": np.int64, "user": np.int32, "result": np.int32, "ip": np.int32, "place": np.int32,
                  "agent": np.int32, "app": np.int16, "client": np.int8, "interactive": bool,
                  "label": np.int16, "kind": np.int8, "ext": np.int32}
        defaults = {"ext": -1, "interactive": True}
        out = {}
        for name, dtype in dtypes.items():
            value = cols.pop(name, defaults.get(name, 0))
            arr = np.asarray(value, dtype=dtype)
            out[name] = np.broadcast_to(arr, (n,)).copy() if arr.ndim == 0 else arr
        if cols:
            raise TypeError(f"unknown event columns: {sorted(cols)}")
        return cls(**out)

    def take(self, idx: np.ndarray) -> "Events":
        return Events(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @staticmethod
    def concat(batches: list["Events"]) -> "Events":
        return Events(**{f.name: np.concatenate([getattr(b, f.name) for b in batches])
                         for f in fields(Events)})

"""The spray hunt: low-and-slow password spray campaigns in sign-in logs (MSTIC's method, completed).

Pipeline (each step its own module): :mod:`.rarity` turns failed sign-ins into anomaly bit-patterns in
the engine, :mod:`.mixture` clusters the distinct patterns, :mod:`.campaigns` builds and measures
campaigns from the clusters and :mod:`.pruning` judges them, :mod:`.fingerprint` describes them,
:mod:`.successes` finds the successful sign-ins that match them, :mod:`.narrative` and
:mod:`.evidence` write the findings, and :mod:`.hunter` ties it together as :class:`SprayHunter`
on the hunt contract. The pipeline knows it through :data:`HUNTS` and :data:`KINDS`.
"""

from ..contract import HuntEntry
from .hunter import PRESETS, SprayHunter, spray_hunt
from .kinds import KINDS
from .mixture import BernoulliMixture, ConvergenceWarning
from .scores import SprayScores

HUNTS: tuple[HuntEntry, ...] = (
    HuntEntry(section="spray", table="signins", build=spray_hunt, kinds=tuple(k.name for k in KINDS),
              description="low-and-slow password sprays in sign-in logs"),
)

__all__ = ["BernoulliMixture", "ConvergenceWarning", "HUNTS", "KINDS", "PRESETS", "SprayHunter", "SprayScores",
           "spray_hunt"]

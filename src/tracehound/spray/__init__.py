"""The spray hunt: low-and-slow password spray campaigns in sign-in logs (MSTIC's method, completed).

Pipeline (each step its own module): :mod:`.rarity` turns failed sign-ins into anomaly bit-patterns in
the engine, :mod:`.mixture` clusters the distinct patterns, :mod:`.pruning` keeps the clusters that
behave like a campaign, :mod:`.fingerprint` describes them and finds matching successes, and
:mod:`.hunt` ties it together as :class:`SprayHunter`.
"""

from .hunt import PRESETS, SprayHunter, hunt_signins
from .mixture import BernoulliMixture, ConvergenceWarning

__all__ = ["BernoulliMixture", "ConvergenceWarning", "PRESETS", "SprayHunter", "hunt_signins"]

"""Fan-out hunts: one entity reaching unusually many distinct targets in a time bucket.

Lateral movement (user → hosts), password guessing (source → accounts), logon brute force (failed
logons per account), host scans (source → destination IPs), port scans (source → ports), sustained
AV detections (user → detections per day), user-defined hunts, and protocol/port mismatch from Zeek
conn.log. ``HUNTS`` declares them to the pipeline, ``kinds.KINDS`` their finding kinds.
"""

from .detector import SEED_ONLY, FanoutDetector, FanoutScores
from .hunts import HUNTS, custom_fanout
from .kinds import KINDS
from .mismatch import MismatchScores, ProtocolMismatch
from .presets import PRESETS, FanoutSpec, custom_spec, parse_where, preset

__all__ = ["FanoutDetector", "FanoutScores", "SEED_ONLY", "ProtocolMismatch", "MismatchScores", "PRESETS",
           "FanoutSpec", "custom_spec", "custom_fanout", "parse_where", "preset", "HUNTS", "KINDS"]

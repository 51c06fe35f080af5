"""Fan-out hunts: one entity reaching unusually many distinct targets in a time bucket.

Lateral movement (user → hosts), host scans (source → destination IPs), port scans (source → ports),
sustained AV detections (user → detections per day), user-defined hunts, and protocol/port mismatch
from Zeek conn.log.
"""

from .detector import SEED_ONLY, FanoutDetector
from .mismatch import ProtocolMismatch
from .presets import PRESETS, FanoutSpec, custom_spec, parse_where, preset

__all__ = ["FanoutDetector", "SEED_ONLY", "ProtocolMismatch", "PRESETS", "FanoutSpec", "custom_spec",
           "parse_where", "preset"]

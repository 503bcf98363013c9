"""intcap stages: ingest -> segment -> embed -> classify -> profile -> report."""
import os

# torch's OpenMP threads wait for work by sleeping, not spinning: on cores shared with other work a spinning
# thread waits for a descheduled one (a cold run took 30 s instead of 15 s beside one busy process; measured
# in bench/pipeline_bench.py's cold part). Must be set before torch is imported; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pipeline.records import CODES, CodeProfile, CodeScore, Coding, Passage, Profile, Transcript, Turn  # noqa: E402

__all__ = ["CODES", "CodeProfile", "CodeScore", "Coding", "Passage", "Profile", "Transcript", "Turn"]

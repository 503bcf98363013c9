"""intcap stages: ingest -> segment -> embed -> classify -> profile -> report."""
from pipeline.records import CODES, CodeProfile, CodeScore, Coding, Passage, Profile, Transcript, Turn

__all__ = ["CODES", "CodeProfile", "CodeScore", "Coding", "Passage", "Profile", "Transcript", "Turn"]

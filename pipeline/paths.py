"""Where the bundled data and the default model live (resolved from the checkout)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
THESIS = CORPUS / "thesis"
INTERVIEWS = THESIS / "interviews"
CODED_PASSAGES = THESIS / "coded_passages.jsonl"
COMPANY_RATINGS = THESIS / "company_ratings.csv"
CODEBOOK = THESIS / "codebook.json"
REFI_SCHEMAS = CORPUS / "refi-qda"
MODELS = ROOT / "models"
DEFAULT_MODEL = MODELS / "default"
#: written into every results folder, so a later run never reads results as transcripts
RESULTS_MARKER = ".intcap-results"


def embedding_cache() -> Path:
    """The embedding cache file: $INTCAP_CACHE_DIR, else .cache/ in the checkout."""
    return Path(os.environ.get("INTCAP_CACHE_DIR") or ROOT / ".cache") / "embeddings.sqlite"

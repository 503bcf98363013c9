"""Contract of Store.commit_files: a coding batch's files written in one transaction, exactly as
committing them one by one would write them, and all of them or none."""
from __future__ import annotations

import random
from dataclasses import replace

import pytest

try:
    from test_store import coding, transcript
except ImportError:  # tests/ imported as a package
    from tests.test_store import coding, transcript

from pipeline.errors import StoreError
from pipeline.store import open_store


def batch(rng: random.Random, version: str = "v1") -> list[tuple]:
    """Three files: one with two transcripts, one with none coded, one replacing a known file."""
    return [
        ("a.txt", "fa", "added", [(transcript("a.txt", "A"), [coding(f"a-{i}", "A", "a.txt", rng, version)
                                                              for i in range(3)]),
                                  (transcript("a.txt", "A2"), [coding("a2-0", "A2", "a.txt", rng, version)])]),
        ("b.txt", "fb", "added", [(transcript("b.txt", "B"), [])]),
        ("old.txt", "f2", "changed", [(transcript("old.txt", "O"), [coding("o-0", "O", "old.txt", rng, version)])]),
    ]


def seeded(store) -> int:
    run, _ = store.begin_run("/corpus", "v1")
    store.commit_file(run, "old.txt", "f1", "added", "v1",
                      [(transcript("old.txt", "O"), [coding(f"o-{i}", "O", "old.txt", random.Random(9))
                                                     for i in range(4)])])
    return run


def test_a_batch_writes_what_file_by_file_commits_write(tmp_path):
    with open_store(tmp_path / "together.db") as together, open_store(tmp_path / "apart.db") as apart:
        run_t, run_a = seeded(together), seeded(apart)
        counts = together.commit_files(run_t, "v1", batch(random.Random(1)))
        apart_counts = [apart.commit_file(run_a, path, fp, action, "v1", coded)
                        for path, fp, action, coded in batch(random.Random(1))]
        assert counts == apart_counts == [4, 0, 1]
        assert together.dump() == apart.dump()
        dump = together.dump()
    assert [s["path"] for s in dump["sources"]] == ["a.txt", "b.txt", "old.txt"]
    assert len(dump["passages"]) == 5 and len(dump["transcripts"]) == 4  # old.txt's 4 passages replaced by 1
    assert together.commit_files(run_t, "v1", []) == []


def test_a_batch_is_written_whole_or_not_at_all(tmp_path):
    with open_store(tmp_path / "r.db") as store:
        run = seeded(store)
        before = store.dump()
        files = batch(random.Random(2))
        broken = files[2][3][0][1][0]
        files[2][3][0][1][0] = replace(broken, passage=replace(broken.passage, text=None))  # NOT NULL column
        with pytest.raises(StoreError, match="r.db"):
            store.commit_files(run, "v1", files)
        assert store.dump() == before  # neither a.txt nor b.txt went in; old.txt kept its 4 passages

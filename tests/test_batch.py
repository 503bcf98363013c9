"""Contract of pipeline.batch.guided_groups: consecutive batches, guided by size, for parallel workers."""
from __future__ import annotations

import heapq
from itertools import accumulate

import pytest

from pipeline import paths
from pipeline.batch import GUIDED_MAX_BYTES, GUIDED_MIN_BYTES, guided_groups

THESIS_SIZES = [f.stat().st_size for f in sorted(paths.INTERVIEWS.glob("*.md"))]


def group_sizes(sizes: list[int], groups: list[int]) -> list[int]:
    ends = [0, *accumulate(groups)]
    return [sum(sizes[a:b]) for a, b in zip(ends, ends[1:])]


def makespan(batch_sizes: list[int], workers: int, per_batch: float = 0.0) -> float:
    """When the last of ``workers`` finishes, each taking the next batch as soon as it is free."""
    free = [0.0] * workers
    for size in batch_sizes:
        heapq.heappush(free, heapq.heappop(free) + size + per_batch)
    return max(free)


@pytest.mark.parametrize("sizes", [THESIS_SIZES * 10, [210] * 10_000, [5_000] * 7 + [900_000] + [3_000] * 50, []])
@pytest.mark.parametrize("workers", [1, 2, 8])
def test_every_item_once_in_order_and_within_the_bounds(sizes, workers):
    groups = guided_groups(sizes, workers)
    assert sum(groups) == len(sizes) and all(n >= 1 for n in groups)
    remaining = sum(sizes)
    for n, size in zip(groups, group_sizes(sizes, groups)):
        share = min(GUIDED_MAX_BYTES, max(GUIDED_MIN_BYTES, remaining / (2 * workers)))
        assert n == 1 or size <= share  # an item over its share is a batch of its own
        remaining -= size


def test_first_batches_large_last_ones_small():
    sizes = [210] * 10_000  # 10,000 short generated transcripts
    groups = guided_groups(sizes, 2)
    assert groups == sorted(groups, reverse=True)  # equal items: never a larger batch after a smaller one
    assert groups[0] == 2500  # a quarter of the corpus: 2 workers x factor 2
    assert sum(group_sizes(sizes, groups)[-2:]) <= 2 * GUIDED_MIN_BYTES
    assert len(groups) < 10_000 / 16 / 20  # far fewer batches than 16 files each (625)


def test_workers_finish_together_with_few_batches():
    sizes = THESIS_SIZES * 10  # the benchmark's 140 files
    for workers, bound in ((2, 1.02), (4, 1.04)):
        batches = group_sizes(sizes, guided_groups(sizes, workers))
        ideal = sum(sizes) / workers
        # with a per-batch cost of 500 bytes of coding (about 50 ms) the batches and the tail lose little
        assert makespan(batches, workers, per_batch=500) <= bound * ideal
        fixed = [sum(sizes[i:i + 16]) for i in range(0, len(sizes), 16)]  # the old 16 files per batch
        assert makespan(batches, workers) < makespan(fixed, workers)


def test_memory_bound_and_oversized_items():
    sizes = [1_000] * 100_000  # 100 MB of transcripts
    assert max(group_sizes(sizes, guided_groups(sizes, 2))) <= GUIDED_MAX_BYTES
    assert guided_groups([10, 3 * GUIDED_MAX_BYTES, 10], 1) == [1, 1, 1]


def test_bad_worker_count_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        guided_groups([1, 2], 0)

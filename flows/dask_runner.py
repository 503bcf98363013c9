"""Task runners for the refresh flow: a thread in this process, a local Dask cluster
(``--workers N``) or an existing one (``--dask-address tcp://HOST:8786``).

A local cluster runs one single-threaded worker process per core asked for, and
gives each worker's torch an equal share of the machine's cores
(``INTCAP_TORCH_THREADS``), so N workers do not fight over the same cores. On an
existing cluster the workers' environment decides (see docs/SCHEDULING.md).
"""
from __future__ import annotations

import logging
import os

from pipeline.errors import IntcapError
from pipeline.refresh import THREADS_ENV


def worker_env(workers: int, torch_threads: int | None = None) -> dict[str, str]:
    threads = torch_threads or max(1, (os.cpu_count() or 1) // max(workers, 1))
    return {
        THREADS_ENV: str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    }


def task_runner(workers: int | None = None, dask_address: str | None = None, *, torch_threads: int | None = None):
    """The Prefect task runner for these options."""
    if workers is not None and dask_address:
        raise IntcapError("give either --workers (a local Dask cluster) or --dask-address (an existing one), not both")
    if dask_address:
        from prefect_dask import DaskTaskRunner

        if not dask_address.startswith(("tcp://", "tls://", "ws://", "wss://", "inproc://", "ucx://")):
            raise IntcapError(f"--dask-address {dask_address!r}: expected a scheduler address like tcp://HOST:8786")
        return DaskTaskRunner(address=dask_address)
    if workers is not None:
        if workers < 1:
            raise IntcapError(f"--workers {workers}: need at least 1")
        from prefect_dask import DaskTaskRunner

        logging.getLogger("distributed").setLevel(logging.ERROR)  # the cluster's chatter is not ours to show
        return DaskTaskRunner(cluster_kwargs={
            "n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None,
            "silence_logs": logging.ERROR,
            "env": worker_env(workers, torch_threads),
        })
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=1)


def parallelism(runner) -> int:
    """How many batches the runner codes at once (Dask: the cluster's threads)."""
    client = getattr(runner, "client", None) if type(runner).__name__ == "DaskTaskRunner" else None
    if client is None:
        return 1
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # noqa: BLE001 - a cluster still starting: assume one
        return 1

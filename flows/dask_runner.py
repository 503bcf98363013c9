"""Task runners for the refresh flow: a thread in this process, a local Dask cluster
(``--workers N``) or an existing one (``--dask-address tcp://HOST:8786``).

A local cluster runs one single-threaded worker process per core asked for, and
gives each worker's torch an equal share of the machine's cores
(``INTCAP_TORCH_THREADS``, unless that is set already), so N workers do not fight over
the same cores. On an existing cluster the workers' environment decides (see
docs/SCHEDULING.md). The refresh sizes its batches for the cluster's workers
(:func:`dask_workers`; ``pipeline.batch.guided_groups``).

Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; setting it turns off
glibc's dynamic mmap threshold, so every activation tensor torch allocates is a fresh
mmap and its page faults: the same encoding took 2.3 s of CPU in such a worker against
1.85 s in a plain process (and 1.86 s in a worker started without it). Local clusters
start their workers without it, and with fewer of the periodic wake-ups that feed only the
dashboard (off here): the statistical profiler (a stack sample every 10 ms), the system
monitor (every 0.5 s), the event-loop tick (every 20 ms), the memory monitor (every 0.1 s).
An idle 2-worker cluster took 1.3 s of CPU per 20 s with Dask's defaults and 0.26 s so
(:func:`local_worker_config`); for a team cluster docs/SCHEDULING.md shows the Dask
config file that does the same.

Before the first batch is sent, every worker loads the coder once, all at the same time
(:func:`warm_workers`): the model is never shipped, and no batch waits for a load (a worker
joining later warms up as it joins).
"""
from __future__ import annotations

import logging
import os

from pipeline.errors import IntcapError
from pipeline.refresh import THREADS_ENV

TRIM_ENV = "MALLOC_TRIM_THRESHOLD_"
#: what Dask's nannies set it to (distributed.nanny.pre-spawn-environ)
DASK_TRIM_VALUE = "65536"


def worker_env(workers: int, torch_threads: int | None = None) -> dict[str, str]:
    """The environment of a local cluster's workers: torch (and OpenMP/MKL) threads per worker are
    ``torch_threads``, else ``INTCAP_TORCH_THREADS`` if set, else an equal share of the cores."""
    threads = torch_threads or _int(os.environ.get(THREADS_ENV)) or max(1, (os.cpu_count() or 1) // max(workers, 1))
    return {
        THREADS_ENV: str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    }


#: Dask settings for intcap's workers (see above); docs/SCHEDULING.md has them as a config file
WORKER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.tick.interval": "500ms",
    "distributed.worker.memory.monitor-interval": "1s",
}


def local_worker_config() -> None:
    """The local cluster this process starts from now on (its scheduler, nannies and workers) runs
    with :data:`WORKER_CONFIG` (see above)."""
    import dask

    dask.config.set(WORKER_CONFIG)
    if os.environ.get(TRIM_ENV) == DASK_TRIM_VALUE:  # an earlier nanny of this process put it here
        del os.environ[TRIM_ENV]


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
        local_worker_config()
        return DaskTaskRunner(cluster_kwargs={
            "n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None,
            "silence_logs": logging.ERROR,
            "env": worker_env(workers, torch_threads),
        })
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=1)


def _int(value: str | None) -> int | None:
    try:
        return max(1, int(value)) if value else None
    except ValueError:
        raise IntcapError(f"{THREADS_ENV}={value!r}: expected a number of threads") from None


def dask_workers(runner) -> int | None:
    """How many batches a Dask task runner codes at once; None for a runner that is not Dask."""
    return parallelism(runner) if type(runner).__name__ == "DaskTaskRunner" else None


class WarmCoder:
    """A Dask worker plugin: load this run's coder in the worker, once, as the plugin is added
    (and as workers join later), off the worker's event loop."""

    name = "intcap-warm-coder"
    idempotent = False

    def __init__(self, model_dir: str, version: str):
        self.model_dir, self.version = model_dir, version

    async def setup(self, worker) -> None:
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, self.warm)

    def warm(self) -> None:
        try:
            from pipeline.batch import warm_up
            from pipeline.refresh import worker_coder

            warm_up(worker_coder(self.model_dir, self.version).encoder)  # weights, tokenizer, sentencizer
        except Exception:  # noqa: BLE001 - the first batch meets the same problem and reports it by file
            logging.getLogger(__name__).warning("warming up the coder failed", exc_info=True)


def warm_workers(runner, model_dir: str, version: str) -> None:
    """Load the coder on every worker of a Dask runner now, in parallel (see :class:`WarmCoder`)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    plugin = type("WarmCoderPlugin", (WarmCoder, WorkerPlugin), {})(model_dir, version)
    runner.client.register_plugin(plugin)


def parallelism(runner) -> int:
    """How many batches the runner codes at once (Dask: the cluster's threads)."""
    client = getattr(runner, "client", None) if type(runner).__name__ == "DaskTaskRunner" else None
    if client is None:
        return 1
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # noqa: BLE001 - a cluster still starting: assume one
        return 1

"""Scale-out benchmark (not a test): Dask workers against plain processes, in one run; writes
bench/results/dask.json.

    .venv/bin/python bench/dask_bench.py                        # both parts (about 10 minutes on 2 cores)
    .venv/bin/python bench/dask_bench.py --only speedup          # 1 vs 2 workers and the plain ceiling
    .venv/bin/python bench/dask_bench.py --only generated --transcripts 10000

speedup    10 copies of the bundled interviews (140 files, 1,980 passages), real encoder, one torch
           thread per coder, each run in a fresh process with a fresh database:
             dask 1, dask 2   ``intcap refresh --workers N`` as the CLI runs it (flows.run.run_refresh:
                              Prefect's temporary server, a local Dask cluster, batches sized to the workers)
             plain 1          one plain process (``refresh`` without Prefect or Dask) on all 140 files
             plain 2          two plain processes at once, each on half (copies 0-4 and 5-9: equal work)
           The plain pair is the machine's own ceiling for 2 vs 1 right now. Reported: the warm-up
           (Dask: every worker loads the coder at once before the first batch; plain: the process
           loads it before its first batch), the coding window (first batch sent -> last result
           back) and the whole wall time (process start to exit: Python, imports, Prefect's server,
           the cluster, warm-up, coding, profiles); speed-ups 2 vs 1 of the window and the wall;
           Dask's speed-up over the plain one; CPU seconds by process (flow, Prefect server, each
           worker), each worker's busy seconds, batches, peak memory (VmHWM) per worker.
generated  N generated transcripts (two one-sentence paragraphs each, as bench/pipeline_bench.py
           makes them) with the real encoder on 1 and 2 Dask workers: coding time, peak memory per worker.

Every heavy run here belongs under ``flock /tmp/intcap-heavy.lock`` on a shared machine. Before each
run the bench waits (``--quiet``, up to 300 s) until the machine's CPU is idle, and records how busy it
was, the load average before and after, and, for Dask, the CPU share the coding threads got over the
window (about 1.0 when nothing else wanted the cores; well under it means the run met other work).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_UI_ENABLED": "false",
           "PREFECT_LOGGING_LEVEL": "WARNING"}
ONE_THREAD = {"INTCAP_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def busy_fraction(seconds: float = 3.0) -> float:
    """How much of the machine's CPU was in use over the last ``seconds`` (from /proc/stat)."""
    def sample():
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    (t0, i0), _ = sample(), time.sleep(seconds)
    t1, i1 = sample()
    return round(1 - (i1 - i0) / max(1, t1 - t0), 3)


def wait_for_quiet(limit_s: float, threshold: float = 0.15) -> dict:
    """Before a measured run: wait (up to ``limit_s``) until other work uses under ``threshold`` of
    the CPU, so that one run does not meet another session's job; returns what was seen."""
    t0 = time.perf_counter()
    busy = busy_fraction()
    while busy >= threshold and time.perf_counter() - t0 < limit_s:
        busy = busy_fraction(10.0)
    return {"busy_before": busy, "waited_s": round(time.perf_counter() - t0, 1), "loadavg_before": loadavg()}


# -- children -------------------------------------------------------------------------------------


def vm_hwm_mb(pid: int | str = "self") -> float | None:
    """A process's peak RSS (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


class ProcessWatch:
    """Samples this process and its descendants: CPU seconds and peak memory of each, by role."""

    def __init__(self, period: float = 1.0):
        import psutil

        self.me = psutil.Process()
        self.seen: dict[int, dict] = {}
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def role(cmdline: str, is_me: bool) -> str:
        if is_me:
            return "flow"
        if "uvicorn" in cmdline or "flows.lifeline" in cmdline:
            return "prefect_server"
        if "spawn_main" in cmdline:
            return "worker"
        return "other"

    def sample(self) -> None:
        import psutil

        for p in [self.me, *self.me.children(recursive=True)]:
            try:
                cpu = p.cpu_times()
                rec = self.seen.setdefault(p.pid, {"role": self.role(" ".join(p.cmdline()), p.pid == self.me.pid)})
                rec["cpu_s"] = round(cpu.user + cpu.system, 2)
                rec["peak_mb"] = vm_hwm_mb(p.pid) or rec.get("peak_mb")
                if rec["role"] in ("worker", "flow"):  # per thread: the one that codes, and the rest
                    rec["threads"] = {t.id: t.user_time + t.system_time for t in p.threads()}
            except psutil.Error:
                pass

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.period)

    def __enter__(self) -> "ProcessWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()

    def by_role(self) -> dict:
        out: dict[str, dict] = {}
        for pid, rec in self.seen.items():
            role = out.setdefault(rec["role"], {"cpu_s": 0.0, "processes": 0, "peak_mb": []})
            role["cpu_s"] = round(role["cpu_s"] + rec.get("cpu_s", 0.0), 2)
            role["processes"] += 1
            role["peak_mb"].append(rec.get("peak_mb"))
        return out


class Timing:
    """Wraps an executor: the coding window, and per worker process its batches and busy seconds."""

    def __init__(self, watch: "ProcessWatch | None" = None):
        self.marks: list[float] = []
        self.workers: dict[str, dict] = {}
        self.watch = watch
        self.cpu_at_start: dict | None = None
        self.threads_at_start: dict = {}

    def wrap(self, executor_cls):
        """Time ``executor_cls.map`` in place: the class stays the importable one (Prefect pickles the
        flow, whose code names the executor class, for every task it sends to Dask)."""
        timing, inner = self, executor_cls.map

        def map(self, model_dir, version, batches):
            timing.marks.append(time.perf_counter())
            if timing.watch is not None:
                timing.watch.sample()
                timing.cpu_at_start = {pid: rec.get("cpu_s", 0.0) for pid, rec in timing.watch.seen.items()}
                timing.threads_at_start = {pid: dict(rec.get("threads", {})) for pid, rec in timing.watch.seen.items()}
            for result in inner(self, model_dir, version, batches):
                timing.marks.append(time.perf_counter())
                timing.window_closed()  # the last call's figures stay
                w = timing.workers.setdefault(str(result["pid"]), {"batches": 0, "busy_s": 0.0, "idle_s": 0.0})
                w["batches"] += 1
                w["busy_s"] = round(w["busy_s"] + result["seconds"], 2)
                # idle: the time since this worker's previous result (or the window's start) not spent coding
                # (sending, Prefect's task-run bookkeeping, waiting for CPU or for the next batch)
                previous = w.get("_last", timing.marks[0])
                w["idle_s"] = round(w["idle_s"] + max(0.0, timing.marks[-1] - previous - result["seconds"]), 2)
                w["_last"] = timing.marks[-1]
                yield result
            for w in timing.workers.values():  # the tail: from a worker's last result to the window's end
                w["tail_s"] = round(timing.marks[-1] - w.pop("_last"), 2)

        executor_cls.map = map
        return executor_cls

    def coding_s(self) -> float:
        return round(self.marks[-1] - self.marks[0], 2)

    def cpu_in_window(self) -> dict:
        """CPU seconds each role used between the first batch sent and the last result (sampled);
        for each worker, its busiest thread (the one that codes) and the rest."""
        out: dict = {}
        for pid, rec in self.watch.seen.items():
            used = rec.get("cpu_at_end", rec.get("cpu_s", 0.0)) - self.cpu_at_start.get(pid, 0.0)
            out[rec["role"]] = round(out.get(rec["role"], 0.0) + used, 2)
            if rec["role"] == "flow" and "threads_at_end" in rec:  # this process: its threads by name
                names = {t.native_id: t.name for t in threading.enumerate()}
                start = self.threads_at_start.get(pid, {})
                per = {names.get(tid, str(tid)): round(cpu - start.get(tid, 0.0), 2)
                       for tid, cpu in rec["threads_at_end"].items()}
                out["flow_threads"] = {k: v for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.01}
            if rec["role"] == "worker" and "threads_at_end" in rec:
                start = self.threads_at_start.get(pid, {})
                per = sorted((cpu - start.get(tid, 0.0) for tid, cpu in rec["threads_at_end"].items()), reverse=True)
                out.setdefault("worker_threads", {})[str(pid)] = {"coding_thread": round(per[0], 2),
                                                                  "other_threads": round(sum(per[1:]), 2)}
        return out

    def window_closed(self) -> None:
        if self.watch is not None:
            self.watch.sample()
            for rec in self.watch.seen.values():
                rec["cpu_at_end"] = rec.get("cpu_s", 0.0)
                if "threads" in rec:
                    rec["threads_at_end"] = dict(rec["threads"])


def dask_child(corpus: str, db: str, model_dir: str, workers: int) -> None:
    """``intcap refresh --workers N`` as the CLI runs it, timed."""
    started = time.perf_counter()
    import flows.refresh_corpus as rc
    from flows.run import run_refresh

    from distributed import Client

    warm: list[float] = []
    register = Client.register_plugin

    def timed_register(self, plugin, *args, **kwargs):  # the workers' warm-up (flows.dask_runner.warm_workers)
        t = time.perf_counter()
        try:
            return register(self, plugin, *args, **kwargs)
        finally:
            warm.append(round(time.perf_counter() - t, 2))

    Client.register_plugin = timed_register
    with ProcessWatch() as watch:
        timing = Timing(watch)
        timing.wrap(rc.DaskExecutor)
        result = run_refresh(Path(corpus), db=db, model_dir=Path(model_dir), workers=workers)
    roles = watch.by_role()
    worker_peaks = {str(pid): rec.get("peak_mb") for pid, rec in watch.seen.items() if rec["role"] == "worker"}
    in_window = timing.cpu_in_window()
    # the coding threads' CPU over the window: about 1 per worker when nothing else wanted the cores
    share = round(sum(t["coding_thread"] for t in in_window.get("worker_threads", {}).values())
                  / max(1e-9, timing.coding_s()) / max(1, workers), 3)
    for pid, w in timing.workers.items():
        w["peak_mb"] = worker_peaks.get(pid)
    print(json.dumps({"passages": result["passages_coded"], "files": result["files"], "batches": result["batches"],
                      "warm_s": sum(warm), "coding_s": timing.coding_s(),
                      "in_process_s": round(time.perf_counter() - started, 2),
                      # in this process before the first batch (imports, Prefect's server, the cluster, warm-up)
                      # and after the last result (profiles, the run record, closing the cluster and server)
                      "before_window_s": round(timing.marks[0] - started, 2),
                      "after_window_s": round(time.perf_counter() - timing.marks[-1], 2),
                      "workers": timing.workers, "cpu_by_role": roles, "cpu_in_coding_window": in_window,
                      "coding_cpu_share": share,
                      "model_loads": result["model_loads"]}))


def plain_child(corpus: str, db: str, model_dir: str) -> None:
    """``intcap refresh --no-prefect`` (one process, one torch thread), timed the same way."""
    started = time.perf_counter()
    import pipeline.refresh as pr
    from pipeline.store import open_store

    from pipeline.modeldir import read_manifest

    timing = Timing()
    executor = timing.wrap(pr.InlineExecutor)()
    t = time.perf_counter()  # load the coder first, as every Dask worker does before the first batch
    from pipeline.batch import warm_up

    warm_up(pr.worker_coder(str(Path(model_dir).resolve()), read_manifest(Path(model_dir))["version"]).encoder)
    warm = round(time.perf_counter() - t, 2)
    with open_store(db) as store:
        result = pr.refresh(Path(corpus), store, Path(model_dir), executor=executor)
    ru = __import__("resource").getrusage(__import__("resource").RUSAGE_SELF)
    print(json.dumps({"passages": result["passages_coded"], "files": result["files"], "batches": result["batches"],
                      "warm_s": warm, "coding_s": timing.coding_s(),
                      "in_process_s": round(time.perf_counter() - started, 2),
                      "before_window_s": round(timing.marks[0] - started, 2),
                      "after_window_s": round(time.perf_counter() - timing.marks[-1], 2), "cpu_s": round(ru.ru_utime + ru.ru_stime, 2), "peak_mb": vm_hwm_mb()}))


def load_child(model_dir: str) -> None:
    """How long a fresh process takes to import and load the coder and code one passage."""
    t0 = time.perf_counter()
    from pipeline.modeldir import read_manifest
    from pipeline.refresh import worker_coder

    coder = worker_coder(model_dir, read_manifest(Path(model_dir))["version"])
    t1 = time.perf_counter()
    from pipeline.records import Passage

    coder.code([Passage("p", "Acme", "a.txt", 0, 42, "We export to Germany through distributors.")])
    t2 = time.perf_counter()
    print(json.dumps({"import_and_load_s": round(t1 - t0, 2), "first_passage_s": round(t2 - t1, 2)}))


# -- parent ---------------------------------------------------------------------------------------


def child_env(work: Path, one_thread: bool = True) -> dict:
    env = dict(os.environ, **OFFLINE, PREFECT_HOME=str(work / "prefect-home"))
    env.pop("PREFECT_API_URL", None)  # a temporary server per run, as a plain `intcap refresh` starts
    if one_thread:
        env.update(ONE_THREAD)
    return env


def start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, t0: float) -> dict:
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{proc.args} failed ({proc.returncode}):\n{out[-2000:]}\n{err[-3000:]}")
    info = json.loads(out.strip().splitlines()[-1])
    info["wall_s"] = round(wall, 2)
    return info


def fresh_db(work: Path, name: str) -> str:
    for suffix in ("", "-wal", "-shm", ".bak"):
        (work / f"{name}.db{suffix}").unlink(missing_ok=True)
    return str(work / f"{name}.db")


def run_dask(work: Path, corpus: Path, model_dir: Path, workers: int, tag: str) -> dict:
    t0 = time.perf_counter()
    proc = start(["_dask_child", str(corpus), fresh_db(work, f"dask-{tag}-{workers}"), str(model_dir), str(workers)],
                 child_env(work))
    return finish(proc, t0)


def run_plain(work: Path, corpora: list[Path], model_dir: Path, tag: str) -> dict:
    t0 = time.perf_counter()
    procs = [start(["_plain_child", str(c), fresh_db(work, f"plain-{tag}-{len(corpora)}-{i}"), str(model_dir)],
                   child_env(work)) for i, c in enumerate(corpora)]
    runs = [finish(p, t0) for p in procs]
    return {"processes": runs, "passages": sum(r["passages"] for r in runs), "warm_s": max(r["warm_s"] for r in runs),
            "coding_s": max(r["coding_s"] for r in runs), "wall_s": max(r["wall_s"] for r in runs)}


def copies_corpus(folder: Path, copies: range) -> Path:
    from pipeline import paths

    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file,company"]
    for k in copies:
        for src in sorted(paths.INTERVIEWS.glob("*.md")):
            name = f"{src.stem}-{k}.md"
            shutil.copy(src, folder / name)
            rows.append(f"{name},{src.stem}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder


def ratio(a: float, b: float) -> float:
    return round(a / b, 3)


def bench_speedup(work: Path, model_dir: Path, rounds: int, copies: int = 10, quiet_s: float = 0.0) -> dict:
    whole = copies_corpus(work / "speedup-all", range(copies))
    halves = [copies_corpus(work / "speedup-a", range(copies // 2)),
              copies_corpus(work / "speedup-b", range(copies // 2, copies))]
    out: dict = {"files": 14 * copies, "torch_threads_per_coder": 1, "cpu_count": os.cpu_count(), "loadavg_before": loadavg(),
                 "rounds": []}
    for r in range(rounds):  # interleaved, each round in the other order, so both sides see the same load
        order = ["dask1", "plain1", "dask2", "plain2"]
        runs: dict = {}
        for name in (order if r % 2 == 0 else order[::-1]):
            before = wait_for_quiet(quiet_s)
            if name.startswith("dask"):
                runs[name] = run_dask(work, whole, model_dir, int(name[-1]), f"r{r}")
            else:
                runs[name] = run_plain(work, [whole] if name == "plain1" else halves, model_dir, f"r{r}")
            runs[name].update(before, loadavg_after=loadavg())
            print(f"  round {r} {name}: coding {runs[name]['coding_s']} s, wall {runs[name]['wall_s']} s "
                  f"(machine busy {before['busy_before']:.0%} before, load {before['loadavg_before'][0]})", flush=True)
        assert len({runs[n]["passages"] for n in runs}) == 1, {n: runs[n]["passages"] for n in runs}
        runs["speedup"] = {
            "dask_coding": ratio(runs["dask1"]["coding_s"], runs["dask2"]["coding_s"]),
            "dask_wall": ratio(runs["dask1"]["wall_s"], runs["dask2"]["wall_s"]),
            "plain_coding": ratio(runs["plain1"]["coding_s"], runs["plain2"]["coding_s"]),
            "plain_wall": ratio(runs["plain1"]["wall_s"], runs["plain2"]["wall_s"]),
        }
        s = runs["speedup"]
        s["dask_vs_plain_coding"] = ratio(s["dask_coding"], s["plain_coding"])
        s["dask_vs_plain_wall"] = ratio(s["dask_wall"], s["plain_wall"])
        print(f"  round {r}: {s}", flush=True)
        out["rounds"].append(runs)
    out["passages"] = out["rounds"][0]["dask1"]["passages"]
    out["loadavg_after"] = loadavg()
    out["target"] = "dask coding speed-up 2 vs 1 >= 1.75 and >= 0.9 x the plain processes' (same run)"
    return out


def bench_load(work: Path, model_dir: Path) -> dict:
    t0 = time.perf_counter()
    return finish(start(["_load_child", str(model_dir)], child_env(work)), t0)


def bench_generated(work: Path, model_dir: Path, n: int, quiet_s: float = 0.0) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    from pipeline_bench import generate

    corpus = work / f"generated-{n}"
    if not corpus.is_dir():
        generate(corpus, n)
    out: dict = {"transcripts": n, "torch_threads_per_worker": 1, "loadavg_before": loadavg(), "runs": {}}
    for workers in (1, 2):
        before = wait_for_quiet(quiet_s)
        info = run_dask(work, corpus, model_dir, workers, f"gen{n}")
        info.update(before, loadavg_after=loadavg())
        out["runs"][str(workers)] = info
        print(f"  {n} generated, {workers} worker(s): coding {info['coding_s']} s, wall {info['wall_s']} s, "
              f"{info['batches']} batches, worker peaks {[w.get('peak_mb') for w in info['workers'].values()]} MB, "
              f"CPU share of the coding threads {info['coding_cpu_share']} (machine busy "
              f"{before['busy_before']:.0%} before, load {before['loadavg_before'][0]})", flush=True)
    one, two = out["runs"]["1"], out["runs"]["2"]
    out["speedup_coding"] = ratio(one["coding_s"], two["coding_s"])
    out["speedup_wall"] = ratio(one["wall_s"], two["wall_s"])
    out["loadavg_after"] = loadavg()
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_dask_child":
        return dask_child(*sys.argv[2:5], int(sys.argv[5]))
    if len(sys.argv) > 1 and sys.argv[1] == "_plain_child":
        return plain_child(*sys.argv[2:5])
    if len(sys.argv) > 1 and sys.argv[1] == "_load_child":
        return load_child(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="speedup,generated")
    parser.add_argument("--rounds", type=int, default=1, help="speedup: interleaved rounds (default 1)")
    parser.add_argument("--copies", type=int, default=10, help="speedup: copies of the 14 interviews (default 10)")
    parser.add_argument("--quiet", type=float, default=300.0,
                        help="before each run, wait up to this many seconds for the machine to be idle (default 300)")
    parser.add_argument("--transcripts", type=int, default=10_000, help="generated: how many (default 10,000)")
    parser.add_argument("--model-dir", type=Path, default=None, help="default: models/default")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--results", type=Path, default=RESULTS / "dask.json")
    args = parser.parse_args()
    parts = args.only.split(",")
    from pipeline import paths
    from pipeline.modeldir import read_manifest

    model_dir = (args.model_dir or paths.DEFAULT_MODEL).resolve()
    manifest = read_manifest(model_dir)
    tmp = None if args.work else tempfile.TemporaryDirectory(prefix="intcap-dask-bench-")
    work = args.work or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "platform": platform.platform(), "loadavg_start": loadavg()},
                     "model": {"dir": str(model_dir), "version": manifest["version"], "encoder": manifest["encoder"]},
                     "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        if "speedup" in parts:
            print("model load in a fresh process ...", flush=True)
            results["model_load"] = bench_load(work, model_dir)
            print(f"  {results['model_load']}", flush=True)
            print("1 vs 2 workers, and the plain processes' ceiling ...", flush=True)
            results["speedup"] = bench_speedup(work, model_dir, args.rounds, args.copies, args.quiet)
        if "generated" in parts:
            print(f"{args.transcripts} generated transcripts on 1 and 2 workers ...", flush=True)
            results["generated"] = bench_generated(work, model_dir, args.transcripts, args.quiet)
    finally:
        results["machine"]["loadavg_end"] = loadavg()
        previous = json.loads(args.results.read_text()) if args.results.is_file() else {}
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps({**previous, **results}, indent=2) + "\n")
        if tmp is not None:
            tmp.cleanup()
    print("\nsummary")
    if "speedup" in results:
        for i, r in enumerate(results["speedup"]["rounds"]):
            s = r["speedup"]
            print(f"  round {i}: 2 vs 1 Dask workers {s['dask_coding']}x coding ({s['dask_wall']}x wall); two plain "
                  f"processes {s['plain_coding']}x ({s['plain_wall']}x wall); Dask / plain {s['dask_vs_plain_coding']} "
                  f"coding, {s['dask_vs_plain_wall']} wall  (target >= 1.75x and >= 0.9)")
    if "generated" in results:
        g = results["generated"]
        print(f"  {g['transcripts']} generated transcripts: coding {g['runs']['1']['coding_s']} s on 1 worker, "
              f"{g['runs']['2']['coding_s']} s on 2 ({g['speedup_coding']}x)")
    print(f"  written to {args.results}")


if __name__ == "__main__":
    main()

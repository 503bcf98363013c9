"""Pipeline benchmark (not a test): prints ratios measured in this one run and writes
bench/results/pipeline_bench.json.

    .venv/bin/python bench/pipeline_bench.py                 # everything (several minutes)
    .venv/bin/python bench/pipeline_bench.py --only throughput,cold
    .venv/bin/python bench/pipeline_bench.py --only memory --sizes 1000,10000

throughput  passages/s of the whole refresh pipeline (read, segment, encode, classify,
            commit, profiles) vs the raw encoder's own rate on the same passages,
            measured in the same process, interleaved; target ratio >= 0.8.
cold        the bundled 14-firm corpus coded from a fresh process into a fresh
            database (``intcap refresh --no-prefect``, three times: each run and the
            median), then with Prefect (and Prefect's own start-up, measured with an
            empty flow); target <= 10 s without Prefect. The embedding cache is not
            involved: ``intcap refresh`` encodes every passage.
memory      peak RSS (ru_maxrss of the child) refreshing 1,000 vs 10,000 generated
            transcripts, each size in its own subprocess, outputs included; target
            10k <= 1.2 x 1k. Uses a stand-in hashing encoder by default so the run
            takes a minute (the pipeline's growth is what is measured; the real
            encoder adds a constant); --memory-encoder real uses the real model.
dask        runs bench/dask_bench.py (1 vs 2 Dask workers against two plain processes
            in the same run, 10,000 generated transcripts on 1 and 2 workers, peak memory
            per worker); its figures go to bench/results/dask.json, a summary here.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HASH_ENCODER = "hashing.v1"
RESULTS = ROOT / "bench" / "results"


def real_model(work: Path) -> Path:
    from pipeline import paths
    from pipeline.errors import ModelError
    from pipeline.modeldir import verify_model

    try:
        verify_model(paths.DEFAULT_MODEL)
        return paths.DEFAULT_MODEL
    except ModelError:
        from pipeline.train import train_model

        print("models/default missing: training it once for the benchmark ...", flush=True)
        train_model(work / "model")
        return work / "model"


def hash_model(work: Path) -> Path:
    from pipeline.coder import CoderSettings
    from pipeline.train import train_model

    target = work / "hash-model"
    if not target.is_dir():
        train_model(target, settings=CoderSettings(encoder=HASH_ENCODER, threshold_folds=3))
    return target


def fresh_db(work: Path, name: str) -> str:
    for suffix in ("", "-wal", "-shm", ".bak"):
        (work / f"{name}.db{suffix}").unlink(missing_ok=True)
    return str(work / f"{name}.db")


# -- throughput -----------------------------------------------------------------------------------


def bench_throughput(work: Path, model_dir: Path, repeats: int = 3) -> dict:
    from pipeline import paths
    from pipeline.ingest import ingest_folder
    from pipeline.modeldir import read_manifest
    from pipeline.refresh import refresh, worker_coder
    from pipeline.segment import segment
    from pipeline.store import open_store

    corpus = paths.INTERVIEWS
    transcripts, _ = ingest_folder(corpus)
    texts = [p.text for t in transcripts for p in segment(t) if p.coded]
    version = read_manifest(model_dir)["version"]
    coder = worker_coder(str(Path(model_dir).resolve()), version)  # loaded once: both sides warm
    encoder = coder.encoder
    encoder.encode(texts[:16])
    inside: list[float] = []
    real_encode = encoder.encode

    def timed_encode(batch):  # the encoder's share of the pipeline's own time
        t0 = time.perf_counter()
        try:
            return real_encode(batch)
        finally:
            inside[-1] += time.perf_counter() - t0

    raw, pipe = [], []
    for i in range(repeats):  # interleaved, so both sides see the same machine load
        t = time.perf_counter()
        real_encode(texts)
        raw.append(time.perf_counter() - t)
        inside.append(0.0)
        encoder.encode = timed_encode
        try:
            with open_store(fresh_db(work, f"throughput{i}")) as store:
                t = time.perf_counter()
                result = refresh(corpus, store, model_dir)
                pipe.append(time.perf_counter() - t)
        finally:
            del encoder.encode
        assert result["passages_coded"] == len(texts), (result["passages_coded"], len(texts))
    raw_rate, pipe_rate = len(texts) / min(raw), len(texts) / min(pipe)
    share = [e / p for e, p in zip(inside, pipe)]
    return {"passages": len(texts), "encoder_s": [round(x, 2) for x in raw], "pipeline_s": [round(x, 2) for x in pipe],
            "encoder_inside_pipeline_s": [round(x, 2) for x in inside],
            "encoder_passages_per_s": round(raw_rate, 2), "pipeline_passages_per_s": round(pipe_rate, 2),
            "ratio": round(pipe_rate / raw_rate, 3),
            # load-independent: the share of the pipeline's wall time spent in the encoder itself
            "ratio_within_run": round(max(share), 3), "target": ">= 0.8"}


# -- cold start -----------------------------------------------------------------------------------


def timed(cmd: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc


def bench_cold(work: Path, model_dir: Path, runs: int = 3) -> dict:
    import statistics

    from pipeline import paths

    env = dict(os.environ, PREFECT_HOME=str(work / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1", PREFECT_UI_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING")
    env.pop("PREFECT_API_URL", None)
    base = [sys.executable, "-m", "intcap", "refresh", str(paths.INTERVIEWS), "--model-dir", str(model_dir)]
    from dask_bench import wait_for_quiet

    load_before = [round(x, 2) for x in os.getloadavg()]
    plains, machine = [], []
    for i in range(runs):
        shutil.rmtree(work / f"cold-plain{i}", ignore_errors=True)
        machine.append(wait_for_quiet(120))  # a run that meets another session's job measures that job
        seconds, _ = timed(base + ["--db", fresh_db(work, f"cold-plain{i}"), "--out", str(work / f"cold-plain{i}"),
                                   "--no-prefect"], env)
        plains.append(round(seconds, 2))
    plain = statistics.median(plains)
    empty_flow = ("from flows.prefect_env import configure_offline; configure_offline()\n"
                  "from prefect import flow\n@flow\ndef empty():\n    return 1\nempty()")
    timed([sys.executable, "-c", empty_flow], env)  # create the Prefect home's database once
    python_only, _ = timed([sys.executable, "-c", "import prefect"], env)
    prefect_startup, _ = timed([sys.executable, "-c", empty_flow], env)
    with_prefect, _ = timed(base + ["--db", fresh_db(work, "cold-prefect"), "--out", str(work / "cold-prefect")], env)
    return {"files": 14, "no_prefect_s": round(plain, 2), "no_prefect_runs_s": plains, "machine_before_runs": machine,
            "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "prefect_s": round(with_prefect, 2),
            "prefect_startup_s": round(prefect_startup - python_only, 2),
            "prefect_minus_startup_s": round(with_prefect - (prefect_startup - python_only), 2),
            "target": "<= 10 s without Prefect (median of the runs)"}


# -- memory ---------------------------------------------------------------------------------------


WORDS = ("we export to germany through distributors our founder took risks learned from customers abroad "
         "partners introduced us to retail chains trade fairs gave first foreign orders regulations market").split()


def generate(folder: Path, n: int, companies: int = 20) -> None:
    import random

    rng = random.Random(n)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file,company"]
    for i in range(n):
        name = f"t{i:05d}.txt"
        paragraphs = ["".join((" ".join(rng.choice(WORDS) for _ in range(14))).capitalize()) + "."
                      for _ in range(2)]
        (folder / name).write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
        rows.append(f"{name},Company {i % companies:02d}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def vm_hwm_mb() -> float | None:
    """This process's own peak RSS (VmHWM: the address space since exec, not the parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def memory_child(corpus: str, db: str, out: str, model_dir: str) -> None:
    from pipeline.refresh import refresh
    from pipeline.store import open_store

    t = time.perf_counter()
    with open_store(db) as store:
        result = refresh(Path(corpus), store, Path(model_dir), out_dir=Path(out))
    print(json.dumps({"passages": result["passages_coded"], "files": result["files"],
                      "seconds": round(time.perf_counter() - t, 2), "vm_hwm_mb": vm_hwm_mb()}))


def memory_launch(args: list[str]) -> None:
    """Run one memory child from this small process and report its ru_maxrss.

    Linux counts the RSS of the process that forked the child into the child's
    ru_maxrss, so the launcher must itself be small (it imports nothing heavy).
    """
    proc = subprocess.Popen([sys.executable, __file__, "_memory_child", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    if proc.returncode != 0:
        sys.stderr.write(stderr[-3000:])
        sys.exit(1)
    info = json.loads(stdout.strip().splitlines()[-1])
    info["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    info["launcher_rss_mb"] = vm_hwm_mb()
    print(json.dumps(info))


def bench_memory(work: Path, sizes: list[int], encoder: str) -> dict:
    model_dir = hash_model(work) if encoder == "hash" else real_model(work)
    out = {"encoder": encoder, "runs": {}}
    for n in sizes:
        corpus = work / f"gen{n}"
        if not corpus.is_dir():
            generate(corpus, n)
        cmd = [sys.executable, __file__, "_memory_launch", str(corpus), fresh_db(work, f"mem{n}"),
               str(work / f"mem-out{n}"), str(model_dir)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"memory run {n} failed:\n{proc.stderr[-3000:]}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        out["runs"][str(n)] = info
        print(f"  memory {n:>6} transcripts: {info}", flush=True)
    if len(sizes) >= 2:
        small, large = out["runs"][str(sizes[0])], out["runs"][str(sizes[-1])]
        out["ratio"] = round(large["peak_rss_mb"] / small["peak_rss_mb"], 3)
        if small.get("vm_hwm_mb") and large.get("vm_hwm_mb"):
            out["ratio_vm_hwm"] = round(large["vm_hwm_mb"] / small["vm_hwm_mb"], 3)
        out["target"] = f"{sizes[-1]} <= 1.2 x {sizes[0]}"
    return out


# -- dask ------------------------------------------------------------------------------------------


def bench_dask(model_dir: Path) -> dict:
    """bench/dask_bench.py in its own process (it starts clusters and plain processes itself)."""
    results = RESULTS / "dask.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "dask_bench.py"), "--model-dir", str(model_dir),
                           "--results", str(results)], cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError("bench/dask_bench.py failed")
    d = json.loads(results.read_text())
    rounds = [r["speedup"] for r in d["speedup"]["rounds"]]
    return {"results": str(results.relative_to(ROOT)), "speedup_rounds": rounds,
            "generated": {k: d["generated"][k] for k in ("transcripts", "speedup_coding", "speedup_wall")}}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_memory_launch":
        return memory_launch(sys.argv[2:7])
    if len(sys.argv) > 1 and sys.argv[1] == "_memory_child":
        return memory_child(*sys.argv[2:7])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="throughput,cold,memory,dask")
    parser.add_argument("--sizes", default="1000,10000", help="memory: transcript counts")
    parser.add_argument("--memory-encoder", choices=("hash", "real"), default="hash")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="model to benchmark (default: models/default, trained first if missing)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--results", type=Path, default=RESULTS / "pipeline_bench.json")
    args = parser.parse_args()
    parts = args.only.split(",")
    tmp = None if args.work else tempfile.TemporaryDirectory(prefix="intcap-bench-")
    work = args.work or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "platform": platform.platform(), "loadavg_start": os.getloadavg()}}
    try:
        model_dir = args.model_dir or real_model(work)
        from pipeline.modeldir import read_manifest

        manifest = read_manifest(model_dir)
        results["model"] = {"dir": str(model_dir), "version": manifest["version"], "encoder": manifest["encoder"],
                            "pooling": manifest["settings"].get("pooling", "passage")}
        if "throughput" in parts:
            print("throughput ...", flush=True)
            results["throughput"] = bench_throughput(work, model_dir)
            print(f"  {results['throughput']}", flush=True)
        if "cold" in parts:
            print("cold start ...", flush=True)
            results["cold"] = bench_cold(work, model_dir)
            print(f"  {results['cold']}", flush=True)
        if "memory" in parts:
            print("memory ...", flush=True)
            results["memory"] = bench_memory(work, [int(s) for s in args.sizes.split(",")], args.memory_encoder)
        if "dask" in parts:
            print("dask 1 vs 2 workers ...", flush=True)
            results["dask"] = bench_dask(model_dir)
    finally:
        results["machine"]["loadavg_end"] = os.getloadavg()
        args.results.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(args.results.read_text()) if args.results.is_file() else {}
        for part in parts:  # sections not run this time keep their last figures
            if part in results:
                results[part]["measured"] = {"at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                             "loadavg": results["machine"]["loadavg_start"]}
        args.results.write_text(json.dumps({**previous, **results}, indent=2) + "\n")
        if tmp is not None:
            tmp.cleanup()
    print("\nsummary")
    if "throughput" in results:
        t = results["throughput"]
        print(f"  pipeline / raw encoder passages/s: {t['pipeline_passages_per_s']} / {t['encoder_passages_per_s']}"
              f" = {t['ratio']}; encoder share of the pipeline's own time {t['ratio_within_run']}  (target >= 0.8)")
    if "cold" in results:
        c = results["cold"]
        print(f"  cold 14-firm corpus: {c['no_prefect_s']} s without Prefect, {c['prefect_s']} s with "
              f"(Prefect start-up {c['prefect_startup_s']} s)  (target <= 10 s)")
    if "memory" in results and "ratio" in results["memory"]:
        m = results["memory"]
        runs = " vs ".join(f"{k}: {v['peak_rss_mb']} MB" for k, v in m["runs"].items())
        print(f"  peak memory {runs}: ratio {m['ratio']}  (target <= 1.2)")
    if "dask" in results:
        for r in results["dask"]["speedup_rounds"]:
            print(f"  dask 2 vs 1 workers: {r['dask_coding']}x coding ({r['dask_wall']}x wall); two plain processes "
                  f"{r['plain_coding']}x; Dask / plain {r['dask_vs_plain_coding']}  (target >= 1.75x, >= 0.9)")
    print(f"  written to {args.results}")


if __name__ == "__main__":
    main()

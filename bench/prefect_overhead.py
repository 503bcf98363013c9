"""Prefect overhead benchmark (not a test): `intcap code` with Prefect vs `--no-prefect`,
cold and warm, in one run; prints the ratios and writes bench/results/prefect_overhead.json.

    .venv/bin/python bench/prefect_overhead.py                # the bundled 14-firm corpus
    .venv/bin/python bench/prefect_overhead.py --repeat 2 --label after
    git archive OLD | tar -x -C /tmp/old && .venv/bin/python bench/prefect_overhead.py --repo /tmp/old --label before

Each run is a fresh `python -m intcap code` subprocess, as a user would start it.
*cold*: a fresh PREFECT_HOME (Prefect creates and migrates its database) and a fresh
embedding cache; *warm*: the same command again, reusing both. The plain runner gets the
same fresh cache, so the ratio is Prefect's cost alone; the four runs are interleaved
(plain cold, Prefect cold, plain warm, Prefect warm), as the load of a shared machine drifts.
PREFECT_API_URL is removed from the environment (a temporary server is started) unless
--api-url is given.
Also recorded: seconds until the first line on stderr (the terminal must say what it does
from the first second). Speed is a ratio from one run on a busy machine, never a timed test.
Target: cold Prefect <= 1.5 x plain.
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
RESULTS = ROOT / "bench" / "results"
TARGET_COLD_RATIO = 1.5


def timed_run(command: list[str], env: dict[str, str], repo: Path = ROOT) -> dict:
    """Wall seconds of one command, and seconds until its first stderr line."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_line: list[float] = []
    err_lines: list[str] = []

    def read_stderr() -> None:
        for line in proc.stderr:
            if not first_line:
                first_line.append(time.perf_counter() - start)
            err_lines.append(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    out = proc.stdout.read()
    proc.wait()
    reader.join()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{out}{''.join(err_lines)}")
    return {"seconds": round(seconds, 2), "first_stderr_s": round(first_line[0], 2) if first_line else None,
            "stdout": out.strip().splitlines()[-1:], "stderr_head": [x.rstrip() for x in err_lines[:3]]}


def runner_env(work: Path, api_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.pop("INTCAP_PREFECT_HOME", None)
    env.update({"INTCAP_CACHE_DIR": str(work / "cache"), "PREFECT_HOME": str(work / "prefect-home"),
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def code_command(corpus: Path, model_dir: Path, work: Path, prefect: bool) -> list[str]:
    return [sys.executable, "-m", "intcap", "code", str(corpus), "--out", str(work / "out"),
            "--model-dir", str(model_dir)] + ([] if prefect else ["--no-prefect"])


def measure(corpus: Path, model_dir: Path, api_url: str | None, repo: Path = ROOT) -> dict:
    """Both runners cold, then both warm, interleaved (the machine's load drifts), each in its own folders."""
    works = {name: Path(tempfile.mkdtemp(prefix=f"intcap-prefect-bench-{name}-")) for name in ("plain", "prefect")}
    times: dict[str, dict] = {"plain": {}, "prefect": {}}
    try:
        for mode in ("cold", "warm"):
            for name, work in works.items():
                env = runner_env(work, api_url if name == "prefect" else None)
                times[name][mode] = timed_run(code_command(corpus, model_dir, work, name == "prefect"), env, repo)
    finally:
        for work in works.values():
            shutil.rmtree(work, ignore_errors=True)
    ratios = {mode: round(times["prefect"][mode]["seconds"] / times["plain"][mode]["seconds"], 2)
              for mode in ("cold", "warm")}
    return {**times, "ratio": ratios}


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from pipeline import paths

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=paths.INTERVIEWS)
    parser.add_argument("--model-dir", type=Path, default=paths.DEFAULT_MODEL)
    parser.add_argument("--repeat", type=int, default=1, help="measure this many times in this run")
    parser.add_argument("--api-url", default=None, help="a running Prefect server to use instead of a temporary one")
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. before/after)")
    parser.add_argument("--repo", type=Path, default=ROOT,
                        help="run the intcap of this checkout (an older commit unpacked with git archive, say)")
    parser.add_argument("--json", type=Path, default=RESULTS / "prefect_overhead.json")
    args = parser.parse_args(argv)

    rounds = []
    for i in range(args.repeat):
        r = measure(args.corpus, args.model_dir, args.api_url, args.repo)
        rounds.append(r)
        print(f"round {i + 1}: plain cold {r['plain']['cold']['seconds']} s, warm {r['plain']['warm']['seconds']} s; "
              f"prefect cold {r['prefect']['cold']['seconds']} s, warm {r['prefect']['warm']['seconds']} s; "
              f"ratio cold {r['ratio']['cold']}, warm {r['ratio']['warm']} (target cold <= {TARGET_COLD_RATIO}); "
              f"first stderr line after {r['prefect']['cold']['first_stderr_s']} s (prefect, cold)", flush=True)
    result = {
        "label": args.label, "repo": str(args.repo), "corpus": str(args.corpus), "model_dir": str(args.model_dir),
        "api_url": args.api_url,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "target_cold_ratio": TARGET_COLD_RATIO, "rounds": rounds,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""intcap review: active-learning review of coded passages (web page, terminal, learning round, benchmark)."""
from __future__ import annotations

import getpass
import json
import secrets
import sys
from pathlib import Path

from intcap.cli.options import add_model_dir

STRATEGY_HELP = ("queue strategy: distinct (default: most uncertain first, no near-duplicate next), "
                 "diverse (ranked batch-mode), uncertainty or random")


def _store_options(p) -> None:
    p.add_argument("out_dir", type=Path, help="results folder written by `intcap code` (has passages.jsonl)")
    p.add_argument("--db", default=None, help="label database: an SQLite path or SQLAlchemy URL "
                                              "(default: OUT_DIR/labels.sqlite)")
    p.add_argument("--corpus-name", default=None, help="name answers are filed under (default: OUT_DIR's name)")


def _reviewer_option(p) -> None:
    p.add_argument("--reviewer", default=None, help="your name, stored with every answer (default: login name)")
    p.add_argument("--strategy", default="distinct", choices=["distinct", "diverse", "uncertainty", "random"],
                   help=STRATEGY_HELP)


def add_parser(sub):
    p = sub.add_parser("review", help="review suggested codes; answers train the next model", description=__doc__)
    rsub = p.add_subparsers(dest="review_command", required=True, metavar="SUBCOMMAND")

    serve = rsub.add_parser("serve", help="serve the review page (127.0.0.1 by default)",
                            description="Serve the review page for OUT_DIR: the passage the model is least sure of "
                                        "first; keys 1-4 toggle NET/ENT/ABS/PRI, +/-/0 set valence, Enter confirms, "
                                        "u undoes, s skips. Every answer is saved at once in the label database.")
    _store_options(serve)
    _reviewer_option(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other "
                                                           "address requires a token)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free port)")
    serve.add_argument("--token", default=None, help="access token checked on every request (generated and "
                                                     "printed when binding beyond loopback without one)")

    cli = rsub.add_parser("cli", help="review in the terminal (for a remote shell)",
                          description="Review OUT_DIR's uncertain passages in the terminal, one at a time: Enter "
                                      "accepts the suggestion, 'NET+ ABS0' gives codes with valences, 'none' = no code, "
                                      "'s' skips, 'u' undoes, 'q' quits. Answers are saved at once, like on the page.")
    _store_options(cli)
    _reviewer_option(cli)

    rnd = rsub.add_parser("round", help="export labels, update the model, re-code the corpus, rebuild the queue",
                          description="One learning round. By default the model that coded OUT_DIR is adapted to the "
                                      "answers (seconds: nothing is re-encoded or retrained) and the passages in OUT_DIR "
                                      "are re-coded; --retrain refits every head on the thesis, the written corpus and "
                                      "the answers instead (minutes).")
    _store_options(rnd)
    rnd.add_argument("--retrain", action="store_true",
                     help="retrain the model on the training data plus the answers instead of adapting it")
    rnd.add_argument("--base-model", type=Path, default=None,
                     help="the model directory OUT_DIR was coded with (default: models/default, or an earlier "
                          "round's retrained model, whichever has the version in passages.jsonl)")
    rnd.add_argument("--corpus", type=Path, default=None,
                     help="with --retrain: transcripts OUT_DIR was coded from (default: re-code the passages "
                          "stored in OUT_DIR)")
    rnd.add_argument("--model-dir", type=Path, default=None,
                     help="where the new model (or adapter) goes (default: OUT_DIR/models/round-N)")
    rnd.add_argument("--no-prefect", action="store_true", help="run the steps directly, without a Prefect flow")

    sim = rsub.add_parser("simulate", help="replay review on a hand-coded corpus: how fast answers lift agreement",
                          description="Split a hand-coded pool (default: the dev set, corpus/dev/) by firm into a review "
                                      "part and a held-out part; the shipped model codes it; an oracle answers from the "
                                      "pool's coding in batches, the model is adapted after each batch as the fast "
                                      "review round does, and kappa on the held-out firms is reported per strategy "
                                      "and seed. --thesis-refit runs the older benchmark (thesis pool, heads refitted "
                                      "from scratch after each batch).")
    sim.add_argument("--pool", type=Path, default=None,
                     help="hand-coded JSONL file or folder of them (default: corpus/dev/)")
    add_model_dir(sim)
    sim.add_argument("--json", type=Path, default=None, help="write the full result (curves, seeds) here")
    sim.add_argument("--seeds", type=int, default=10, help="random seeds (default 10)")
    sim.add_argument("--first-seed", type=int, default=0,
                     help="first seed (default 0: the reported run; e.g. 100 for development seeds)")
    sim.add_argument("--batch", type=int, default=None, help="passages answered per batch (default 10; 5 with "
                                                             "--thesis-refit)")
    sim.add_argument("--thesis-refit", action="store_true",
                     help="the older benchmark on the thesis passages (heads refitted after each batch)")
    sim.add_argument("--folds", type=int, default=3, help="--thesis-refit: firm folds per seed (default 3)")
    sim.add_argument("--measure", default="margin", choices=["margin", "entropy"],
                     help="--thesis-refit: uncertainty measure")
    sim.add_argument("--also", nargs="*", default=[], choices=["distinct", "diverse"],
                     help="--thesis-refit: replay these queue strategies too")
    sim.add_argument("--boundary", default="balanced", choices=["balanced", "threshold"],
                     help="--thesis-refit: uncertain around 0.5 of the balanced probability or each code's threshold")
    return p


def run(args) -> int:
    return {"serve": _serve, "cli": _cli, "round": _round, "simulate": _simulate}[args.review_command](args)


def _reviewer(args) -> str:
    if args.reviewer:
        return args.reviewer
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


def _session(args):
    from pipeline.review.session import ReviewSession

    return ReviewSession.open(args.out_dir, args.db, args.strategy, args.corpus_name)


def _serve(args) -> int:
    from pipeline.review.server import is_loopback, serve

    token = args.token
    if not token and not is_loopback(args.host):
        token = secrets.token_urlsafe(24)
        print(f"binding {args.host}: generated access token {token}", flush=True)
    serve(_session(args), host=args.host, port=args.port, token=token, reviewer=_reviewer(args),
          announce=lambda line: print(line, flush=True))
    return 0


def _cli(args) -> int:
    from pipeline.review.terminal import run_terminal

    session = _session(args)
    try:
        answered = run_terminal(session, _reviewer(args))
    finally:
        session.store.close()
    p = session.progress()
    print(f"{answered} answer(s) saved to the label store; {p['reviewed']} reviewed, {p['queued']} still queued")
    return 0


def _round(args) -> int:
    if args.no_prefect:
        from pipeline.review.learning_round import review_round

        result = review_round(args.out_dir, corpus=args.corpus, db=args.db, model_dir=args.model_dir,
                              corpus_name=args.corpus_name, retrain=args.retrain, base_model=args.base_model)
    else:
        from flows.prefect_env import configure_offline

        configure_offline()
        from flows.review_round import review_round as flow

        result = flow(str(args.out_dir), str(args.corpus) if args.corpus else None, args.db,
                      str(args.model_dir) if args.model_dir else None, args.corpus_name, args.retrain,
                      str(args.base_model) if args.base_model else None)
    how = "trained" if result["update"] == "retrain" else "adapted"
    print(f"{how} {result['model_version']} on {result['n_labels']} reviewed label(s) -> {result['model_dir']}; "
          f"re-coded {result['passages']} passages; queue: {result['queued']} left, {result['reviewed']} reviewed")
    gain = result.get("held_back")
    if gain:
        print(f"agreement on held-back answers: {gain['kappa_before']:.2f} -> {gain['kappa_after']:.2f} "
              f"(mean kappa, {gain['method']})")
    return 0


def _simulate(args) -> int:
    from pipeline.outputs import write_json

    if args.thesis_refit:
        from pipeline.review.simulate import SimSettings, simulate

        settings = SimSettings(seeds=args.seeds, first_seed=args.first_seed, batch=args.batch or 5, folds=args.folds,
                               measure=args.measure, boundary=args.boundary, others=tuple(args.also))
        result = simulate(settings, progress=lambda line: print(line, file=sys.stderr, flush=True))
        keys = ("labels_total", "labels_to_95", "labels_to_95_of_mean_curve", "labels_to_95_sustained",
                "all_labels_kappa", "acceptance", "seconds")
    else:
        from pipeline import paths
        from pipeline.review.pool_simulation import DEFAULT_POOL, PoolSimSettings, simulate_pool

        settings = PoolSimSettings(seeds=args.seeds, first_seed=args.first_seed, batch=args.batch or 10)
        result = simulate_pool(args.pool or DEFAULT_POOL, args.model_dir or paths.DEFAULT_MODEL, settings,
                               progress=lambda line: print(line, file=sys.stderr, flush=True))
        keys = ("pool", "model_version", "labels_total", "start_kappa", "all_labels_kappa", "all_labels_gain",
                "gain_after", "labels_to_95", "acceptance", "seconds")
    print(json.dumps({k: result[k] for k in keys}, indent=2))
    if args.json:
        write_json(args.json, result)
    return 0

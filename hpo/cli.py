"""`hpo <stage>`: the stages as sub-commands. MLproject and dvc.yaml call these too."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the console

import tempfile
from pathlib import Path

from hpo import store_outage
from hpo.errors import Terminated, UserError, one_line
from hpo.profiles import MAX_EPOCHS, MAX_LEARNING_RATE


def _import_backend_quietly() -> None:
    """Import Keras (and TensorFlow) with stderr silenced: TensorFlow's C++ start-up notices
    ignore TF_CPP_MIN_LOG_LEVEL and would bury the one line a user needs. Shown if import fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
        except (ImportError, ValueError) as e:  # KERAS_BACKEND names a backend Keras cannot load
            backend = os.environ.get("KERAS_BACKEND", "tensorflow")
            raise UserError(f"Keras cannot load its backend {backend!r} ({one_line(e, 200)}): set KERAS_BACKEND to "
                            "tensorflow (the default), jax or torch, installed in this environment") from None
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    # Retracing notices (models of several input sizes share one process) are not the user's to fix.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


class _Parser(argparse.ArgumentParser):
    """A bad command line is one line, like every other bad input (not argparse's usage block);
    an option is spelled out (`--dataset` is not taken for `--datasets`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)\n")


def _integer(text: str, low: int = -(2**63), high: int = 2**63 - 1) -> int:
    """An integer in [low, high]; also accepts '3.0', which is how `mlflow run` passes float-typed parameters."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected an integer from {low} to {high}, got {text!r}")
    return int(value)


def _ranged(low: int, high: int):
    def parse(text: str) -> int:
        return _integer(text, low, high)
    return parse


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _learning_rate(text: str) -> float:
    value = _number(text)
    if not 0 < value <= MAX_LEARNING_RATE:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a learning rate above 0 and at most {MAX_LEARNING_RATE:g}, "
                                         f"got {text!r}")
    return value


def _budget(text: str) -> int | None:
    """Epochs per method, or 'profile' for the profile's budget.epochs."""
    return None if text.strip().lower() == "profile" else _integer(text, 1, MAX_EPOCHS)


MAX_SEED = 2**31 - 1  # what every random generator the suite seeds accepts


def _study_stage(stages, name: str, help: str) -> argparse.ArgumentParser:
    """A stage that trains as a study: the common options, --restart and --record, the workers."""
    parser = stages.add_parser(name, help=help)
    _common(parser)
    _study(parser)
    _workers(parser)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="embedded", help="profile name (profiles/NAME.yaml) or YAML path")
    parser.add_argument("--seed", type=_ranged(0, MAX_SEED), default=0,
                        help="seed of splits, initial weights and data order")


def _record(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--record", default="",
                        help="also write the study run's id, profile and seed to this JSON file (a DVC output)")


def _study(parser: argparse.ArgumentParser) -> None:
    """What every study stage takes besides profile and seed."""
    _record(parser)
    parser.add_argument("--restart", nargs="?", const=True, default=False, type=_yes_no,
                        help="a new study run that trains everything, instead of continuing the recorded one "
                             "(MLproject passes yes or no)")


def _workers(parser: argparse.ArgumentParser) -> None:
    """Where a stage that trains runs its jobs (hpo.executor.cluster)."""
    parser.add_argument("--workers", type=_ranged(1, 4096), default=1,
                        help="jobs trained at once, each in its own process of a local Dask cluster "
                             "(default: 1, in this process)")
    parser.add_argument("--scheduler", type=_scheduler, default="local",
                        help="local (default: a local cluster of --workers processes), or the address of a running "
                             "Dask scheduler (tcp://HOST:8786) whose workers train the jobs")


def _scheduler(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected local or the address of a Dask scheduler (tcp://HOST:8786), got ''")
    return text.strip()


def _repeated(parser: argparse.ArgumentParser) -> None:
    """Repetitions of a search on the same prepared data (compare, subset)."""
    parser.add_argument("--search-seeds", type=_seeds, default=None,
                        help="comma-separated seeds of the search and the trainings, one study run each, on the data "
                             "of --seed (default, or `seed`: --seed itself)")
    parser.add_argument("--repetitions", type=_ranged(1, 1000), default=None,
                        help="N repetitions: search seeds --seed, --seed + 1, ..., --seed + N - 1")


def _seeds(text: str) -> list[int] | None:
    if text.strip().lower() == "seed":
        return None
    items = [part.strip() for part in text.split(",")]
    seeds = [_integer(item, 0, MAX_SEED) for item in items if item]
    if not seeds or len(seeds) != len(items):
        raise argparse.ArgumentTypeError(f"expected comma-separated seeds, got {text!r}")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"a seed appears twice in {text!r}")
    return seeds


def search_seeds(args: argparse.Namespace) -> list[int | None]:
    """The search seed of each repetition asked for (None: the prepare seed's own study)."""
    if args.search_seeds is not None and args.repetitions is not None:
        raise UserError("give --search-seeds or --repetitions, not both")
    if args.repetitions is not None:
        return [args.seed + r for r in range(args.repetitions)]
    return args.search_seeds or [None]


def _each_repetition(seeds: list[int | None], study) -> None:
    for r, seed in enumerate(seeds, start=1):
        if len(seeds) > 1:
            print(f"\n=== repetition {r} of {len(seeds)}: search seed {seed} ===", flush=True)
        study(seed)


def _yes_no(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("yes", "no", "true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return value in ("yes", "true", "1")


def _write_record(path: str) -> None:
    import json
    from pathlib import Path

    from hpo import tracking
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(tracking.last_study_record(), indent=2, sort_keys=True) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hpo", description=__doc__)
    stages = parser.add_subparsers(dest="stage", required=True)

    prepare = stages.add_parser("prepare", help="split the datasets and pretrain the compact backbone")
    _common(prepare)
    prepare.add_argument("--force", action="store_true", help="prepare again even if already prepared")

    train = stages.add_parser("train", help="one fine-tuning trial, logged as one MLflow run")
    _common(train)
    train.add_argument("--dataset", help="target dataset of the profile (default: its first)")
    train.add_argument("--learning-rate", type=_learning_rate)
    train.add_argument("--dropout", type=_number)
    train.add_argument("--optimizer", help="adam, adadelta, rmsprop or sgd")
    train.add_argument("--fine-tuned-layers", type=_integer, help="train the last k backbone layers (0: head only)")
    train.add_argument("--input-size", type=_integer, help="default: the profile's applied input size")
    train.add_argument("--batch-size", type=_integer, help="default: the profile's applied batch size")
    train.add_argument("--epochs", type=_ranged(1, MAX_EPOCHS), default=5)
    train.add_argument("--init", default="pretrained", help="pretrained (default) or scratch: random backbone weights")

    importance = _study_stage(stages, "importance", "Study I: random trainings over the initial space, then fANOVA")
    importance.add_argument("--datasets", default="all", help="comma-separated target datasets (default: all)")

    compare = _study_stage(stages, "compare", "Study II: grid, random, TPE and ASHA (or any registered methods) "
                           "under one epoch budget")
    compare.add_argument("--datasets", default="all", help="comma-separated target datasets (default: all)")
    compare.add_argument("--methods", default="paper", help=_methods_help())
    compare.add_argument("--budget", type=_budget, default=None,
                         help="epochs per method, or profile (the default: the profile's budget.epochs)")
    _repeated(compare)

    subset = _study_stage(stages, "subset", "Study III: ASHA on balanced / imbalanced / weighted / augmented subsets")
    subset.add_argument("--variants", default="all",
                        help="comma-separated: balanced, imbalanced, imbalanced_weighted, imbalanced_augmented, "
                             "imbalanced_weighted_augmented, whole (default: all)")
    _repeated(subset)

    record = _study_stage(stages, "record", "train a fixed design per dataset (every grid point and drawn "
                          "configurations) and export its learning curves as a table for replay")
    record.add_argument("--datasets", default="all", help="comma-separated target datasets (default: all)")
    record.add_argument("--out", default="", help="the table file (default: recorded/PROFILE-seedSEED.json)")

    replay = stages.add_parser("replay", help="Study II over many search seeds, looked up in a recorded table "
                               "instead of trained")
    _common(replay)
    replay.add_argument("--table", default="default",
                        help="the recorded table (default: recorded/PROFILE-seedSEED.json, else the table the suite "
                             "ships for the profile)")
    replay.add_argument("--datasets", default="all", help="comma-separated datasets of the table (default: all)")
    replay.add_argument("--methods", default="paper", help=_methods_help())
    replay.add_argument("--budget", type=_budget, default=None,
                        help="epochs per method, or profile (the default: the profile's budget.epochs)")
    replay.add_argument("--workers", type=_ranged(1, 4096), default=1,
                        help="simulated workers: jobs run at once on the simulated clock (default: 1)")
    replay.add_argument("--lookup", default="nearest",
                        help="nearest (default: a design point's recorded curve) or surrogate (a random forest's "
                             "curve for every configuration, with the noise of training)")
    _record(replay)
    _repeated(replay)

    report = stages.add_parser("report", help="tables, figures and a page of the studies, from the tracking server")
    report.add_argument("--profile", default="embedded", help="profile name (profiles/NAME.yaml) or YAML path")
    report.add_argument("--seed", type=_seed, default=None,
                        help="seed of the studies (default: any; the latest study of the profile)")
    report.add_argument("--study", default="",
                        help="comma-separated study run ids to report instead of the latest of their stage; "
                             "the other stages follow the profile and seed of the first")
    report.add_argument("--out", default="reports", help="output folder (default: reports)")

    init = stages.add_parser("init", help="write a profile for a folder of images, one subfolder per class")
    init.add_argument("folder", help="the folder that holds one subfolder of images per class")
    init.add_argument("--out", default=None, help="the profile file to write (default: NAME.yaml here)")
    init.add_argument("--name", default=None, help="the profile's and dataset's name (default: the folder's)")
    init.add_argument("--backbone", default="MobileNetV2", help="xception or a keras.applications CNN "
                      "(default: MobileNetV2)")
    init.add_argument("--weights", default="imagenet", help="imagenet (default), none, or a weights file's path")
    init.add_argument("--input-size", type=_ranged(1, 1024), default=96, help="input side in pixels (default: 96)")
    init.add_argument("--force", action="store_true", help="replace the file if it exists")

    ui = stages.add_parser("ui", help="the MLflow UI on the local tracking store; prints the newest study's address")
    ui.add_argument("--host", default="127.0.0.1", help="interface to serve on (default: this machine only)")
    ui.add_argument("--port", type=_ranged(1, 65535), default=5000, help="the port to serve on (default: 5000)")
    return parser


def _seed(text: str) -> int | None:
    """A seed, or 'any' (also '' or 'none')."""
    return None if text.strip().lower() in ("", "any", "none") else _integer(text, 0, MAX_SEED)


class _MethodsHelp(str):
    """--methods' help, read from the registry only when help is printed: loading every method
    (and the plug-ins') costs a second that no other command should pay at start."""

    def __mod__(self, params) -> str:
        from hpo.search import registry
        return (f"comma-separated names of registered methods ({', '.join(registry.names())}), all of them, or "
                f"paper: the paper's {', '.join(registry.study_ii_names())} (default)") % params


def _methods_help() -> str:
    return _MethodsHelp("comma-separated method names, all, or paper (default)")


def _methods(text: str) -> list[str] | None:
    """--methods: names, `all` (every registered method) or `paper` (None: Study II's four)."""
    if text.strip() == "paper":
        return None
    return ["all"] if text.strip() == "all" else _list(text, "methods")


def _list(text: str, option: str) -> list[str] | None:
    """Comma-separated names (None for 'all'): no empty item, none twice."""
    if text.strip() == "all":
        return None
    items = [part.strip() for part in text.split(",")]
    if not all(items):
        raise UserError(f"--{option} {text!r} has an empty name: give comma-separated names, or all")
    twice = sorted({item for item in items if items.count(item) > 1})
    if twice:
        raise UserError(f"--{option} names {', '.join(twice)} twice")
    return items




def run(args: argparse.Namespace) -> None:
    if args.stage == "report":  # a reader: no profile to validate, no Keras
        from hpo.studies.report import run_report
        run_report(args.profile, args.seed, _list(args.study, "study") if args.study.strip() else [], args.out)
        return
    if args.stage == "init":  # writes a profile: no store, no Keras
        from hpo.init_profile import init_profile
        path = init_profile(args.folder, args.out, args.name, args.backbone, args.weights, args.input_size, args.force)
        argument = path if path.parent != Path(".") else f"./{path}"
        print(f"wrote {path}: check its split sizes and spaces, then\n  hpo prepare --profile {argument}\n"
              f"  hpo importance --profile {argument}; hpo compare --profile {argument}\n"
              f"  hpo report --profile {argument}   # reports/index.html")
        if args.weights == "imagenet":
            from hpo.backbone_catalogue import missing_weights_note
            note = missing_weights_note(args.backbone)
            if note:
                print(note)
        return
    if args.stage == "ui":
        from hpo.studies.ui import serve
        serve(args.host, args.port)
        return
    from hpo import tracking
    from hpo.profiles import load_profile

    profile = load_profile(args.profile)
    if args.stage == "train":  # a wrong value is refused before the store is opened (or created)
        _import_backend_quietly()
        from hpo.studies.train import check_request
        check_request(profile, _train_dataset(args, profile), _train_hyperparameters(args, profile), args.epochs,
                      args.init)
    tracking.check_store()  # before any work that a store which cannot record it would waste
    if getattr(args, "record", ""):
        from hpo.studies.writable import check_file
        check_file(args.record, "the study record", "give another --record")
    _import_backend_quietly()
    if hasattr(args, "scheduler"):
        from hpo.executor import cluster
        scheduler = None if args.scheduler == "local" else args.scheduler
        if args.workers != 1 and scheduler:
            raise UserError("give --workers N (a local cluster) or --scheduler ADDRESS (its workers), not both")
        with cluster.workers(args.workers, scheduler) as engine:
            _run_stage(args, profile, engine)
    else:
        from hpo.executor.drivers import IN_PROCESS
        _run_stage(args, profile, IN_PROCESS)


def _train_dataset(args: argparse.Namespace, profile) -> str:
    return profile.datasets.targets[0].name if args.dataset is None else args.dataset


def _train_hyperparameters(args: argparse.Namespace, profile) -> dict:
    from hpo.studies.train import default_config
    return default_config(profile, learning_rate=args.learning_rate, dropout=args.dropout, optimizer=args.optimizer,
                          fine_tuned_layers=args.fine_tuned_layers, input_size=args.input_size,
                          batch_size=args.batch_size)


def _run_stage(args: argparse.Namespace, profile, engine) -> None:
    """`engine`: where the stage's jobs train (hpo/executor/drivers.py)."""
    if args.stage == "prepare":
        from hpo.studies.prepare import run_prepare
        run_prepare(profile, args.seed, force=args.force)
    elif args.stage == "train":
        from hpo.studies.train import run_train
        run_train(profile, args.seed, _train_dataset(args, profile), _train_hyperparameters(args, profile),
                  args.epochs, init=args.init)
    elif args.stage == "importance":
        from hpo.studies.importance import run_importance
        run_importance(profile, args.seed, _list(args.datasets, "datasets"), restart=args.restart, engine=engine)
        if args.record:
            _write_record(args.record)
    elif args.stage == "compare":
        from hpo.studies.compare import run_compare
        datasets, methods = _list(args.datasets, "datasets"), _methods(args.methods)
        _each_repetition(search_seeds(args), lambda s: run_compare(profile, args.seed, datasets, methods, args.budget,
                                                                   restart=args.restart, search_seed=s,
                                                                   engine=engine))
        if args.record:
            _write_record(args.record)
    elif args.stage == "subset":
        from hpo.studies.subset import run_subset
        variants = _list(args.variants, "variants")
        _each_repetition(search_seeds(args), lambda s: run_subset(profile, args.seed, variants, restart=args.restart,
                                                                  search_seed=s, engine=engine))
        if args.record:
            _write_record(args.record)
    elif args.stage == "record":
        from hpo.studies.record import run_record
        run_record(profile, args.seed, _list(args.datasets, "datasets"), args.out or None, restart=args.restart,
                   engine=engine)
        if args.record:
            _write_record(args.record)
    elif args.stage == "replay":
        from hpo.studies.replay import run_replay
        seeds = [args.seed if s is None else s for s in search_seeds(args)]
        table = None if args.table in ("", "default") else args.table
        run_replay(profile, args.seed, seeds, table, _list(args.datasets, "datasets"), _methods(args.methods),
                   args.budget, args.workers, args.lookup)
        if args.record:
            _write_record(args.record)


def _terminate(signum, frame):
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        run(args)
    except UserError as e:
        print(f"hpo {args.stage}: error: {e}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"hpo {args.stage}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"hpo {args.stage}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a fault of the suite or its environment: one line, the traceback in a file
        if store_outage.is_outage(e):  # a server that stopped answering outside a study's runs
            print(f"hpo {args.stage}: error: {store_outage.outage_error()}", file=sys.stderr)
            return 2
        print(f"hpo {args.stage}: unexpected error: {one_line(f'{type(e).__name__}: {e}', 300)} (traceback in "
              f"{_traceback_file(args.stage)}; please report it)", file=sys.stderr)
        return 1
    return 0


def _traceback_file(stage: str) -> str:
    """The current exception's traceback, written to a new file under the temporary folder."""
    import traceback
    from datetime import datetime

    folder = Path(tempfile.gettempdir()) / "hpo-logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stage}-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
    path.write_text(" ".join(sys.argv) + "\n\n" + traceback.format_exc())
    return str(path)


if __name__ == "__main__":
    sys.exit(main())

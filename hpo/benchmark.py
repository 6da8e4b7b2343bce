"""One (profile, dataset) of the suite as an objective any optimizer can call: its ConfigSpace
space, its fidelity (epochs 1 to R) and `evaluate(config, epochs, seed)`, backed by a recorded
table (`hpo record`; looked up at the nearest design point as `hpo replay` does, or predicted by
the table's surrogate, hpo/surrogate.py) or by live training (the worker the studies use, one
MLflow run per evaluation).

    bench = Benchmark("embedded", "fashion")             # recorded/embedded-seed0.json
    bench.evaluate({"learning_rate": 0.001, "dropout": 0.2, "optimizer": "adam",
                    "fine_tuned_layers": 14}, epochs=9)
    -> {"val_accuracy": ..., "test_accuracy": ..., "seconds": ..., "epochs": 9, ...}

Hyperparameters the applied space fixes (a single input size or batch size) may be left out of
a configuration: the benchmark fills them in.
"""

from __future__ import annotations

from pathlib import Path

from hpo import recorded
from hpo.errors import UserError
from hpo.executor.replay import replayed
from hpo.jobs import Job
from hpo.profiles import load_profile
from hpo.space import config_space, constants, native

BACKENDS = ("table", "live")


class Benchmark:
    def __init__(self, profile: str = "embedded", dataset: str | None = None, table: str | Path | None = None,
                 backend: str = "table", seed: int = 0, lookup: str = "nearest"):
        """`profile`: a bundled profile's name or a profile file; `dataset`: one of its targets
        (default: the first); `table`: the recorded table (default recorded/PROFILE-seedSEED.json);
        `backend`: table or live (trains, needs `hpo prepare` of the profile and `seed`);
        `seed`: the prepare seed (splits and pretrained backbone); `lookup` (table): nearest or
        surrogate."""
        from hpo.studies.replay import LOOKUPS

        if backend not in BACKENDS:
            raise UserError(f"backend {backend!r}: use one of {', '.join(BACKENDS)}")
        if lookup not in LOOKUPS:
            raise UserError(f"lookup {lookup!r}: use one of {', '.join(LOOKUPS)}")
        self.profile = load_profile(profile)
        self.dataset = dataset or self.profile.datasets.targets[0].name
        self.profile.target(self.dataset)
        self.backend, self.seed = backend, seed
        self.space = config_space(self.profile.space.applied)
        self.fixed = constants(self.space)
        if backend == "table":
            from hpo.studies.record import default_table
            from hpo.studies.replay import check_table, lookup_model

            self.table = recorded.load(table or default_table(self.profile, seed))
            check_table(self.table, self.profile, [self.dataset])
            self.max_epochs = int(self.table.provenance["epochs"])
            self._lookup = lookup_model(self.table, self.dataset, lookup)
        else:
            self.table, self.max_epochs = None, recorded.epochs(self.profile)

    @property
    def fidelity(self) -> tuple[int, int]:
        """The epochs a configuration may train: 1 to R."""
        return 1, self.max_epochs

    def optuna_space(self) -> dict:
        """The searched hyperparameters as Optuna distributions (for `study.ask`)."""
        from hpo.search.optuna_search import distributions

        return distributions(self.space)[0]

    def evaluate(self, config: dict, epochs: int | None = None, seed: int = 0) -> dict:
        """Validation and test accuracy after `epochs` (default R) and the seconds the training
        took; `seed`: the training's (initial head, data order) where it trains live. A training
        that failed gives NaN accuracies and its `error`."""
        epochs = self.max_epochs if epochs is None else epochs
        if not isinstance(epochs, int) or not 1 <= epochs <= self.max_epochs:
            raise UserError(f"epochs must be an integer from 1 to {self.max_epochs}, got {epochs!r}")
        config = {name: native(value) for name, value in {**self.fixed, **dict(config)}.items()}
        missing = [name for name in self.space if name not in config]
        if missing:
            raise UserError(f"the configuration lacks {', '.join(missing)}")
        if self.backend == "table":
            recorded_seed = self.table.provenance["seed"]  # seed 0 looks up the recording's own trainings
            point = self._lookup.for_search(recorded_seed + seed, recorded_seed)(config)
            outcome = replayed(point, Job(0, config, 0, epochs))
            where = {"design_point": point.index}  # -1 for the surrogate's own curve
        else:
            outcome, where = self._train(config, epochs, seed)
        return {"val_accuracy": outcome.score, "test_accuracy": outcome.test_accuracy,
                "seconds": outcome.train_seconds, "epochs": epochs, "error": outcome.error, **where}

    def _train(self, config: dict, epochs: int, seed: int):
        """One training by the studies' worker, logged as a run of experiment `benchmark`."""
        from hpo import tracking
        from hpo.executor.worker import TrialSpec, train_job
        from hpo.tracking import trial_record

        tracking.check_store()
        client = tracking.client()
        experiment = client.get_experiment_by_name("benchmark")
        experiment_id = experiment.experiment_id if experiment else client.create_experiment("benchmark")
        run = client.create_run(experiment_id, run_name=f"benchmark {self.dataset} seed {seed}",
                                tags={"stage": "benchmark", "dataset": self.dataset, "profile": self.profile.name})
        trial_record.log_trial_params(run.info.run_id, config, client)
        spec = TrialSpec(profile=self.profile, prepare_seed=self.seed, dataset=self.dataset, config=config, start=0,
                         stop=epochs, train_seed=seed, run_id=run.info.run_id, tracking_uri=tracking.tracking_uri())
        return train_job(spec), {"run_id": run.info.run_id}  # NaN accuracies where it failed

"""A short job's cost outside Keras' epochs, alone: one-epoch jobs on pooled models over the
cached features of embedded Fashion-MNIST (eight configurations: two depths, two optimizers, two
batch sizes), after each model was built once. No search, no tracking, no checkpoint: what
`fine_tune` itself adds to every job. Prints the seconds per job outside the epochs and per
phase (hpo.timing). Needs `hpo prepare --profile embedded` first.
"""

import time

import pytest

from hpo import timing
from hpo.data.prepared import BACKBONE_FILE, load_prepared, prepared_dir
from hpo.models import load_backbone
from hpo.profiles import load_profile
from hpo.training import TrialConfig, fine_tune
from hpo.training.feature_cache import FeatureCache

ROUNDS = 5  # jobs per configuration


@pytest.mark.skipif(not (prepared_dir("embedded", 0) / "manifest.json").is_file(),
                    reason="run `hpo prepare --profile embedded` first")
def test_pooled_job_overhead(benchmark):
    data, _ = load_prepared(load_profile("embedded"), 0, "fashion")
    path = prepared_dir("embedded", 0) / BACKBONE_FILE

    def factory():
        return load_backbone(path)

    cache = FeatureCache()
    configs = [TrialConfig(learning_rate=0.001, dropout=0.2, optimizer=optimizer, fine_tuned_layers=k,
                           input_size=32, batch_size=batch_size)
               for k in (9, 18) for optimizer in ("adam", "sgd") for batch_size in (32, 64)]
    for config in configs:  # every model built and traced once
        fine_tune(config, data, 1, backbone_factory=factory, feature_cache=cache, seed=1)

    def jobs():
        with timing.recording() as record:
            started, epochs = time.perf_counter(), 0.0
            for i in range(ROUNDS):
                for j, config in enumerate(configs):
                    result = fine_tune(config, data, 1, backbone_factory=factory, feature_cache=cache,
                                       seed=10 + 10 * i + j, test_above=1.0)
                    epochs += sum(m.seconds for m in result.history)
            return record, epochs, time.perf_counter() - started

    record, epochs, wall = benchmark.pedantic(jobs, rounds=1, iterations=1)
    n = ROUNDS * len(configs)
    print(f"\n{n} one-epoch jobs on pooled models: {wall / n:.4f} s per job, {(wall - epochs) / n:.4f} s of it "
          f"outside Keras' epochs ({(wall - epochs) / wall:.1%})")
    for name, seconds in sorted(record.seconds.items(), key=lambda item: -item[1]):
        print(f"{name:<30}{seconds / n:>10.4f} s per job")
    benchmark.extra_info.update(jobs=n, seconds_per_job=wall / n, outside_per_job=(wall - epochs) / n)

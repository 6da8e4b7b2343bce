"""How Study II on the paper profile would scale with 1, 2, 4, 8 and 16 workers: the real methods
and loop on the simulated clock (no training), 20 search seeds per dataset.

Assumed, from docs/paper-scale.md's estimate for one A100/H100-class GPU per worker: an epoch of
Xception at 256 px trains 600 images/s end to end (k = 132 fine-tuned layers), 10x faster where the frozen-
feature cache serves the frozen part (k = 9, 14, 18); a job also costs 5 s outside its epochs;
workers never wait for each other's data or the tracking store; outcomes are random, so
promotions follow no real curve. Prints the mean hours of ASHA until N_m trials reached R, and of
the whole Study II (4 methods x 3 datasets, one after another), with the speed-up over one worker.
"""

import random
import statistics

from hpo.budget import Budget
from hpo.executor.simulated import SimulatedDriver
from hpo.jobs import Outcome
from hpo.profiles import load_profile
from hpo.search.loop import run_search
from hpo.search.registry import entry
from hpo.space import config_space, constants

PROFILE = load_profile("paper")
TRAIN_IMAGES = {"cifar100": 40_000, "stanford_dogs": 15_504, "mio_tcd": 11_000}  # Table 1
IMAGES_PER_SECOND, CACHED_SPEEDUP, JOB_OVERHEAD_S = 600, 10, 5.0
WORKERS, SEEDS = (1, 2, 4, 8, 16), range(20)


def simulate(method: str, images: int, workers: int, seed: int) -> tuple[float, float | None]:
    """(simulated seconds of the whole search, seconds until ASHA's N_m-th trial reached R)."""
    full = images / IMAGES_PER_SECOND
    layers = max(PROFILE.space.applied.model_dump()["fine_tuned_layers"])

    def duration(job):
        per_epoch = full if job.config["fine_tuned_layers"] >= layers else full / CACHED_SPEEDUP
        return job.epochs * per_epoch + JOB_OVERHEAD_S

    rng = random.Random(seed)
    driver = SimulatedDriver(lambda job: Outcome(rng.random(), rng.random(), job.epochs), workers, duration)
    policy = entry(method).build(PROFILE, seed, constants(config_space(PROFILE.space.applied)))
    result = run_search(policy, Budget(PROFILE.budget.epochs), driver, progress=None)
    top = policy.rungs[-1] if method == "asha" else None
    reached = [end for (job, _), end in zip(result.jobs, driver.ended_at, strict=True) if job.stop == top]
    return driver.clock, (reached[PROFILE.asha.max_trials_at_R - 1]
                          if len(reached) >= PROFILE.asha.max_trials_at_R else None)


def test_study_two_scaling_on_the_paper_profile():
    rows = {}
    for workers in WORKERS:
        study, asha_top = [], []
        for seed in SEEDS:
            total = 0.0
            for dataset in TRAIN_IMAGES:
                for method in ("grid", "random", "tpe", "asha"):
                    clock, reached = simulate(method, TRAIN_IMAGES[dataset], workers, seed)
                    total += clock
                    if reached is not None and dataset == "cifar100":
                        asha_top.append(reached)
            study.append(total)
        rows[workers] = (statistics.mean(asha_top) / 3600, statistics.mean(study) / 3600)
    print("\nworkers | ASHA to N_m at R, CIFAR-100 (h) | speed-up | Study II, 3 datasets (h) | speed-up")
    for workers, (asha, study) in rows.items():
        print(f"{workers:>7} | {asha:>31.2f} | {rows[1][0] / asha:>8.1f} | {study:>24.1f} | {rows[1][1] / study:>8.1f}")
    assert rows[16][1] < rows[1][1]

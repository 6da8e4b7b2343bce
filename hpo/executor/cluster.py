"""Jobs on many workers: a Dask cluster, `LocalCluster` on this machine or a running scheduler.

`workers(count, scheduler)` opens the engine a stage's searches share (one cluster per stage, so
each worker process keeps its data, model pool and feature cache from one search to the next):
the stage's own process for one worker without a scheduler (the sequential loop, bit for bit),
else `Dask`, whose drivers hand jobs to `DaskTrainer`.

A worker process runs one job at a time (one thread): the model pool lends one model's layers to
another optimizer's model, which is only safe while one job trains at a time, and TensorFlow
already spreads one training over the cores it may use. A GPU machine runs one worker per GPU
(dask-cuda's LocalCUDACluster, or `dask worker --nthreads 1` with CUDA_VISIBLE_DEVICES set),
so one trial trains per GPU.

Workers read the prepared data by path (HPO_PREPARED_DIR, and the checkpoints under
HPO_CHECKPOINT_DIR, on a filesystem every worker reaches) and log to the tracking store by
run id: only the job's plain TrialSpec travels to them.
"""

from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from hpo import tracking
from hpo.errors import UserError, one_line
from hpo.executor.drivers import IN_PROCESS, Engine, Launch, ReadBackOrTrain
from hpo.executor.worker import TrialSpec, train_job
from hpo.jobs import Job, Outcome
from hpo.tracking import trial_record

WORKER_WAIT_S = 120  # how long a scheduler may take to have its first worker


@contextmanager
def workers(count: int = 1, scheduler: str | None = None) -> Iterator[Engine]:
    """The engine every search of the block runs on: this process for one worker without a
    scheduler, else the workers of a Dask cluster (a LocalCluster starts and stops with the block)."""
    if count == 1 and not scheduler:
        yield IN_PROCESS
        return
    from distributed import Client, LocalCluster

    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout=30)
        else:
            # Worker processes inherit this environment (store, prepared folder, checkpoints)
            cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
    except (OSError, ValueError) as e:  # unreachable, or not an address
        where = f"the Dask scheduler at {scheduler}" if scheduler else f"{count} local Dask workers"
        raise UserError(f"cannot reach {where} ({one_line(e, 200)}): check the address, or leave "
                        "--scheduler out for a local cluster") from None
    try:
        yield Dask(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass(frozen=True)
class Dask:
    """The engine of a Dask cluster's workers: each search's jobs are Dask tasks."""
    client: object

    def driver(self, launch: Launch) -> ReadBackOrTrain:
        return ReadBackOrTrain(launch, DaskTrainer(self.client))


class DaskTrainer:
    """Jobs as Dask tasks: `submit` hands a worker the job's spec; `results` waits for the first
    tasks to end. A task whose worker dies is run again by Dask on another worker (the job
    restarts from its start, a promoted ASHA trial from its checkpoint), and the loop charged it
    once, when it was submitted. A task that fails outside the training (a worker that cannot
    import the suite, or dies too often) fails its job: its run ends FAILED with the reason."""

    def __init__(self, client):
        from distributed import wait

        self.client, self._wait = client, wait
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            raise UserError(f"the Dask cluster has no worker after {WORKER_WAIT_S} s: start workers "
                            "(`dask worker ADDRESS --nthreads 1`)") from None
        # Asked of the scheduler: scheduler_info() returns the client's cache, which its periodic
        # refresh can replace by one without workers between the fetch and the read (0 slots)
        self.slots = sum(client.nthreads().values())
        self._running: dict = {}  # future -> (job, spec)

    def submit(self, job: Job, spec: TrialSpec) -> None:
        future = self.client.submit(train_job, spec, pure=False,
                                    key=f"train-{spec.run_id}-{job.start}-{job.stop}-{os.urandom(4).hex()}")
        self._running[future] = (job, spec)

    def results(self) -> list[tuple[Job, Outcome]]:
        done, _ = self._wait(list(self._running), return_when="FIRST_COMPLETED")
        return [self._outcome(future, *self._running.pop(future)) for future in done]

    def _outcome(self, future, job: Job, spec: TrialSpec) -> tuple[Job, Outcome]:
        try:
            return job, future.result()
        except UserError:  # the tracking store is gone: the study stops, as in one process
            raise
        except Exception as e:
            error = f"the worker could not run the job: {type(e).__name__}: {one_line(str(e), 500)}"
            client = tracking.client(spec.tracking_uri)
            trained = trial_record.logged_epochs(client, spec.run_id, job.start, job.stop)
            tracking.end_trial_run(client, spec.run_id, "FAILED", error=error)
            return job, Outcome(math.nan, math.nan, trained, error=error)

    def cancel(self) -> None:
        """Stop what is in flight (the study stops): its runs end KILLED, to be trained again by a rerun."""
        for future, (_, spec) in list(self._running.items()):
            future.cancel()
            try:
                tracking.end_trial_run(tracking.client(spec.tracking_uri), spec.run_id, "KILLED", error="interrupted")
            except Exception:  # a store that is gone: the rerun ends the run (tracking.end_abandoned_runs)
                pass
        self._running.clear()



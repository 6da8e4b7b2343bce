"""The worker: `train_job(spec) -> Outcome` trains one job from plain data and logs it by run id.

A spec names everything a job needs (profile, the prepare seed, the data, the configuration, the
epochs, where its checkpoints live, the tracking store and the trial's run) and nothing that
lives only in the driver's process, so any process that can import the suite, read the prepared
folder and reach the store can run it. Each process keeps what jobs share (the prepared data,
the backbone factory and with it the compiled-model pool, the frozen-feature cache) across jobs.
"""

from __future__ import annotations

import math
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hpo import store_outage, timing, tracking
from hpo.data.prepared import BACKBONE_FILE, load_prepared, load_subset, prepared_dir
from hpo.data.subsets import with_class_weights
from hpo.jobs import Outcome
from hpo.models import backbone_factory, input_scaling, min_input_size
from hpo.training import TrialConfig, fine_tune
from hpo.training.feature_cache import cache_for

if TYPE_CHECKING:
    from hpo.profiles import Profile


@dataclass(frozen=True)
class TrialSpec:
    profile: Profile  # frozen and picklable
    prepare_seed: int  # which splits and which pretrained backbone
    dataset: str
    config: dict
    start: int
    stop: int
    train_seed: int  # initial head and data order
    run_id: str  # the trial run the job logs to
    tracking_uri: str
    subset: str | None = None  # a Study III subset of `dataset` instead of its full split
    weighted: bool = False  # class weights in the loss (Study III)
    checkpoints: str | None = None  # the trial's checkpoint folder; None: the trial is never resumed
    # Score the test set only if the job's validation accuracy reaches this: the best its method
    # had been told when the job was handed out (a job below it can never be the one reported)
    test_above: float = -math.inf
    test_every_epoch: bool = False  # a recorded table (hpo record): the test accuracy of every epoch

    def checkpoint(self, epoch: int) -> Path:
        return Path(self.checkpoints) / f"epoch-{epoch}"


_DATA: OrderedDict = OrderedDict()  # a few splits, most recently used last
_KEPT_SPLITS = 4
_BACKBONES: dict = {}  # (prepared profile, seed, file) -> backbone factory; the model pool hangs on it
_CACHES: dict = {}  # cache settings -> FeatureCache
EPOCH_LOG_MAX = 100  # epochs a job holds back at most (tracking.epoch_log_seconds; one write takes 1000 values)


def forget() -> None:
    """Drop what this process keeps between jobs (data, backbones and their model pools, feature
    caches), as a new worker process starts: for measurements that compare cold starts."""
    _DATA.clear()
    _BACKBONES.clear()
    _CACHES.clear()


def backbone(profile, seed: int):
    """This process's backbone factory for a profile's prepared backbone (one per process, so
    every job shares its model pool)."""
    file = prepared_dir(profile.name, seed) / BACKBONE_FILE
    key = (profile.prepare_checksum, seed, str(file))
    if key not in _BACKBONES:
        _BACKBONES[key] = backbone_factory(profile.backbone, file)
    return _BACKBONES[key]


def _data(spec: TrialSpec):
    key = (spec.profile.prepare_checksum, spec.prepare_seed, str(prepared_dir(spec.profile.name, spec.prepare_seed)),
           spec.dataset, spec.subset, spec.weighted)
    if key not in _DATA:
        if spec.subset is None:
            data, _ = load_prepared(spec.profile, spec.prepare_seed, spec.dataset)
        else:
            data, _ = load_subset(spec.profile, spec.prepare_seed, spec.subset)
        _DATA[key] = with_class_weights(data) if spec.weighted else data
        while len(_DATA) > _KEPT_SPLITS:
            _DATA.popitem(last=False)
    _DATA.move_to_end(key)
    return _DATA[key]


def _feature_cache(profile):
    key = profile.cache.model_dump_json()
    if key not in _CACHES:
        _CACHES[key] = cache_for(profile.cache)
    return _CACHES[key]


def _publish(partial: Path, target: Path) -> None:
    """A checkpoint appears whole or not at all: it is written to `epoch-N.partial` and renamed,
    so a process killed while writing leaves no `epoch-N` to resume from."""
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def train_job(spec: TrialSpec) -> Outcome:
    """Train epochs spec.start -> spec.stop of one trial, logging its epochs to its run; end the
    run FINISHED (`epochs`, and the test accuracy where scored, logged at step = stop) or FAILED
    with tag `error`.
    A failure of the trial is an Outcome with that error; an interrupt ends the run KILLED."""
    client = tracking.client(spec.tracking_uri)
    log_every = tracking.epoch_log_seconds()
    trained = []
    pending: list[tuple[int, dict, int]] = []  # (epoch, metrics, when it ended in ms) not yet written
    # Which process trained the job, said with its first write (no call of its own)
    written = {"at": time.monotonic(), "tags": {tracking.WORKER_TAG: tracking.this_process()}}

    def report(m) -> None:
        trained.append(m)
        if m.epoch == spec.stop:  # the last epoch is logged with the job's end, in the same call
            return
        pending.append((m.epoch, m.metrics(), int(time.time() * 1000)))
        if time.monotonic() - written["at"] >= log_every or len(pending) >= EPOCH_LOG_MAX:
            with timing.phase("tracking"):
                tracking.log_epochs_to(client, spec.run_id, pending, written.pop("tags", None))
            pending.clear()
            written["at"] = time.monotonic()

    def end(status: str, closing: dict | None = None, error: str | None = None) -> None:
        held = trained[-1].metrics() if trained and trained[-1].epoch == spec.stop else {}
        with timing.phase("tracking"):
            tracking.end_trial_run(client, spec.run_id, status, {**held, **(closing or {})}, step=spec.stop,
                                   error=error, tags=written.pop("tags", None), earlier=pending)

    try:
        with timing.phase("data"):
            data = _data(spec)
        resume = None
        if spec.start > 0:
            resume = spec.checkpoint(spec.start)
            if not resume.is_dir():
                raise FileNotFoundError(f"checkpoint {resume} is gone: rerun the study with --restart")
        partial = spec.checkpoint(spec.stop).with_name(f"epoch-{spec.stop}.partial") if spec.checkpoints else None
        result = fine_tune(TrialConfig.from_dict(spec.config), data, spec.stop - spec.start, resume_from=resume,
                           backbone_factory=backbone(spec.profile, spec.prepare_seed),
                           min_input_size=min_input_size(spec.profile.backbone.name),
                           scaling=input_scaling(spec.profile.backbone.name), on_epoch=report,
                           seed=spec.train_seed, feature_cache=_feature_cache(spec.profile), checkpoint_to=partial,
                           test_above=spec.test_above, test_every_epoch=spec.test_every_epoch)
        if partial is not None:
            with timing.phase("checkpoint write"):
                _publish(partial, spec.checkpoint(spec.stop))
        test = math.nan if result.test_accuracy is None else result.test_accuracy
        outcome = Outcome(result.val_accuracy, test, len(trained), sum(m.seconds for m in trained))
    except KeyboardInterrupt:
        end("KILLED", error="interrupted")
        raise
    except Exception as e:  # any failure of one trial is recorded; the study goes on
        if store_outage.is_outage(e):  # not the trial's failure, and the server cannot record one
            raise store_outage.outage_error() from e
        outcome = Outcome(math.nan, math.nan, len(trained), sum(m.seconds for m in trained),
                          error=f"{type(e).__name__}: {e}")
        end("FAILED", error=outcome.error)
        return outcome
    # `epochs` at step = stop marks the job finished; a test accuracy only where it was scored
    end("FINISHED", {"epochs": spec.stop} | ({} if math.isnan(test) else {"test_accuracy": test}))
    if spec.start > 0:  # recorded now: a rerun reads this job back, so its start is not needed
        with timing.phase("checkpoint write"):
            shutil.rmtree(spec.checkpoint(spec.start), ignore_errors=True)
    return outcome

"""How every study stage opens its study, in one place: the study key (what identifies the
study, so that the same command continues it), its tags (provenance, the study's name, what the
stage adds), its run name, and the study run itself (opened or continued, tracking.study_run)."""

from __future__ import annotations

from dataclasses import dataclass

from hpo import tracking
from hpo.studies.searching import Repetition


@dataclass(frozen=True)
class Study:
    stage: str
    key: str  # tracking.STUDY_KEY: the same stage, profile, data and parameters give the same key
    name: str  # the `study` tag: stage-profile-seedN, -searchM for a repetition
    run_name: str
    tags: dict[str, str]

    @property
    def trial_tags(self) -> dict[str, str]:
        """What every method, variant and trial run of the study carries besides its own tags."""
        return {"study": self.name, tracking.STUDY_KEY: self.key}

    def run(self, restart: bool = False):
        """The study run, continued if the store holds one of this key (unless `restart`)."""
        return tracking.study_run(self.stage, self.run_name, self.tags, self.key, restart)


def open_study(stage: str, profile, repetition: Repetition, data_checksum: str, key: dict,
               tags: dict[str, str]) -> Study:
    """`key`: what identifies the study besides its stage, profile, seed, search seed and data;
    `tags`: what the stage records besides provenance and the study's name."""
    name = repetition.study(stage, profile)
    return Study(stage,
                 tracking.study_key(stage, profile, repetition.seed, data_checksum, **key,
                                    **repetition.key_parameters()),
                 name, repetition.run_name(stage, profile),
                 {**tracking.provenance_tags(stage, profile, repetition.seed, data_checksum),
                  "study": name, **tags, **repetition.tags()})

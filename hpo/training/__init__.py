"""Fine-tuning one configuration: knows Keras, not MLflow nor optimizers of hyperparameters."""

from hpo.data.base import SplitData
from hpo.training.config import TrialConfig
from hpo.training.trainer import EpochMetrics, TrialResult, fine_tune

__all__ = ["TrialConfig", "SplitData", "TrialResult", "EpochMetrics", "fine_tune"]

"""Custom TFMA metrics, referenced from the EvalConfig by module path (`models.metrics`)."""
from typing import Optional

from tensorflow_model_analysis.metrics import confusion_matrix_metrics

ACCURACY_LIFT_NAME = 'accuracy_lift'


class AccuracyLift(confusion_matrix_metrics.ConfusionMatrixMetric):
  """Accuracy minus the majority-class rate of the same examples.

  A classifier that always answers the majority class scores 0; TFX's taxi example,
  which always predicts "no big tip", scores exactly that. A value threshold of > 0
  means "accuracy above the evaluation data's majority rate" on every evaluation.
  """

  def __init__(self, threshold: Optional[float] = None, name: Optional[str] = None):
    super().__init__(thresholds=threshold, name=name)

  def _default_name(self) -> str:
    return ACCURACY_LIFT_NAME

  def result(self, tp: float, tn: float, fp: float, fn: float) -> float:
    total = tp + tn + fp + fn
    if total <= 0:
      return float('nan')
    return (tp + tn - max(tp + fn, tn + fp)) / total

"""Typed configuration of a pipeline run. Frozen dataclasses, loaded once, overridden by the CLI.

Nothing here reads the environment or the file system: the runners decide paths and
pass them in, so `create_pipeline` stays pure.
"""
import dataclasses
from typing import Optional, Tuple

from models.model import HParams

DEFAULT_PIPELINE_NAME = 'ctpipe-taxi'
DEFAULT_MODEL_NAME = 'taxi'


@dataclasses.dataclass(frozen=True)
class Thresholds:
  """What the Evaluator requires before it blesses a candidate (see pipeline/evaluation.py).

  Value thresholds apply on every run; change thresholds compare the candidate with the
  latest blessed model (the baseline) on the same evaluation data and are skipped by TFMA
  on the first run, when there is no baseline.
  """
  min_auc: float = 0.90
  # Accuracy must beat the evaluation data's majority-class rate by more than this.
  min_accuracy_lift: float = 0.0
  # Overall: the candidate may be at most this much worse than the baseline.
  max_auc_drop: float = 0.01
  max_accuracy_drop: float = 0.01
  # Per slice of payment_type and trip_start_hour: at most this much worse than the baseline.
  max_slice_accuracy_drop: float = 0.05
  max_slice_auc_drop: float = 0.05
  # Slices guarded by per-slice AUC change thresholds (both classes occur in them).
  auc_guarded_payment_types: Tuple[str, ...] = ('Credit Card',)

  def __post_init__(self):
    if not 0.0 <= self.min_auc <= 1.0:
      raise ValueError(f'min_auc must be within [0, 1], got {self.min_auc}')
    for name in ('max_auc_drop', 'max_accuracy_drop', 'max_slice_accuracy_drop',
                 'max_slice_auc_drop'):
      if getattr(self, name) < 0:
        raise ValueError(f'{name} must be >= 0, got {getattr(self, name)}')


@dataclasses.dataclass(frozen=True)
class PipelineSettings:
  """Everything that shapes the pipeline, apart from where it reads and writes."""
  pipeline_name: str = DEFAULT_PIPELINE_NAME
  model_name: str = DEFAULT_MODEL_NAME
  # Transform, Trainer and Evaluator read the newest `window_spans` validated spans.
  window_spans: int = 4
  # Hash split of every span into train/eval (2:1: one third held out).
  train_buckets: int = 2
  eval_buckets: int = 1
  hparams: HParams = HParams()
  thresholds: Thresholds = Thresholds()
  # Every pushed version also as TensorFlow Lite (see pipeline/edge_export.py).
  edge_export: bool = True
  # Start training from the latest blessed model's weights (where shapes still match).
  warm_start: bool = False
  # Transform reads each span of the window as its own dataset and reuses TFT's analyzer
  # cache across runs (local only). Off: one merged dataset, measured faster here.
  analyzer_cache: bool = False

  def __post_init__(self):
    if self.window_spans < 1:
      raise ValueError(f'window_spans must be >= 1, got {self.window_spans}')
    if self.train_buckets < 1 or self.eval_buckets < 1:
      raise ValueError('train_buckets and eval_buckets must both be >= 1')
    if not self.model_name or not self.model_name.replace('-', '').replace('_', '').isalnum():
      raise ValueError(f'model_name {self.model_name!r}: use letters, digits, - and _ only')


@dataclasses.dataclass(frozen=True)
class PipelinePaths:
  """Where a run reads and writes; local paths or gs:// URIs."""
  pipeline_root: str
  data_root: str
  schema_file: str
  serving_base: str  # models are pushed to <serving_base>/<model_name>/<version>/

  def model_base(self, model_name: str) -> str:
    return f'{self.serving_base.rstrip("/")}/{model_name}'

  def edge_base(self, model_name: str) -> str:
    """Where TFLite versions go; '.' cannot occur in a model name, so no model is called so."""
    return f'{self.serving_base.rstrip("/")}/{model_name}.edge'


def replace_settings(settings: PipelineSettings, window_spans: Optional[int] = None,
                     epochs: Optional[int] = None, min_auc: Optional[float] = None,
                     edge_export: Optional[bool] = None, warm_start: Optional[bool] = None,
                     analyzer_cache: Optional[bool] = None) -> PipelineSettings:
  """Applies command-line overrides; None keeps the configured value."""
  if analyzer_cache is not None:
    settings = dataclasses.replace(settings, analyzer_cache=analyzer_cache)
  if edge_export is not None:
    settings = dataclasses.replace(settings, edge_export=edge_export)
  if warm_start is not None:
    settings = dataclasses.replace(settings, warm_start=warm_start)
  if window_spans is not None:
    settings = dataclasses.replace(settings, window_spans=window_spans)
  if epochs is not None:
    settings = dataclasses.replace(settings,
                                   hparams=dataclasses.replace(settings.hparams, epochs=epochs))
  if min_auc is not None:
    settings = dataclasses.replace(
        settings, thresholds=dataclasses.replace(settings.thresholds, min_auc=min_auc))
  return settings

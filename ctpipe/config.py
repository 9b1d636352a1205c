"""ctpipe's typed configuration: one file (`config/ctpipe.yaml`), loaded once per command.

The types are frozen standard-library dataclasses, so that pipeline steps (on Vertex,
in TFX's own image) import them without any validation library and without
TensorFlow. Reading a file into them is pydantic's job (`parse`, `load`): typed values,
unknown keys refused, and each mistake turned into one line naming the key and where it
came from (the file, or the `--set` option that introduced it). YAML gives values their
types; a quoted number is read as that number.

Sections: `dataset` (the data set's definition: everything that names its columns,
outside the model's own feature contract in `models/`), `pipeline` (settings both
targets share), `local`, `vertex`.
"""
import copy
import dataclasses
import enum
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

# pydantic reads this attribute on a standard dataclass: a key the type lacks is an error.
_STRICT = {'extra': 'forbid'}


class Target(enum.Enum):
  LOCAL = 'local'
  VERTEX = 'vertex'


class ConfigError(ValueError):
  """The configuration file or an override is wrong; the message says where.

  `key`: the dotted key the mistake is at ('' when unknown), to name the override.
  """

  def __init__(self, message: str, key: str = ''):
    super().__init__(message)
    self.key = key


BEAM_MODE_NAMES = ('auto', 'in_memory', 'multi_processing')
TASKS = ('binary', 'multiclass', 'regression')


# --- the data set's definition -----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class GuardedSlices:
  """Slices a blessing guards against the baseline: feature -> values ([]: every value)."""
  __pydantic_config__ = _STRICT
  accuracy: Mapping[str, Tuple[str, ...]] = dataclasses.field(default_factory=dict)
  auc: Mapping[str, Tuple[str, ...]] = dataclasses.field(default_factory=dict)  # binary only
  rmse: Mapping[str, Tuple[str, ...]] = dataclasses.field(default_factory=dict)  # regression


@dataclasses.dataclass(frozen=True)
class DemoChanges:
  """How `replay --demo` alters a copy of the data: one drifted span, one schema-broken span."""
  __pydantic_config__ = _STRICT
  scaled: Tuple[str, ...] = ()           # numeric columns multiplied by `scale`
  scale: float = 2.5
  constant: Mapping[str, str] = dataclasses.field(default_factory=dict)  # column -> value
  constant_share: float = 0.8            # of the rows given the constant
  dropped: str = ''                      # a required column the broken span lacks
  garbled: str = ''                      # a numeric column the broken span fills with text


@dataclasses.dataclass(frozen=True)
class FeatureTreatments:
  """How each raw column becomes model inputs (models/preprocessing.py applies it)."""
  __pydantic_config__ = _STRICT
  # Skewed positive amounts: log1p, then z-score, quantile buckets and a missing indicator.
  amounts: Tuple[str, ...] = ()
  # Other numbers: z-score, quantile buckets and a missing indicator.
  numbers: Tuple[str, ...] = ()
  # Integer codes with a known range [low, high]: index = code - low + 1, 0 for missing.
  ranged: Mapping[str, Tuple[int, int]] = dataclasses.field(default_factory=dict)
  # Integer codes without a useful range: hashed into this many buckets, 0 for missing.
  hashed: Mapping[str, int] = dataclasses.field(default_factory=dict)
  # Strings: a vocabulary computed by Transform.
  vocabulary: Tuple[str, ...] = ()
  # Dates and times (ISO text or epoch seconds): expanded into month, day of week and
  # hour, each an index (as Vertex's transform engine does for timestamps).
  dates: Tuple[str, ...] = ()
  # Kept in the data and the schema, never a model input (ids, timestamps, empty columns).
  unused: Tuple[str, ...] = ()
  quantile_buckets: int = 20
  vocabulary_min_frequency: int = 5
  oov_buckets: int = 1

  def __post_init__(self):
    seen: Dict[str, str] = {}
    for kind in ('amounts', 'numbers', 'ranged', 'hashed', 'vocabulary', 'dates', 'unused'):
      for name in getattr(self, kind):
        if name in seen:
          raise ValueError(f'{name!r} is under both {seen[name]} and {kind}')
        seen[name] = kind
    for name, (low, high) in self.ranged.items():
      if low > high:
        raise ValueError(f'ranged.{name}: [{low}, {high}] is empty')
    if self.quantile_buckets < 2 or self.oov_buckets < 1:
      raise ValueError('quantile_buckets >= 2 and oov_buckets >= 1')

  @property
  def model_inputs(self) -> Tuple[str, ...]:
    return (self.amounts + self.numbers + tuple(self.ranged) + tuple(self.hashed)
            + self.vocabulary + self.dates)


@dataclasses.dataclass(frozen=True)
class DataSet:
  """A data set's definition: its names, columns and their treatment, label, slices."""
  __pydantic_config__ = _STRICT
  name: str                 # the model's name: serving/<name>/<version>/, TF Serving's API
  pipeline_name: str        # the TFX pipeline (and ML Metadata context) name
  label: str
  features: FeatureTreatments = FeatureTreatments()
  # A label derived from other columns: the dotted path of a function of the raw
  # inputs (like `preprocessing_fn`'s), and the columns it reads, which are then never
  # model inputs and never needed at serving time. '': the label is a column.
  label_fn: str = ''
  label_sources: Tuple[str, ...] = ()
  task: str = 'binary'      # binary | multiclass | regression
  # Binary: the label value that is the positive class ('' : the label is 0/1 already).
  positive_class: str = ''
  # Multiclass: the label's values, in the order of the model's probabilities (an index
  # each); any other value is not a class the model knows.
  classes: Tuple[str, ...] = ()
  time_column: str = ''     # splits one CSV into spans by period ('' : no time column)
  slices: Tuple[str, ...] = ()        # features the Evaluator slices by
  guarded_slices: GuardedSlices = GuardedSlices()
  demo: DemoChanges = DemoChanges()

  def __post_init__(self):
    if not self.name or not self.name.replace('-', '').replace('_', '').isalnum():
      raise ValueError(f'name {self.name!r}: use letters, digits, - and _ only')
    for kind in ('accuracy', 'auc', 'rmse'):
      unknown = sorted(set(getattr(self.guarded_slices, kind)) - set(self.slices))
      if unknown:
        raise ValueError(f'guarded_slices.{kind}: {unknown} are not in slices {list(self.slices)}')
    inputs = set(self.features.model_inputs)
    for name in (self.label,) + self.label_sources:
      if name in inputs:
        raise ValueError(f'{name!r} is the label or feeds it: it cannot be a model input')
    if self.label_sources and not self.label_fn:
      raise ValueError('label_sources need a label_fn that derives the label from them')
    if self.task not in TASKS:
      raise ValueError(f'task: one of {", ".join(TASKS)}, got {self.task!r}')
    if self.task == 'multiclass' and len(set(self.classes)) < 3:
      raise ValueError(f'task multiclass needs classes: the label\'s 3 or more values in the '
                       f'model\'s order, got {list(self.classes)}')
    if len(set(self.classes)) != len(self.classes):
      raise ValueError(f'classes: {list(self.classes)} repeats a value')
    wrong_guards = {'binary': ('rmse',), 'multiclass': ('auc', 'rmse'),
                    'regression': ('accuracy', 'auc')}[self.task]
    for kind in wrong_guards:
      if getattr(self.guarded_slices, kind):
        raise ValueError(f'guarded_slices.{kind}: a {self.task} model has no {kind}')


# --- the pipeline's settings -----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class HParams:
  """Training hyperparameters; recorded in ML Metadata through the Trainer's custom_config."""
  hidden_units: Tuple[int, ...] = (128, 64)
  dropout: float = 0.5
  learning_rate: float = 1e-3
  batch_size: int = 128
  epochs: int = 4
  max_embedding_dim: int = 8
  seed: int = 42
  # Larger data trains with larger batches (see for_rows); small data is unaffected.
  max_steps_per_epoch: int = 1000

  def __post_init__(self):
    if self.epochs < 1 or self.batch_size < 1:
      raise ValueError(f'epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}')
    if not self.hidden_units or min(self.hidden_units) < 1:
      raise ValueError(f'hidden_units must be positive, got {self.hidden_units}')
    if not 0.0 <= self.dropout < 1.0 or self.learning_rate < 0:
      raise ValueError('dropout must be within [0, 1) and learning_rate >= 0')
    if self.max_steps_per_epoch < 1:
      raise ValueError(f'max_steps_per_epoch must be >= 1, got {self.max_steps_per_epoch}')

  def for_rows(self, train_rows: int) -> 'HParams':
    """These hyperparameters for `train_rows` training rows.

    When an epoch at `batch_size` would take more than `max_steps_per_epoch` steps, the
    batch doubles (and the learning rate grows by sqrt(2), the usual scaling for Adam)
    until it does not: per-step overhead, not arithmetic, bounds Keras on small models.
    The embedded data trains exactly as configured.
    """
    factor = 1
    while math.ceil(train_rows / (self.batch_size * factor)) > self.max_steps_per_epoch:
      factor *= 2
    if factor == 1:
      return self
    return dataclasses.replace(self, batch_size=self.batch_size * factor,
                               learning_rate=self.learning_rate * math.sqrt(factor))

  @classmethod
  def from_dict(cls, values: Mapping[str, object]) -> 'HParams':
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f'unknown hyperparameters {unknown}; known: {sorted(known)}')
    kwargs = dict(values)
    if 'hidden_units' in kwargs:
      kwargs['hidden_units'] = tuple(int(u) for u in kwargs['hidden_units'])
    return cls(**kwargs)

  def to_dict(self) -> Dict[str, object]:
    values = dataclasses.asdict(self)
    values['hidden_units'] = list(self.hidden_units)
    return values

  def tuned(self, values: Mapping[str, object]) -> 'HParams':
    """These hyperparameters with a search's values (TUNABLE names, and `epochs`) on top.
    `width` and `depth` make hidden_units: `depth` layers, the first `width` units wide,
    each next one half as wide (at least 8). KerasTuner's own entries (tuner/...) are
    not hyperparameters and are skipped."""
    unknown = sorted(k for k in values if k not in TUNABLE + ('epochs',)
                     and not k.startswith('tuner/'))
    if unknown:
      raise ValueError(f'unknown tuned hyperparameters {unknown}; known: {list(TUNABLE)}, epochs')
    changes: Dict[str, Any] = {}
    if 'width' in values or 'depth' in values:
      width = int(values.get('width', self.hidden_units[0]))
      depth = int(values.get('depth', len(self.hidden_units)))
      changes['hidden_units'] = tuple(max(8, width >> i) for i in range(depth))
    for name in ('learning_rate', 'dropout'):
      if name in values:
        changes[name] = float(values[name])
    for name in ('batch_size', 'max_embedding_dim', 'epochs'):
      if name in values:
        changes[name] = int(values[name])
    return dataclasses.replace(self, **changes)


# Hyperparameters a search may vary: HParams' own, and `width`/`depth`, which make
# hidden_units (depth layers, the first `width` wide, each next one half as wide, >= 8).
TUNABLE = ('width', 'depth', 'learning_rate', 'batch_size', 'dropout', 'max_embedding_dim')
_INTEGER_TUNABLES = ('width', 'depth', 'batch_size', 'max_embedding_dim')
TUNING_STRATEGIES = ('bayesian', 'random', 'hyperband')


@dataclasses.dataclass(frozen=True)
class SearchRange:
  """One hyperparameter's range in a search: `values` to choose among, or [`min`, `max`]
  (`log`: sampled on a log scale, for learning rates)."""
  __pydantic_config__ = _STRICT
  values: Tuple[float, ...] = ()
  min: Optional[float] = None
  max: Optional[float] = None
  log: bool = False

  def __post_init__(self):
    if bool(self.values) == (self.min is not None or self.max is not None):
      raise ValueError('give either values: [...] or min and max')
    if not self.values and (self.min is None or self.max is None or not self.min < self.max):
      raise ValueError(f'min < max needed, got min {self.min}, max {self.max}')
    if self.log and not self.values and self.min <= 0:
      raise ValueError('a log range needs min > 0')


def _default_space() -> Dict[str, SearchRange]:
  return {'width': SearchRange(values=(32, 64, 128, 256)), 'depth': SearchRange(values=(1, 2, 3)),
          'learning_rate': SearchRange(min=3e-4, max=1e-2, log=True),
          'batch_size': SearchRange(values=(32, 64, 128, 256)),
          'dropout': SearchRange(values=(0.0, 0.25, 0.5))}


@dataclasses.dataclass(frozen=True)
class TuningSettings:
  """The hyperparameter search (TFX's Tuner, KerasTuner; models/tuning.py): its space, its
  strategy and its budget. Trials train on the training split alone, `validation_share` of
  it held out for their validation; the evaluation split is never read. Each trial trains up
  to `max_epochs`, stopped early after `patience` epochs without a better validation metric;
  the best trial's best epoch count becomes `epochs`, unless it beats the configured
  hyperparameters (the first trial) by less than `min_gain`. `auto`: a run tunes when its data set
  has no tuned hyperparameters yet (otherwise only `ctpipe tune` and `watch --tune-cron`)."""
  __pydantic_config__ = _STRICT
  auto: bool = True
  strategy: str = 'bayesian'   # bayesian | random | hyperband
  max_trials: int = 12
  max_minutes: float = 10.0    # wall time of the search; the trial running then stops early
  validation_share: float = 0.2
  max_epochs: int = 30
  patience: int = 3
  # The best trial replaces the configured hyperparameters only when its validation metric
  # is better than theirs (the search's first trial) by this share: a gain within the
  # noise of the validation rows changes nothing.
  min_gain: float = 0.002
  parallel_trials: int = 3     # on Vertex (its Tuner extension); locally trials run one by one
  seed: int = 7
  space: Mapping[str, SearchRange] = dataclasses.field(default_factory=_default_space)

  def __post_init__(self):
    if self.strategy not in TUNING_STRATEGIES:
      raise ValueError(f'strategy: one of {", ".join(TUNING_STRATEGIES)}, got {self.strategy!r}')
    if self.max_trials < 1 or self.max_epochs < 1 or self.patience < 1 or self.parallel_trials < 1:
      raise ValueError('max_trials, max_epochs, patience and parallel_trials must be >= 1')
    if not self.max_minutes > 0:
      raise ValueError(f'max_minutes must be > 0, got {self.max_minutes}')
    if not 0.0 <= self.min_gain < 1.0:
      raise ValueError(f'min_gain must be within [0, 1), got {self.min_gain}')
    if not 0.0 < self.validation_share < 0.5:
      raise ValueError(f'validation_share must be within (0, 0.5), got {self.validation_share}')
    unknown = sorted(set(self.space) - set(TUNABLE))
    if unknown:
      raise ValueError(f'space: {unknown} cannot be tuned; tunable: {list(TUNABLE)}')
    if not self.space:
      raise ValueError('space: empty; name at least one of ' + ', '.join(TUNABLE))
    for name, dimension in self.space.items():
      if name in _INTEGER_TUNABLES and any(float(v) != int(v) for v in dimension.values):
        raise ValueError(f'space.{name}: whole numbers only, got {list(dimension.values)}')
      low = min(dimension.values) if dimension.values else dimension.min
      if name != 'dropout' and low <= 0 or name == 'dropout' and not 0 <= low:
        raise ValueError(f'space.{name}: values must be > 0 (dropout: >= 0)')
      high = max(dimension.values) if dimension.values else dimension.max
      if name == 'dropout' and high >= 1:
        raise ValueError('space.dropout: values must be < 1')

  def is_integer(self, name: str) -> bool:
    return name in _INTEGER_TUNABLES

  @classmethod
  def from_dict(cls, values: Mapping[str, Any]) -> 'TuningSettings':
    """From `dataclasses.asdict` form (the Tuner's custom_config, read back from JSON)."""
    space = {name: SearchRange(values=tuple(r.get('values') or ()), min=r.get('min'),
                               max=r.get('max'), log=bool(r.get('log')))
             for name, r in values.get('space', {}).items()}
    return cls(**{**values, 'space': space})


# The Tuner's custom_config key holding TuningSettings.
TUNING_CONFIG_KEY = 'tuning'


@dataclasses.dataclass(frozen=True)
class RolloutPolicy:
  """How a blessed version reaches traffic (ctpipe/rollout): `direct` takes all of it when
  pushed; `canary` takes `canary_percent` of the requests that name no version, `shadow` a
  copy of each (answers logged, never returned), until online validation promotes or aborts
  it. The rule: at `confidence`, the live metric (AUC, accuracy or relative RMSE) no worse
  than stable's by more than `max_metric_drop`, from at least `min_requests` answered and
  `min_labelled_rows` labelled rows per version; server errors and p99 latency within
  their limits; undecided after `max_hours`: aborted (not proven)."""
  __pydantic_config__ = _STRICT
  strategy: str = 'direct'        # direct | canary | shadow
  canary_percent: float = 10.0
  min_requests: int = 200
  min_labelled_rows: int = 200
  max_hours: float = 24.0
  max_metric_drop: float = 0.01
  confidence: float = 0.95
  max_error_rate: float = 0.01
  max_p99_latency_ms: float = 250.0
  # Looks at the evidence as it doubles from min_labelled_rows; the error rates hold over
  # all of them (each at confidence 1 − (1 − confidence) / max_looks).
  max_looks: int = 6
  # A served version whose live metrics degrade beyond the feedback thresholds is rolled
  # back to the previous good version (then retrained), not only retrained.
  auto_rollback: bool = True

  def __post_init__(self):
    if self.strategy not in ('direct', 'canary', 'shadow'):
      raise ValueError(f'strategy: direct, canary or shadow, got {self.strategy!r}')
    if not 0 < self.canary_percent <= 100:
      raise ValueError(f'canary_percent must be in (0, 100], got {self.canary_percent}')
    if not 0.5 < self.confidence < 1:
      raise ValueError(f'confidence must be in (0.5, 1), got {self.confidence}')
    if self.min_requests < 1 or self.min_labelled_rows < 1 or self.max_hours <= 0:
      raise ValueError('min_requests and min_labelled_rows >= 1, max_hours > 0')
    if self.max_looks < 1:
      raise ValueError(f'max_looks must be >= 1, got {self.max_looks}')
    if self.max_metric_drop < 0 or not 0 <= self.max_error_rate <= 1:
      raise ValueError('max_metric_drop >= 0 and max_error_rate in [0, 1]')


@dataclasses.dataclass(frozen=True)
class NotificationSettings:
  """Where people are told what happened (ctpipe/notify.py): apprise URLs
  (`json://host:port/path`, `mailto://...`, `slack://...`); URLs with tokens go in
  `urls_file`, one per line. `events`: the events wanted ([]: all of them)."""
  __pydantic_config__ = _STRICT
  urls: Tuple[str, ...] = ()
  urls_file: str = ''
  events: Tuple[str, ...] = ()

  def __post_init__(self):
    from ctpipe import notify  # pylint: disable=g-import-not-at-top
    notify.check_events(self.events)


@dataclasses.dataclass(frozen=True)
class Thresholds:
  """What the Evaluator requires before it blesses a candidate (see pipeline/evaluation.py).

  Value thresholds apply on every run; change thresholds compare the candidate with the
  latest blessed model (the baseline) on the same evaluation data and are skipped by TFMA
  on the first run, when there is no baseline.
  Binary models are judged on AUC and accuracy, multiclass ones on accuracy, regression
  ones on RMSE.
  """
  __pydantic_config__ = _STRICT
  min_auc: float = 0.90
  # Accuracy must beat the evaluation data's majority-class rate by more than this.
  min_accuracy_lift: float = 0.0
  # Overall: the candidate may be at most this much worse than the baseline.
  max_auc_drop: float = 0.01
  max_accuracy_drop: float = 0.01
  # Per guarded slice (DataSet.guarded_slices): at most this much worse than the baseline.
  max_slice_accuracy_drop: float = 0.05
  max_slice_auc_drop: float = 0.05
  # Binary: mean prediction / mean label (TFMA's calibration) within 1 ± this, overall.
  max_calibration_error: float = 0.10
  # Regression: RMSE must be below the mean predictor's by more than this share
  # (rmse_lift = 1 - RMSE / RMSE of always answering the mean label) ...
  min_rmse_lift: float = 0.0
  # ... and at most this share above the baseline's, overall and per guarded slice.
  max_rmse_increase: float = 0.05
  max_slice_rmse_increase: float = 0.10

  def __post_init__(self):
    if not 0.0 <= self.min_auc <= 1.0:
      raise ValueError(f'min_auc must be within [0, 1], got {self.min_auc}')
    if not -1.0 <= self.min_rmse_lift < 1.0:
      raise ValueError(f'min_rmse_lift must be within [-1, 1), got {self.min_rmse_lift}')
    for name in ('max_auc_drop', 'max_accuracy_drop', 'max_slice_accuracy_drop',
                 'max_slice_auc_drop', 'max_rmse_increase', 'max_slice_rmse_increase',
                 'max_calibration_error'):
      if getattr(self, name) < 0:
        raise ValueError(f'{name} must be >= 0, got {getattr(self, name)}')


@dataclasses.dataclass(frozen=True)
class PipelineSettings:
  """Everything that shapes the pipeline, apart from where it reads and writes."""
  dataset: DataSet
  # Transform, Trainer and Evaluator read the newest `window_spans` validated spans.
  window_spans: int = 4
  # Hash split of every span into train/eval (2:1: one third held out).
  train_buckets: int = 2
  eval_buckets: int = 1
  hparams: HParams = HParams()
  thresholds: Thresholds = Thresholds()
  # Every pushed version also as TensorFlow Lite (see pipeline/components/edge_export).
  edge_export: bool = True
  # Start training from the latest blessed model's weights (where shapes still match).
  warm_start: bool = False
  # Transform reads each span of the window as its own dataset and reuses TFT's analyzer
  # cache across runs (local only). Off: one merged dataset (docs/performance.md).
  analyzer_cache: bool = False
  # ExampleGen, StatisticsGen and the Evaluator in this process when Beam runs locally
  # (pipeline/in_process); off: TFX's own executors on Beam.
  in_process_executors: bool = True
  # How a blessed version reaches traffic: direct, or on trial as a canary or shadow.
  rollout: RolloutPolicy = RolloutPolicy()
  # The hyperparameter search and when it runs (models/tuning.py).
  tuning: TuningSettings = TuningSettings()

  def __post_init__(self):
    if self.window_spans < 1:
      raise ValueError(f'window_spans must be >= 1, got {self.window_spans}')
    if self.train_buckets < 1 or self.eval_buckets < 1:
      raise ValueError('train_buckets and eval_buckets must both be >= 1')

  @property
  def pipeline_name(self) -> str:
    return self.dataset.pipeline_name

  @property
  def model_name(self) -> str:
    return self.dataset.name

  def replace(self, window_spans: Optional[int] = None, epochs: Optional[int] = None,
              min_auc: Optional[float] = None, edge_export: Optional[bool] = None,
              warm_start: Optional[bool] = None, analyzer_cache: Optional[bool] = None,
              in_process_executors: Optional[bool] = None) -> 'PipelineSettings':
    """These settings with command-line overrides applied; None keeps the configured value."""
    changes: Dict[str, Any] = {k: v for k, v in (
        ('window_spans', window_spans), ('edge_export', edge_export),
        ('warm_start', warm_start), ('analyzer_cache', analyzer_cache),
        ('in_process_executors', in_process_executors)) if v is not None}
    if epochs is not None:
      changes['hparams'] = dataclasses.replace(self.hparams, epochs=epochs)
    if min_auc is not None:
      changes['thresholds'] = dataclasses.replace(self.thresholds, min_auc=min_auc)
    return dataclasses.replace(self, **changes)


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


# --- the targets -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MySQLStore:
  """A MySQL-compatible metadata store; the password is read from `password_file`
  (or prompted for), never written into the config or into ML Metadata."""
  __pydantic_config__ = _STRICT
  host: str
  database: str
  user: str
  port: int = 3306
  password_file: str = ''


@dataclasses.dataclass(frozen=True)
class LocalTarget:
  __pydantic_config__ = _STRICT
  home: str = '.ctpipe'
  data_root: str = ''       # '' : data/<dataset name>
  schema: str = 'schema/schema.pbtxt'
  beam_mode: str = 'auto'   # auto: chosen from the window's size (pipeline.beam_modes)
  # None: SQLite in the home (metadata.db).
  mysql: Optional[MySQLStore] = None

  def __post_init__(self):
    if self.beam_mode not in BEAM_MODE_NAMES:
      raise ValueError(f'beam_mode: one of {", ".join(BEAM_MODE_NAMES)}, got {self.beam_mode!r}')


@dataclasses.dataclass(frozen=True)
class DataflowSettings:
  __pydantic_config__ = _STRICT
  machine_type: str = 'n1-standard-4'
  max_workers: int = 4
  disk_size_gb: int = 50
  # Dataflow's own staging and temp files; default: <pipeline_root>/dataflow-tmp.
  temp_location: str = ''
  use_public_ips: bool = False

  def __post_init__(self):
    if self.max_workers < 1 or self.disk_size_gb < 10:
      raise ValueError('max_workers >= 1 and disk_size_gb >= 10')


@dataclasses.dataclass(frozen=True)
class VertexTraining:
  """The Trainer on Vertex AI Training (tfx.extensions.google_cloud_ai_platform.Trainer)."""
  __pydantic_config__ = _STRICT
  enabled: bool = False
  machine_type: str = 'n1-standard-8'


@dataclasses.dataclass(frozen=True)
class VertexEndpoint:
  """Push to a Vertex AI Endpoint (tfx.extensions.google_cloud_ai_platform.Pusher)
  instead of the serving bucket alone."""
  __pydantic_config__ = _STRICT
  enabled: bool = False
  endpoint_name: str = ''   # '' : the pipeline's name
  machine_type: str = 'n1-standard-2'
  serving_image: str = 'us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest'


@dataclasses.dataclass(frozen=True)
class VertexTarget:
  __pydantic_config__ = _STRICT
  project: str
  region: str
  pipeline_root: str   # gs://...: every artifact of every run
  data_root: str       # gs://.../span-<N>/*.csv
  serving_bucket: str  # gs://...: pushed models, <serving_bucket>/<model>/<version>/
  image: str           # the project's image (see Dockerfile); every step and Dataflow workers
  service_account: str
  network: str = ''    # projects/<number>/global/networks/<name>; '' = the default network
  subnetwork: str = ''  # for Dataflow workers: regions/<region>/subnetworks/<name>
  schema: str = '/ctpipe/schema/schema.pbtxt'  # inside the image
  enable_caching: bool = True
  labels: Tuple[Tuple[str, str], ...] = ()
  dataflow: DataflowSettings = DataflowSettings()
  training: VertexTraining = VertexTraining()
  endpoint: VertexEndpoint = VertexEndpoint()

  def __post_init__(self):
    for name in ('pipeline_root', 'data_root', 'serving_bucket'):
      if not getattr(self, name).startswith('gs://'):
        raise ValueError(f'{name} must be a gs:// URI, got {getattr(self, name)!r}')
    if not self.image or ':' not in self.image.rsplit('/', 1)[-1]:
      raise ValueError(f'image needs a tag (…/ctpipe:0.1.0), got {self.image!r}')

  @property
  def dataflow_temp(self) -> str:
    return self.dataflow.temp_location or f'{self.pipeline_root.rstrip("/")}/dataflow-tmp'


@dataclasses.dataclass(frozen=True)
class PipelineSection:
  """The file's `pipeline:` section: the settings a person changes most."""
  __pydantic_config__ = _STRICT
  window_spans: Optional[int] = None
  epochs: Optional[int] = None
  min_auc: Optional[float] = None
  edge_export: Optional[bool] = None
  warm_start: Optional[bool] = None
  analyzer_cache: Optional[bool] = None
  in_process_executors: Optional[bool] = None
  # Every blessing threshold (Thresholds); `min_auc` above is a shorthand for one of them.
  thresholds: Optional[Thresholds] = None


@dataclasses.dataclass(frozen=True)
class ProjectConfig:
  pipeline: PipelineSettings
  local: LocalTarget
  vertex: Optional[VertexTarget]
  notifications: NotificationSettings = NotificationSettings()
  # What the file's relative paths are relative to: the folder above a `config/` folder
  # (a project's config/ctpipe.yaml, config/NAME.yaml), else the file's own folder (a data
  # set's folder from `ctpipe init --dir`). '' for a config not read from a file.
  base_dir: str = ''

  def path(self, relative: str) -> str:
    """A path of the config, resolved against base_dir."""
    import os  # pylint: disable=g-import-not-at-top
    return relative if os.path.isabs(relative) or not self.base_dir else os.path.join(
        self.base_dir, relative)

  @property
  def dataset(self) -> DataSet:
    return self.pipeline.dataset

  def data_root(self) -> str:
    """The local data root as configured (relative paths are the project's)."""
    return self.local.data_root or f'data/{self.dataset.name}'

  def endpoint_name(self) -> str:
    assert self.vertex is not None
    return self.vertex.endpoint.endpoint_name or self.pipeline.pipeline_name


# --- reading a file ------------------------------------------------------------------

ALL_SECTIONS = ('dataset', 'pipeline', 'tuning', 'rollout', 'notifications', 'local', 'vertex')
_SECTION_TYPES = {'dataset': DataSet, 'pipeline': PipelineSection, 'tuning': TuningSettings,
                  'rollout': RolloutPolicy,
                  'notifications': NotificationSettings, 'local': LocalTarget,
                  'vertex': VertexTarget}
_TYPE_WORDS = {'int_type': 'int', 'int_parsing': 'int', 'int_from_float': 'int',
               'float_type': 'float', 'float_parsing': 'float', 'bool_type': 'true or false',
               'bool_parsing': 'true or false', 'string_type': 'a string',
               'tuple_type': 'a list', 'dict_type': 'a mapping', 'dataclass_type': 'a mapping',
               'dataclass_exact_type': 'a mapping', 'model_type': 'a mapping'}


def _field_names(cls, loc: Sequence[Any]) -> List[str]:
  """The keys known at `loc` inside dataclass `cls` (for 'unknown key' messages)."""
  import typing  # pylint: disable=g-import-not-at-top
  for part in loc:
    hints = typing.get_type_hints(cls)
    if part not in hints:
      return []
    cls = hints[part]
    args = [a for a in typing.get_args(cls) if a is not type(None)]
    if args and not dataclasses.is_dataclass(cls):
      cls = args[0]
  return [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []


def _one_line(cls, section: str, error) -> ConfigError:
  """The first error of a pydantic ValidationError as 'section.key: what is wrong'."""
  first = error.errors()[0]
  loc = list(first['loc'])
  kind = first['type']
  key = '.'.join([section] + [str(p) for p in loc if not isinstance(p, int)])
  if kind in ('extra_forbidden', 'unexpected_keyword_argument'):
    where = '.'.join([section] + [str(p) for p in loc[:-1]])
    known = sorted(_field_names(cls, loc[:-1]))
    return ConfigError(f'{where}: unknown key(s) {[str(loc[-1])]}; known: {known}', key)
  where = '.'.join([section] + [str(p) if not isinstance(p, int) else f'[{p}]' for p in loc])
  where = where.replace('.[', '[')
  if kind == 'missing':
    return ConfigError(f'{where} is required', key)
  if kind in _TYPE_WORDS:
    return ConfigError(f'{where}: expected {_TYPE_WORDS[kind]}, got {first.get("input")!r}', key)
  message = str(first.get('msg', '')).removeprefix('Value error, ')
  return ConfigError(f'{where}: {message}', key)


def _tuples(value: Any) -> Any:
  """YAML lists as tuples (the frozen types hold tuples); mappings walked."""
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  return value


def _section(section: str, values: Any):
  from pydantic import TypeAdapter, ValidationError  # pylint: disable=g-import-not-at-top
  cls = _SECTION_TYPES[section]
  if values is None:
    values = {}
  if section == 'vertex' and isinstance(values, dict) and isinstance(values.get('labels'), dict):
    values = dict(values, labels=sorted((str(k), str(v)) for k, v in values['labels'].items()))
  try:
    return TypeAdapter(cls).validate_python(_tuples(values))
  except ValidationError as e:
    raise _one_line(cls, section, e) from None


def _override(tree: Dict[str, Any], assignment: str) -> None:
  """Applies 'a.b.c=value' to the parsed YAML; the value is parsed as YAML (1, true, text)."""
  import yaml  # pylint: disable=g-import-not-at-top
  if '=' not in assignment:
    raise ConfigError('expected key=value, e.g. vertex.region=europe-west4')
  key, text = assignment.split('=', 1)
  parts = key.strip().split('.')
  if not all(parts):
    raise ConfigError('empty key')
  node = tree
  for part in parts[:-1]:
    child = node.setdefault(part, {})
    if not isinstance(child, dict):
      raise ConfigError(f'{part} is not a mapping')
    node = child
  try:
    node[parts[-1]] = yaml.safe_load(text) if text.strip() else ''
  except yaml.YAMLError as e:
    raise ConfigError(f'the value is not valid YAML: {e}') from None


def _build(tree: Mapping[str, Any], sections: Sequence[str]) -> ProjectConfig:
  unknown = sorted(set(tree) - set(ALL_SECTIONS))
  if unknown:
    raise ConfigError(f'unknown section(s) {unknown}; the file has {", ".join(ALL_SECTIONS)}')
  if 'dataset' not in tree:
    raise ConfigError('dataset is required (the data set\'s name, pipeline name and label)')
  dataset = _section('dataset', tree['dataset'])
  section = _section('pipeline', tree.get('pipeline'))
  shorthands = {f.name: getattr(section, f.name) for f in dataclasses.fields(section)
                if f.name != 'thresholds'}
  rollout = _section('rollout', tree.get('rollout'))
  tuning = _section('tuning', tree.get('tuning'))
  try:
    settings = PipelineSettings(dataset=dataset, thresholds=section.thresholds or Thresholds(),
                                rollout=rollout, tuning=tuning).replace(**shorthands)
  except ValueError as e:
    raise ConfigError(f'pipeline: {e}', 'pipeline') from None
  vertex = tree.get('vertex') if 'vertex' in sections else None
  return ProjectConfig(pipeline=settings, local=_section('local', tree.get('local')),
                       vertex=_section('vertex', vertex) if vertex else None,
                       notifications=_section('notifications', tree.get('notifications')))


def parse(tree: Optional[Mapping[str, Any]], overrides: Sequence[str] = (),
          sections: Sequence[str] = ALL_SECTIONS, source: str = 'config') -> ProjectConfig:
  """A ProjectConfig from parsed YAML and `key=value` overrides.

  Only `sections` among local and vertex are checked (a local run needs no valid vertex
  section). An error names `source` when the file is wrong, and the `--set` option when
  the overrides made it wrong (the one whose key is nearest the mistake).
  """
  tree = copy.deepcopy(dict(tree or {}))
  try:
    config = _build(tree, sections)
  except ConfigError as e:
    raise ConfigError(f'{source}: {e}', e.key) from None
  for assignment in overrides:
    try:
      _override(tree, assignment)
    except ConfigError as e:
      raise ConfigError(f'--set {assignment}: {e}') from None
  if not overrides:
    return config
  try:
    return _build(tree, sections)
  except ConfigError as e:
    raise ConfigError(f'--set {_culprit(overrides, e.key)}: {e}', e.key) from None


def _culprit(overrides: Sequence[str], key: str) -> str:
  """The override whose key shares the longest dotted prefix with `key` (the last on a tie)."""
  wanted = key.split('.')

  def shared(assignment: str) -> int:
    parts = assignment.split('=', 1)[0].strip().split('.')
    return next((i for i, (a, b) in enumerate(zip(parts, wanted)) if a != b),
                min(len(parts), len(wanted)))
  return max(reversed(overrides), key=shared)


def read_yaml(path: str) -> Mapping[str, Any]:
  import yaml  # pylint: disable=g-import-not-at-top
  try:
    with open(path, encoding='utf-8') as f:
      tree = yaml.safe_load(f)
  except FileNotFoundError as e:
    raise ConfigError(f'config file {path} not found') from e
  except yaml.YAMLError as e:
    raise ConfigError(f'{path} is not valid YAML: {e}') from e
  if tree is not None and not isinstance(tree, Mapping):
    raise ConfigError(f'{path}: the top level must be a mapping')
  return tree or {}


def base_dir_of(path: str) -> str:
  """The folder a config file's relative paths start from (see ProjectConfig.base_dir)."""
  import os  # pylint: disable=g-import-not-at-top
  folder = os.path.dirname(os.path.abspath(path))
  return os.path.dirname(folder) if os.path.basename(folder) == 'config' else folder


def load(path: str, overrides: Sequence[str] = (),
         sections: Sequence[str] = ALL_SECTIONS) -> ProjectConfig:
  return dataclasses.replace(parse(read_yaml(path), overrides, sections, source=path),
                             base_dir=base_dir_of(path))


def require_vertex(config: ProjectConfig) -> VertexTarget:
  if config.vertex is None:
    raise ConfigError('no vertex section in the config; copy the example in config/ctpipe.yaml')
  return config.vertex

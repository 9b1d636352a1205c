"""A data set's feature contract, as the model code reads it: the raw columns, the treatment of
each, and the label.

Built from the data set's definition (`dataset:` in its config: `features`, `label`,
`label_fn`, `label_sources`) and handed to Transform and the Trainer in their
custom_config, so preprocessing, the model, the serving signatures and the evaluation
agree by construction and no module names a data set's columns.
"""
import dataclasses
import importlib
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from ctpipe.config import DataSet, FeatureTreatments

CONFIG_KEY = 'features'  # where the contract travels in a component's custom_config
# The calendar parts a date column expands into, with each index's cardinality
# (0 is missing): month 1..12, day of week Monday=1..Sunday=7, hour 0..23 as 1..24.
DATE_PARTS = (('month', 13), ('weekday', 8), ('hour', 25))


@dataclasses.dataclass(frozen=True)
class FeatureContract:
  label: str
  treatments: FeatureTreatments
  label_fn: str = ''
  label_sources: Tuple[str, ...] = ()
  positive_class: str = ''  # binary labels that are not 0/1: the positive value
  task: str = 'binary'      # binary | multiclass | regression
  classes: Tuple[str, ...] = ()  # multiclass: the label's values, one index each

  @classmethod
  def of(cls, dataset: DataSet) -> 'FeatureContract':
    return cls(dataset.label, dataset.features, dataset.label_fn, tuple(dataset.label_sources),
               dataset.positive_class, dataset.task, tuple(dataset.classes))

  # --- as JSON, through custom_config ----------------------------------------------
  def to_config(self) -> Dict[str, Any]:
    t = self.treatments
    return {'label': self.label, 'label_fn': self.label_fn,
            'label_sources': list(self.label_sources), 'positive_class': self.positive_class,
            'task': self.task, 'classes': list(self.classes),
            'amounts': list(t.amounts), 'numbers': list(t.numbers),
            'ranged': [[k, int(lo), int(hi)] for k, (lo, hi) in t.ranged.items()],
            'hashed': [[k, int(n)] for k, n in t.hashed.items()],
            'vocabulary': list(t.vocabulary), 'dates': list(t.dates), 'unused': list(t.unused),
            'quantile_buckets': t.quantile_buckets,
            'vocabulary_min_frequency': t.vocabulary_min_frequency,
            'oov_buckets': t.oov_buckets}

  @classmethod
  def from_config(cls, custom_config: Optional[Mapping[str, Any]]) -> 'FeatureContract':
    values = (custom_config or {}).get(CONFIG_KEY)
    if not values:
      raise ValueError(f'the component has no {CONFIG_KEY!r} in its custom_config: the '
                       'pipeline definition hands the data set\'s feature contract to '
                       'Transform and the Trainer')
    treatments = FeatureTreatments(
        amounts=tuple(values['amounts']), numbers=tuple(values['numbers']),
        ranged={k: (int(lo), int(hi)) for k, lo, hi in values['ranged']},
        hashed={k: int(n) for k, n in values['hashed']},
        vocabulary=tuple(values['vocabulary']), dates=tuple(values.get('dates', ())),
        unused=tuple(values['unused']),
        quantile_buckets=int(values['quantile_buckets']),
        vocabulary_min_frequency=int(values['vocabulary_min_frequency']),
        oov_buckets=int(values['oov_buckets']))
    return cls(values['label'], treatments, values.get('label_fn', ''),
               tuple(values.get('label_sources', ())), values.get('positive_class', ''),
               values.get('task', 'binary'), tuple(values.get('classes', ())))

  # --- the treatment of each column --------------------------------------------------
  @property
  def amount_features(self) -> Tuple[str, ...]:
    return tuple(self.treatments.amounts)

  @property
  def numeric_features(self) -> Tuple[str, ...]:
    return tuple(self.treatments.amounts) + tuple(self.treatments.numbers)

  @property
  def ranged_features(self) -> Mapping[str, Tuple[int, int]]:
    return self.treatments.ranged

  @property
  def hashed_features(self) -> Mapping[str, int]:
    return self.treatments.hashed

  @property
  def vocabulary_features(self) -> Tuple[str, ...]:
    return tuple(self.treatments.vocabulary)

  @property
  def date_features(self) -> Tuple[str, ...]:
    return tuple(self.treatments.dates)

  @property
  def categorical_features(self) -> Tuple[str, ...]:
    """Raw columns that become one integer index each (ranged, hashed, vocabulary)."""
    return (tuple(self.treatments.ranged) + tuple(self.treatments.hashed)
            + tuple(self.treatments.vocabulary))

  @property
  def categorical_outputs(self) -> Tuple[str, ...]:
    """Transform's integer outputs besides the numeric buckets, in the model's order."""
    return (tuple(indexed(name) for name in self.categorical_features)
            + tuple(date_part(name, part) for name in self.date_features
                    for part, _ in DATE_PARTS))

  @property
  def model_input_features(self) -> Tuple[str, ...]:
    return self.numeric_features + self.categorical_features + self.date_features

  def static_cardinality(self, name: str) -> Optional[int]:
    """Number of indices of a categorical input (or date part output) that needs no
    analyzer, else None."""
    for column in self.date_features:
      for part, size in DATE_PARTS:
        if name == date_part(column, part):
          return size
    if name in self.treatments.ranged:
      low, high = self.treatments.ranged[name]
      return high - low + 2
    if name in self.treatments.hashed:
      return self.treatments.hashed[name] + 1
    return None

  def label_function(self) -> Optional[Callable]:
    """The derived label's function (`label_fn`), or None for a label column."""
    if not self.label_fn:
      return None
    module, _, name = self.label_fn.rpartition('.')
    try:
      return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
      raise ValueError(f'dataset.label_fn {self.label_fn!r} cannot be imported: {e}') from e


def scaled(name: str) -> str:
  """Transformed name of a numeric feature's z-score."""
  return f'{name}_z'


def bucketized(name: str) -> str:
  """Transformed name of a numeric feature's quantile bucket."""
  return f'{name}_bucket'


def missing(name: str) -> str:
  """Transformed name of a numeric feature's missing-value indicator."""
  return f'{name}_missing'


def indexed(name: str) -> str:
  """Transformed name of a categorical feature's vocabulary index."""
  return f'{name}_id'


def date_part(name: str, part: str) -> str:
  """Transformed name of one calendar part (month, weekday, hour) of a date column."""
  return f'{name}_{part}'

"""The Keras model: embeddings and one-hot codes for categories and buckets, z-scores for numbers.

Plain functions of a `FeatureLayout` and `HParams`, so the model can be built and
tested on constant tensors without TFX or a Transform graph.
"""
import dataclasses
import math
from typing import Dict, Mapping, Tuple

import tf_keras as keras

from models import features


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
    until it does not: per-step overhead, not arithmetic, bounds Keras on small models
    (measured: 1M rows, batch 128, ~40 s an epoch on 2 cores). The embedded data
    (10k training rows, 78 steps) trains exactly as configured.
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


@dataclasses.dataclass(frozen=True)
class FeatureLayout:
  """What the model sees: float inputs, and integer inputs with their cardinality."""
  dense: Tuple[str, ...]
  categorical: Tuple[Tuple[str, int], ...]


def default_layout(cardinality: Mapping[str, int]) -> FeatureLayout:
  """The layout produced by `models.preprocessing`, given each categorical output's size."""
  dense = []
  categorical = []
  for name in features.NUMERIC_FEATURES:
    dense.append(features.scaled(name))
    dense.append(features.missing(name))
    categorical.append(features.bucketized(name))
  categorical.extend(features.indexed(name) for name in features.CATEGORICAL_FEATURES)
  return FeatureLayout(
      dense=tuple(dense), categorical=tuple((name, int(cardinality[name])) for name in categorical))


def build_model(layout: FeatureLayout, hparams: HParams) -> keras.Model:
  """A compiled binary classifier returning P(big tipper) with shape [batch, 1]."""
  keras.utils.set_random_seed(hparams.seed)
  inputs = {}
  parts = []
  for name in layout.dense:
    inputs[name] = keras.Input(shape=(1,), name=name, dtype='float32')
    parts.append(inputs[name])
  for name, size in layout.categorical:
    if size < 1:
      raise ValueError(f'categorical input {name!r} has cardinality {size}; expected >= 1')
    inputs[name] = keras.Input(shape=(1,), name=name, dtype='int64')
    dim = min(hparams.max_embedding_dim, int(math.ceil(math.sqrt(size))) + 1)
    parts.append(keras.layers.Flatten()(keras.layers.Embedding(size, dim)(inputs[name])))
    parts.append(keras.layers.CategoryEncoding(num_tokens=size, output_mode='one_hot')(inputs[name]))
  hidden = keras.layers.Concatenate()(parts)
  for units in hparams.hidden_units:
    hidden = keras.layers.Dense(units, activation='relu')(hidden)
    if hparams.dropout:
      hidden = keras.layers.Dropout(hparams.dropout, seed=hparams.seed)(hidden)
  output = keras.layers.Dense(1, activation='sigmoid', name='probability')(hidden)
  model = keras.Model(inputs=inputs, outputs=output)
  model.compile(
      optimizer=keras.optimizers.Adam(learning_rate=hparams.learning_rate),
      loss='binary_crossentropy',
      metrics=[keras.metrics.AUC(name='auc'), keras.metrics.BinaryAccuracy(name='accuracy')])
  return model

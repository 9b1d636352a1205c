"""The Keras model: embeddings and one-hot codes for categories and buckets, z-scores for numbers.

Plain functions of a `FeatureLayout` and `HParams`, so the model can be built and
tested on constant tensors without TFX or a Transform graph.
"""
import dataclasses
import math
from typing import Mapping, Tuple

import tf_keras as keras

from ctpipe.config import HParams
from models import features

__all__ = ['FeatureLayout', 'HParams', 'Head', 'build_model', 'default_layout']


@dataclasses.dataclass(frozen=True)
class FeatureLayout:
  """What the model sees: float inputs, and integer inputs with their cardinality."""
  dense: Tuple[str, ...]
  categorical: Tuple[Tuple[str, int], ...]


@dataclasses.dataclass(frozen=True)
class Head:
  """The model's output for its task (models.outputs): binary, one probability; multiclass,
  `num_classes` probabilities; regression, a value, learnt as a z-score of the label and
  answered as `label_mean + label_std * z` (Adam then starts at the label's scale)."""
  task: str = 'binary'
  num_classes: int = 2
  label_mean: float = 0.0
  label_std: float = 1.0

  def __post_init__(self):
    if self.task == 'multiclass' and self.num_classes < 3:
      raise ValueError(f'a multiclass head needs 3 or more classes, got {self.num_classes}')
    if not self.label_std > 0:
      raise ValueError(f'label_std must be > 0, got {self.label_std}')


def default_layout(contract: features.FeatureContract,
                   cardinality: Mapping[str, int]) -> FeatureLayout:
  """The layout produced by `models.preprocessing`, given each categorical output's size."""
  dense = []
  categorical = []
  for name in contract.numeric_features:
    dense.append(features.scaled(name))
    dense.append(features.missing(name))
    categorical.append(features.bucketized(name))
  categorical.extend(contract.categorical_outputs)
  return FeatureLayout(
      dense=tuple(dense), categorical=tuple((name, int(cardinality[name])) for name in categorical))


def _output(hidden, head: Head):
  """The output layer, its loss and its training metrics."""
  if head.task == 'multiclass':
    return (keras.layers.Dense(head.num_classes, activation='softmax',
                               name='probabilities')(hidden),
            'sparse_categorical_crossentropy',
            [keras.metrics.SparseCategoricalAccuracy(name='accuracy')])
  if head.task == 'regression':
    z = keras.layers.Dense(1, name='standardized')(hidden)
    value = keras.layers.Rescaling(scale=head.label_std, offset=head.label_mean, name='value')(z)
    return (value, 'mean_squared_error',
            [keras.metrics.RootMeanSquaredError(name='rmse'),
             keras.metrics.MeanAbsoluteError(name='mae')])
  return (keras.layers.Dense(1, activation='sigmoid', name='probability')(hidden),
          'binary_crossentropy',
          [keras.metrics.AUC(name='auc'), keras.metrics.BinaryAccuracy(name='accuracy')])


def build_model(layout: FeatureLayout, hparams: HParams, head: Head = Head()) -> keras.Model:
  """A compiled model for `head`'s task: P(positive label) [batch, 1] (binary), the class
  probabilities [batch, num_classes] (multiclass), or the value [batch, 1] (regression)."""
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
  output, loss, training_metrics = _output(hidden, head)
  model = keras.Model(inputs=inputs, outputs=output)
  model.compile(optimizer=keras.optimizers.Adam(learning_rate=hparams.learning_rate),
                loss=loss, metrics=training_metrics)
  return model

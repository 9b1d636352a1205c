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

__all__ = ['FeatureLayout', 'HParams', 'build_model', 'default_layout']


@dataclasses.dataclass(frozen=True)
class FeatureLayout:
  """What the model sees: float inputs, and integer inputs with their cardinality."""
  dense: Tuple[str, ...]
  categorical: Tuple[Tuple[str, int], ...]


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


def build_model(layout: FeatureLayout, hparams: HParams) -> keras.Model:
  """A compiled binary classifier returning P(positive label) with shape [batch, 1]."""
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

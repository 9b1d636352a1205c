"""Training: datasets from Transform's output, fitting, and export with both signatures.

`run_fn` is TFX's entry point (`models.training.run_fn`); it only adapts `fn_args`
to `train_and_export`, which can be called without TFX.
"""
import dataclasses
import json
import logging
import math
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
import tensorflow_transform as tft
import tf_keras as keras

from models import autograph, features, model as model_lib, signatures

# Written next to the SavedModel so reviewers see how the model was trained.
TRAINING_SUMMARY_FILE = 'training_summary.json'
SCHEMA_FILE = 'schema.pbtxt'
# Rows parsed and transformed per graph call; parsed batches held for shuffling.
PARSE_BATCH = 4096
SHUFFLE_BATCHES = 1024
# From this many training rows, the Trainer hands its freed memory back before the next
# step (release_memory): the parsed training data then holds ~0.5 GiB or more.
RELEASE_MEMORY_FROM_ROWS = 500_000
# Fixed parallelism, without tf.data's autotuner: in TF 2.16, deleting an iterator whose
# autotuner runs waits out the autotuner's current sleep instead of waking it. Keras
# deletes the training and validation iterators when fit ends (and, without repeat,
# every epoch): stalls of seconds, at random (seen with gdb in Model::OptimizeLoop). Parsing runs on every core; the cached epochs need
# little prefetch.
PARSE_THREADS = max(1, os.cpu_count() or 1)
PREFETCH_BATCHES = 4
_WITHOUT_AUTOTUNE = tf.data.Options()
_WITHOUT_AUTOTUNE.autotune.enabled = False


def cardinalities(contract: features.FeatureContract,
                  tf_transform_output: tft.TFTransformOutput) -> Dict[str, int]:
  """Size of every integer-coded output of Transform.

  Analyzer outputs (vocabularies, buckets) carry it in Transform's output schema; the
  analyzer-free ones (ranged and hashed codes) are fixed by the feature contract.
  """
  sizes = {}
  for feature in tf_transform_output.transformed_metadata.schema.feature:
    if feature.HasField('int_domain'):
      sizes[feature.name] = int(feature.int_domain.max) + 1
  for name in contract.numeric_features:
    # Elementwise quantiles: num_buckets - 1 boundaries give indices 0..num_buckets - 1.
    sizes[features.bucketized(name)] = contract.treatments.quantile_buckets
  for name in contract.categorical_features:
    static = contract.static_cardinality(name)
    if static is not None:
      sizes[features.indexed(name)] = static
  for output in contract.categorical_outputs:
    static = contract.static_cardinality(output)
    if static is not None:
      sizes[output] = static
  return sizes


def parse_and_transform_fn(tf_transform_output: tft.TFTransformOutput,
                           transform_layer: keras.layers.Layer, label_key: str):
  """A tf.function from serialized raw tf.Examples to (transformed features, label).

  One function for every dataset: tracing the Transform graph is slow.
  """
  raw_spec = tf_transform_output.raw_feature_spec()

  # autograph=False: nothing here branches on a tensor, and autograph would convert
  # TFT's layer code source by source (see signatures).
  @tf.function(autograph=False)
  def parse_and_transform(records):
    transformed = transform_layer(tf.io.parse_example(records, raw_spec))
    label = transformed.pop(label_key)
    return transformed, label
  return parse_and_transform


def parsed_batches(file_pattern: Sequence[str], parse_and_transform,
                   keep: Optional[Callable[[tf.Tensor], tf.Tensor]] = None) -> tf.data.Dataset:
  """Raw gzipped tf.Examples parsed and transformed (`parse_and_transform`, from
  `parse_and_transform_fn`) in large batches, kept in memory after the first pass.

  Transform does not write transformed copies of the data: writing and re-reading
  them cost more than applying the graph here. Kept as the parsed batches: a cache of
  single rows holds one small tensor per feature per row, and splitting cached batches
  into rows again every epoch is slow. `keep`: a predicate on each serialized record
  (the tuner's split of the training rows, models/tuning.py).
  """
  patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
  files = sorted(tf.io.gfile.glob(patterns))
  if not files:
    raise FileNotFoundError(f'no examples match {patterns}')
  records = tf.data.TFRecordDataset(files, compression_type='GZIP')
  if keep is not None:
    records = records.filter(keep)
  return (records.batch(PARSE_BATCH)
          .map(parse_and_transform, num_parallel_calls=PARSE_THREADS)
          .cache())


def batches(parsed: tf.data.Dataset, batch_size: int, shuffle: bool,
            seed: int = 42) -> tf.data.Dataset:
  """(features, label) batches of `batch_size` from `parsed_batches`' dataset.

  Shuffling permutes the order of the parsed batches and the rows inside each one
  (ExampleGen wrote the rows in random order already), then `rebatch` cuts training
  batches without per-row work.
  """
  dataset = parsed
  if shuffle:
    def permute(features_batch, label):
      order = tf.random.shuffle(tf.range(tf.shape(label)[0]), seed=seed)
      return (tf.nest.map_structure(lambda t: tf.gather(t, order), features_batch),
              tf.gather(label, order))
    # Sequential: parallel calls would draw from the random stream in any order, and
    # the same seed must give the same model.
    dataset = (dataset.shuffle(SHUFFLE_BATCHES, seed=seed, reshuffle_each_iteration=True)
               .map(permute))
  return (dataset.rebatch(batch_size).prefetch(PREFETCH_BATCHES)
          .with_options(_WITHOUT_AUTOTUNE))


def make_dataset(file_pattern: Sequence[str], parse_and_transform, batch_size: int,
                 shuffle: bool, seed: int = 42) -> tf.data.Dataset:
  """(features, label) batches from raw gzipped tf.Examples, through the Transform graph."""
  return batches(parsed_batches(file_pattern, parse_and_transform), batch_size, shuffle, seed)


def count_records(files: Sequence[str],
                  keep: Optional[Callable[[tf.Tensor], tf.Tensor]] = None) -> int:
  """Records in gzipped TFRecord files (read in C++); with `keep`, those it keeps."""
  dataset = tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(list(files))), compression_type='GZIP')
  if keep is not None:
    dataset = dataset.filter(keep)
  return int(dataset.batch(65536).reduce(
      tf.constant(0, tf.int64), lambda count, batch: count + tf.size(batch, out_type=tf.int64)))


def label_moments(files: Sequence[str], parse_and_transform) -> Tuple[float, float]:
  """Mean and standard deviation of the (present) labels of the training files, in float64."""
  dataset = make_dataset(files, parse_and_transform, PARSE_BATCH, shuffle=False)
  count = total = squares = 0.0
  for _, label in dataset:
    values = label.numpy().astype(np.float64).reshape(-1)
    values = values[~np.isnan(values)]
    count += values.size
    total += float(values.sum())
    squares += float((values * values).sum())
  if not count:
    raise ValueError('the training split holds no label value')
  mean = total / count
  return mean, math.sqrt(max(squares / count - mean * mean, 0.0)) or 1.0


def head_for(contract: features.FeatureContract, train_files: Sequence[str],
             parse_and_transform) -> model_lib.Head:
  """The model's output for the contract's task (regression: scaled to the training labels)."""
  if contract.task == 'multiclass':
    return model_lib.Head('multiclass', num_classes=len(contract.classes))
  if contract.task == 'regression':
    mean, std = label_moments(train_files, parse_and_transform)
    logging.info('regression label: mean %g, standard deviation %g', mean, std)
    return model_lib.Head('regression', label_mean=mean, label_std=std)
  return model_lib.Head()


@dataclasses.dataclass
class Prepared:
  """What every model of one Transform graph shares: its Transform layer, the function
  parsing raw records through it, the model's inputs and its head."""
  tf_transform_output: tft.TFTransformOutput
  transform_layer: keras.layers.Layer
  parse_and_transform: Any
  layout: model_lib.FeatureLayout
  head: model_lib.Head


def prepare(transform_output_dir: str, contract: features.FeatureContract,
            train_files: Sequence[str]) -> Prepared:
  tf_transform_output = tft.TFTransformOutput(transform_output_dir)
  # One Transform layer for the datasets and the signatures (each load costs time).
  transform_layer = tf_transform_output.transform_features_layer()
  parse_and_transform = parse_and_transform_fn(tf_transform_output, transform_layer,
                                               contract.label)
  layout = model_lib.default_layout(contract, cardinalities(contract, tf_transform_output))
  return Prepared(tf_transform_output, transform_layer, parse_and_transform, layout,
                  head_for(contract, train_files, parse_and_transform))


def warm_start(model: keras.Model, base_model_dir: str) -> List[str]:
  """Copies every weight of a previous model (a SavedModel this module exported) whose
  layer position and shape match; returns the copied weights' names.

  Keras checkpoints number the layers that have weights (`layer_with_weights-N`); the
  same code builds them in the same order, so N names the same layer in both models. A
  weight whose shape changed (a vocabulary grew) keeps its fresh initialisation.
  """
  reader = tf.train.load_checkpoint(tf.io.gfile.join(base_model_dir, 'variables', 'variables'))
  saved = reader.get_variable_to_shape_map()
  copied = []
  for index, layer in enumerate(l for l in model.layers if l.weights):
    for weight in layer.weights:
      attribute = weight.name.split('/')[-1].split(':')[0]
      key = f'layer_with_weights-{index}/{attribute}/.ATTRIBUTES/VARIABLE_VALUE'
      if key in saved and list(saved[key]) == weight.shape.as_list():
        weight.assign(reader.get_tensor(key))
        copied.append(weight.name)
  return copied


def train_and_export(train_files: Sequence[str], eval_files: Sequence[str],
                     transform_output_dir: str, serving_model_dir: str,
                     hparams: model_lib.HParams, contract: features.FeatureContract,
                     log_dir: Optional[str] = None,
                     base_model_dir: Optional[str] = None) -> Dict[str, Any]:
  """Fits the model on the training files and saves it with both serving signatures.

  Returns the training summary, also written to `training_summary.json` inside the
  exported model's assets.extra/: hyperparameters as configured and as used, training
  rows, and the final metrics (on the evaluation files: `val_*`).
  """
  autograph.skip_tf_keras()
  train_rows = count_records(train_files)
  configured, hparams = hparams, hparams.for_rows(train_rows)
  if hparams != configured:
    logging.info('%d training rows: batch %d -> %d, learning rate %g -> %g', train_rows,
                 configured.batch_size, hparams.batch_size, configured.learning_rate,
                 hparams.learning_rate)
  inputs = prepare(transform_output_dir, contract, train_files)
  tf_transform_output, transform_layer = inputs.tf_transform_output, inputs.transform_layer
  parse_and_transform, head = inputs.parse_and_transform, inputs.head
  model = model_lib.build_model(inputs.layout, hparams, head)
  if base_model_dir:
    copied = warm_start(model, base_model_dir)
    logging.info('warm start from %s: %d of %d weights copied', base_model_dir, len(copied),
                 len(model.weights))
  # Optimizer slots created inside the first traced step make TF trace it twice.
  model.optimizer.build(model.trainable_variables)
  # Repeated, with the epoch's length given to fit: one iterator for the whole fit
  # instead of a new one every epoch (each costs time; docs/performance.md).
  train_ds = make_dataset(train_files, parse_and_transform, hparams.batch_size, shuffle=True,
                          seed=hparams.seed).repeat()
  steps_per_epoch = math.ceil(train_rows / hparams.batch_size)  # rebatch fills every batch
  eval_ds = make_dataset(eval_files, parse_and_transform, 1024, shuffle=False)
  callbacks: List[keras.callbacks.Callback] = []
  if log_dir:
    callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir, update_freq='epoch',
                                                 profile_batch=0))
  callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logging.info(
      'epoch %d/%d: %s', epoch + 1, hparams.epochs,
      ', '.join(f'{k}={v:.4f}' for k, v in sorted((logs or {}).items())))))
  # Validated after the last epoch only: the Evaluator judges the model; a pass over the
  # evaluation split every epoch would cost a pass each time and decide nothing.
  history = model.fit(train_ds, epochs=hparams.epochs, steps_per_epoch=steps_per_epoch,
                      validation_data=eval_ds, validation_freq=[hparams.epochs], verbose=0,
                      callbacks=callbacks)
  final = {name: float(values[-1]) for name, values in history.history.items()}
  logging.info('training finished: %s', final)
  # save_traces=False: the serving signatures are all a server needs; tracing every
  # Keras layer's call for re-loading as Keras is slow and serves no client.
  model.save(serving_model_dir, save_format='tf', save_traces=False,
             signatures=signatures.make_signatures(model, tf_transform_output, contract,
                                                   transform_layer, parse_and_transform))
  signatures.mark_example_methods(serving_model_dir)
  extra = tf.io.gfile.join(serving_model_dir, 'assets.extra')
  tf.io.gfile.makedirs(extra)
  summary = {'hparams': configured.to_dict(), 'effective_hparams': hparams.to_dict(),
             'train_rows': train_rows, 'final_metrics': final, 'task': head.task}
  if head.task == 'regression':
    summary['label_moments'] = {'mean': head.label_mean, 'std': head.label_std}
  with tf.io.gfile.GFile(tf.io.gfile.join(extra, TRAINING_SUMMARY_FILE), 'w') as f:
    json.dump(summary, f, indent=2, sort_keys=True)
  # The curated schema the model was trained under: the server checks requests against it.
  with tf.io.gfile.GFile(tf.io.gfile.join(extra, SCHEMA_FILE), 'w') as f:
    f.write(text_format.MessageToString(tf_transform_output.raw_metadata.schema))
  return summary


def release_memory() -> None:
  """Hands the training's freed memory back to the OS.

  LocalDagRunner runs every component in one process, and glibc keeps freed heap pages
  (the in-memory dataset) mapped, so the Evaluator that follows would start from the
  Trainer's peak. Nothing to do elsewhere. Its full garbage collection has a fixed cost
  whatever the data's size, so small trainings skip it (run_fn).
  """
  import ctypes  # pylint: disable=g-import-not-at-top
  import gc  # pylint: disable=g-import-not-at-top
  keras.backend.clear_session()
  gc.collect()
  try:
    ctypes.CDLL('libc.so.6').malloc_trim(0)
  except (OSError, AttributeError):
    pass  # not glibc


def hparams_of(fn_args) -> model_lib.HParams:
  """The configured hyperparameters, with the tuned ones (the Trainer's `hyperparameters`
  input: a KerasTuner HyperParameters config from TFX's Tuner, models/tuning.py) on top."""
  hparams = model_lib.HParams.from_dict((fn_args.custom_config or {}).get('hparams', {}))
  tuned = getattr(fn_args, 'hyperparameters', None)
  if tuned:
    hparams = hparams.tuned(tuned.get('values', {}))
    logging.info('tuned hyperparameters: %s', hparams.to_dict())
  return hparams


def run_fn(fn_args) -> None:
  """TFX Trainer entry point."""
  hparams = hparams_of(fn_args)
  contract = features.FeatureContract.from_config(fn_args.custom_config)
  summary = train_and_export(
      train_files=fn_args.train_files, eval_files=fn_args.eval_files,
      transform_output_dir=fn_args.transform_output, serving_model_dir=fn_args.serving_model_dir,
      hparams=hparams, contract=contract, log_dir=fn_args.model_run_dir,
      # The latest blessed model, when the pipeline wires one in (warm start).
      base_model_dir=getattr(fn_args, 'base_model', None) or None)
  if summary['train_rows'] >= RELEASE_MEMORY_FROM_ROWS:
    release_memory()

"""The hyperparameter search TFX's Tuner runs (`models.tuning.tuner_fn`), with KerasTuner.

The search space, strategy and budget are the data set's (`tuning` in its config,
ctpipe/config.py `TuningSettings`), handed over in the Tuner's custom_config. Trials read
the training split alone: a hash of each serialized record holds `validation_share` of it
out as the trials' validation rows, so the evaluation split, which judges the model that
is trained afterwards, is never read by the search (`SplitTuner.files_read` says what was).

Each trial trains the same model code as the Trainer (models/training.py) on the same
parsed data (parsed once, kept in memory across trials), up to `max_epochs` with early
stopping; the best trial's best epoch count becomes `epochs` in the best hyperparameters
TFX writes, so the Trainer trains as long as the search found worthwhile. The first trial
is the configured hyperparameters (bayesian and random search), so the search leaves them
only for values that validate better.
"""
import logging
import math
import time
from typing import Any, Dict, List, Optional

import keras_tuner as kt
import tensorflow as tf
import tf_keras as keras
from tfx.components.tuner.component import TunerFnResult

from ctpipe.config import TUNING_CONFIG_KEY, HParams, TuningSettings
from models import features, model as model_lib, training

# Trial events: one record per finished trial, its fields in `record.ctpipe_trial`
# (pipeline/local_runner.py hands them to the command's progress output).
TRIAL_LOGGER = 'ctpipe.tuning'
BEST_EPOCHS = 'best_epochs'
TRIAL_SECONDS = 'trial_seconds'
_HASH_BUCKETS = 10_000

# The validation metric a search optimises, per task: Keras' names (models/model.py).
# Multiclass: the cross-entropy, not accuracy: on a small table's validation rows accuracy
# ties at 1.0 after a few epochs and would pick an undertrained model (seen on penguins).
OBJECTIVES = {'binary': ('val_auc', 'max'), 'multiclass': ('val_loss', 'min'),
              'regression': ('val_rmse', 'min')}


def search_space(settings: TuningSettings) -> kt.HyperParameters:
  hp = kt.HyperParameters()
  for name, dimension in sorted(settings.space.items()):
    integer = settings.is_integer(name)
    sampling = 'log' if dimension.log else 'linear'
    if dimension.values:
      hp.Choice(name, [int(v) if integer else float(v) for v in dimension.values],
                ordered=True)
    elif integer:
      hp.Int(name, int(dimension.min), int(dimension.max), sampling=sampling)
    else:
      hp.Float(name, float(dimension.min), float(dimension.max), sampling=sampling)
  return hp


def configured_values(settings: TuningSettings, base: HParams) -> Dict[str, Any]:
  """The configured hyperparameters as a point of the search space: each one the space's
  nearest value (on a log scale but for dropout), or clipped into its range."""
  current = {'width': base.hidden_units[0], 'depth': len(base.hidden_units),
             'learning_rate': base.learning_rate, 'batch_size': base.batch_size,
             'dropout': base.dropout, 'max_embedding_dim': base.max_embedding_dim}
  values = {}
  for name, dimension in sorted(settings.space.items()):
    value = float(current[name])
    if dimension.values:
      def distance(x, value=value, name=name):
        if name == 'dropout' or min(x, value) <= 0:
          return abs(x - value)
        return abs(math.log(x) - math.log(value))
      value = min(dimension.values, key=distance)
    else:
      value = min(max(value, dimension.min), dimension.max)
    values[name] = int(value) if settings.is_integer(name) else float(value)
  return values


class _ConfiguredFirst:
  """An oracle whose first trial is `first_values` (the configured hyperparameters): the
  search moves away from them only for something better on its validation rows."""
  first_values: Optional[Dict[str, Any]] = None

  def populate_space(self, trial_id):
    if self.first_values is not None and not self.trials:
      values, self.first_values = self.first_values, None
      return {'status': kt.engine.trial.TrialStatus.RUNNING, 'values': values}
    return super().populate_space(trial_id)


class _BayesianFromConfigured(_ConfiguredFirst, kt.oracles.BayesianOptimizationOracle):
  pass


class _RandomFromConfigured(_ConfiguredFirst, kt.oracles.RandomSearchOracle):
  pass


def oracle_for(settings: TuningSettings, objective: kt.Objective,
               base: Optional[HParams] = None) -> kt.Oracle:
  """The strategy's oracle; bayesian and random start from `base` (configured_values);
  hyperband draws its brackets' candidates at random."""
  hp = search_space(settings)
  if settings.strategy == 'hyperband':
    oracle = kt.oracles.HyperbandOracle(objective=objective, max_epochs=settings.max_epochs,
                                        factor=3, seed=settings.seed, hyperparameters=hp)
    oracle.max_trials = settings.max_trials  # the trial budget (create_trial stops there)
    return oracle
  kind = (_BayesianFromConfigured if settings.strategy == 'bayesian'
          else _RandomFromConfigured)
  oracle = kind(objective=objective, max_trials=settings.max_trials, seed=settings.seed,
                hyperparameters=hp)
  if base is not None:
    oracle.first_values = configured_values(settings, base)
  return oracle


def held_out(share: float):
  """(is a trial's training row, is a trial's validation row): predicates on a record."""
  cut = int(round(share * _HASH_BUCKETS))

  def validation(record):
    return tf.strings.to_hash_bucket_fast(record, _HASH_BUCKETS) < cut

  def train(record):
    return tf.logical_not(validation(record))
  return train, validation


class _Deadline(keras.callbacks.Callback):
  """Stops a trial's training at the end of the epoch that passes the search's deadline."""

  def __init__(self, deadline: float):
    super().__init__()
    self.deadline = deadline

  def on_epoch_end(self, epoch, logs=None):
    if time.time() >= self.deadline:
      self.model.stop_training = True


class SplitTuner(kt.Tuner):
  """A KerasTuner Tuner training ctpipe's model on the training split's own train and
  validation rows, within a trial budget and a wall-time budget."""

  def __init__(self, oracle: kt.Oracle, inputs: training.Prepared, train_files: List[str],
               settings: TuningSettings, base: HParams, directory: str):
    super().__init__(oracle=oracle, directory=directory, project_name='ctpipe',
                     overwrite=True)
    self.inputs = inputs
    self.settings = settings
    self.base = base
    self.files_read = sorted(tf.io.gfile.glob(list(train_files)))
    keep_train, keep_validation = held_out(settings.validation_share)
    self.train_rows = training.count_records(self.files_read, keep_train)
    self.validation_rows = training.count_records(self.files_read, keep_validation)
    if not self.train_rows or not self.validation_rows:
      raise ValueError(f'the training split is too small to tune on: {self.train_rows} rows '
                       f'to train trials, {self.validation_rows} to validate them')
    parse = inputs.parse_and_transform
    self._train = training.parsed_batches(self.files_read, parse, keep_train)
    self._validation = training.parsed_batches(self.files_read, parse, keep_validation)
    self.objective_name, self.direction = oracle.objective.name, oracle.objective.direction
    self.started = time.time()
    self.deadline = self.started + settings.max_minutes * 60
    self.trials_done: List[Dict[str, Any]] = []
    self.stopped_by = ''

  def hparams_of(self, values: Dict[str, Any]) -> HParams:
    epochs = int(values.get('tuner/epochs', self.settings.max_epochs))
    return self.base.tuned({k: v for k, v in values.items() if not k.startswith('tuner/')}
                           | {'epochs': epochs})

  def run_trial(self, trial, *args, **kwargs) -> Dict[str, float]:
    start = time.time()
    hparams = self.hparams_of(trial.hyperparameters.values).for_rows(self.train_rows)
    keras.backend.clear_session()
    model = model_lib.build_model(self.inputs.layout, hparams, self.inputs.head)
    model.optimizer.build(model.trainable_variables)
    train = training.batches(self._train, hparams.batch_size, shuffle=True,
                             seed=hparams.seed).repeat()
    validation = training.batches(self._validation, 1024, shuffle=False)
    history = model.fit(
        train, epochs=hparams.epochs,
        steps_per_epoch=math.ceil(self.train_rows / hparams.batch_size),
        validation_data=validation, verbose=0,
        callbacks=[keras.callbacks.EarlyStopping(monitor=self.objective_name,
                                                 mode=self.direction,
                                                 patience=self.settings.patience),
                   _Deadline(self.deadline)])
    values = [float(v) for v in history.history[self.objective_name]]
    finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
    if not finite:
      raise ValueError(f'trial {trial.trial_id}: {self.objective_name} was never finite')
    # The best value, at its earliest epoch.
    best, index = (max(finite, key=lambda p: (p[0], -p[1])) if self.direction == 'max'
                   else min(finite))
    return {self.objective_name: best, BEST_EPOCHS: float(index + 1),
            TRIAL_SECONDS: time.time() - start}

  def on_trial_end(self, trial) -> None:
    super().on_trial_end(trial)
    if trial.score is not None:
      self._report(trial)
    now = time.time()
    done = len(self.trials_done)
    if now >= self.deadline:
      self.stopped_by = f'the wall-time budget ({self.settings.max_minutes:g} min)'
    elif done >= self.settings.max_trials:
      self.stopped_by = f'the trial budget ({self.settings.max_trials} trials)'
    if self.stopped_by:
      # Oracle.create_trial answers STOPPED from max_trials on: no new trial starts.
      self.oracle.max_trials = len(self.oracle.trials)

  def _report(self, trial) -> None:
    best = self.oracle.get_best_trials(1)
    record = {
        'trial': len(self.trials_done) + 1, 'trial_id': trial.trial_id,
        'hyperparameters': {k: v for k, v in trial.hyperparameters.values.items()
                            if not k.startswith('tuner/')},
        'objective': self.objective_name, 'value': float(trial.score),
        'epochs': int(trial.metrics.get_last_value(BEST_EPOCHS)),
        'seconds': round(float(trial.metrics.get_last_value(TRIAL_SECONDS)), 2),
        'best_value': float(best[0].score) if best else float(trial.score),
        'seconds_left': max(0.0, round(self.deadline - time.time(), 1)),
        'max_trials': self.settings.max_trials,
    }
    self.trials_done.append(record)
    logging.getLogger(TRIAL_LOGGER).info(
        'trial %d: %s=%.4f (best %.4f), %s; %.0f s left of the budget', record['trial'],
        self.objective_name, record['value'], record['best_value'],
        record['hyperparameters'], record['seconds_left'], extra={'ctpipe_trial': record})

  def _configured_trial(self):
    """The trial of the configured hyperparameters (the first; None for hyperband)."""
    wanted = configured_values(self.settings, self.base)
    return next((t for t in self.oracle.trials.values() if t.score is not None and
                 {k: t.hyperparameters.values.get(k) for k in wanted} == wanted), None)

  def keeps_configured(self) -> bool:
    """Whether no trial beat the configured hyperparameters by `min_gain` of their value."""
    configured = self._configured_trial()
    best = self.oracle.get_best_trials(1)
    if configured is None or not best or best[0] is configured:
      return False
    gain = best[0].score - configured.score
    if self.direction == 'min':
      gain = -gain
    return bool(gain < self.settings.min_gain * abs(configured.score))

  def get_best_hyperparameters(self, num_trials: int = 1) -> List[kt.HyperParameters]:
    """The best trials' values, with `epochs` their best epoch count (what TFX writes);
    the configured hyperparameters, epochs included, when no trial beat them by min_gain."""
    if self.keeps_configured():
      hp = kt.HyperParameters()
      for name, value in sorted(configured_values(self.settings, self.base).items()):
        hp.Fixed(name, value)
      hp.Fixed('epochs', self.base.epochs)
      return [hp]
    found = []
    for trial in self.oracle.get_best_trials(num_trials):
      hp = kt.HyperParameters()
      for name in sorted(self.settings.space):
        hp.Fixed(name, trial.hyperparameters.values[name])
      hp.Fixed('epochs', int(trial.metrics.get_last_value(BEST_EPOCHS)))
      found.append(hp)
    return found

  def summary(self) -> Dict[str, Any]:
    """What the search did, for the Tuner's results artifact (pipeline/components/tuning)."""
    best = self.get_best_hyperparameters()
    return {
        'strategy': self.settings.strategy, 'objective': self.objective_name,
        'direction': self.direction, 'max_trials': self.settings.max_trials,
        'max_minutes': self.settings.max_minutes,
        'seconds': round(time.time() - self.started, 1),
        'stopped_by': self.stopped_by or 'the search space (every candidate tried)',
        'kept_configured': self.keeps_configured(), 'min_gain': self.settings.min_gain,
        'files_read': self.files_read, 'trial_train_rows': self.train_rows,
        'trial_validation_rows': self.validation_rows,
        'validation_share': self.settings.validation_share,
        'best_values': best[0].values if best else {},
        'best_value': self._chosen_value(),
        'trials': self.trials_done,
    }


  def _chosen_value(self):
    """The validation metric of the hyperparameters the search hands the Trainer."""
    if not self.trials_done:
      return None
    if self.keeps_configured():
      return float(self._configured_trial().score)
    return (max if self.direction == 'max' else min)(t['value'] for t in self.trials_done)


def objective_for(task: str) -> kt.Objective:
  name, direction = OBJECTIVES[task]
  return kt.Objective(name, direction)


def tuner_fn(fn_args) -> TunerFnResult:
  """TFX Tuner entry point (`tuner_fn='models.tuning.tuner_fn'`)."""
  config = fn_args.custom_config or {}
  settings = TuningSettings.from_dict(config[TUNING_CONFIG_KEY])
  contract = features.FeatureContract.from_config(config)
  base = HParams.from_dict(config.get('hparams', {}))
  inputs = training.prepare(fn_args.transform_graph_path, contract, fn_args.train_files)
  tuner = SplitTuner(oracle_for(settings, objective_for(contract.task), base), inputs,
                     fn_args.train_files, settings, base, fn_args.working_dir)
  return TunerFnResult(tuner=tuner, fit_kwargs={'verbose': 0})

"""The search's oracle (KerasTuner): its space, and its first trial the configured hyperparameters."""
import dataclasses

from ctpipe import config as config_lib
from ctpipe.config import HParams
from models import tuning
from tests.conftest import CONFIG

SETTINGS = config_lib.load(CONFIG).pipeline.tuning


def test_the_first_trial_is_the_configured_hyperparameters_then_the_search_moves_on(tmp_path):
  base = HParams()  # taxi's, tuned by hand: (128, 64), dropout 0.5, lr 1e-3, batch 128
  oracle = tuning.oracle_for(SETTINGS, tuning.objective_for('binary'), base)
  oracle._set_project_dir(str(tmp_path), 'search')  # what the Tuner does; pylint: disable=protected-access
  first = oracle.create_trial('tuner0')
  assert first.hyperparameters.values == {'width': 128, 'depth': 2, 'learning_rate': 0.001,
                                          'batch_size': 128, 'dropout': 0.5}
  assert base.tuned(first.hyperparameters.values) == base  # exactly the configured model
  oracle.update_trial(first.trial_id, {'val_auc': 0.9, tuning.BEST_EPOCHS: 3.0})
  oracle.end_trial(first)
  second = oracle.create_trial('tuner0')
  assert second.hyperparameters.values != first.hyperparameters.values


def test_configured_values_outside_the_space_are_snapped_into_it():
  settings = config_lib.load(CONFIG, ['tuning.space={dropout: {values: [0.0, 0.2]}, '
                                      'learning_rate: {min: 0.002, max: 0.01, log: true}, '
                                      'batch_size: {values: [32, 512]}}']).pipeline.tuning
  values = tuning.configured_values(settings, dataclasses.replace(HParams(), batch_size=100))
  # 100 is nearer 32 than 512 on a log scale; 1e-3 is clipped to the range's 0.002.
  assert values == {'dropout': 0.2, 'learning_rate': 0.002, 'batch_size': 32}


def test_every_strategy_makes_an_oracle_over_the_declared_space():
  for strategy in ('bayesian', 'random', 'hyperband'):
    settings = dataclasses.replace(SETTINGS, strategy=strategy)
    oracle = tuning.oracle_for(settings, tuning.objective_for('regression'), HParams())
    assert oracle.objective.name == 'val_rmse' and oracle.objective.direction == 'min'
    assert {hp.name for hp in oracle.hyperparameters.space} == set(SETTINGS.space)
    assert oracle.max_trials == SETTINGS.max_trials


def _search_after(tmp_path, scores, min_gain=0.002, direction='max'):
  """A SplitTuner's choice after trials scored `scores` (the first: the configured values)."""
  settings = dataclasses.replace(SETTINGS, min_gain=min_gain)
  objective = tuning.objective_for('binary' if direction == 'max' else 'regression')
  oracle = tuning.oracle_for(settings, objective, HParams())
  oracle._set_project_dir(str(tmp_path), 'search')  # pylint: disable=protected-access
  for epochs, score in enumerate(scores, start=2):
    trial = oracle.create_trial('tuner0')
    oracle.update_trial(trial.trial_id, {objective.name: score, tuning.BEST_EPOCHS: float(epochs)})
    trial.status = 'COMPLETED'  # as the Tuner marks a trial whose run_trial returned
    oracle.end_trial(trial)
  tuner = object.__new__(tuning.SplitTuner)  # the choice needs no data
  tuner.oracle, tuner.settings, tuner.base, tuner.direction = oracle, settings, HParams(), direction
  return tuner, oracle


def test_the_configured_hyperparameters_stay_unless_a_trial_beats_them_by_min_gain(tmp_path):
  tuner, oracle = _search_after(tmp_path / 'a', [0.9600, 0.9615, 0.9580])  # +0.16 %: noise
  assert tuner.keeps_configured()
  [kept] = tuner.get_best_hyperparameters()
  assert kept.values == dict(tuning.configured_values(SETTINGS, HParams()), epochs=HParams().epochs)
  tuner, oracle = _search_after(tmp_path / 'b', [0.9600, 0.9640, 0.9580])  # +0.42 %
  assert not tuner.keeps_configured()
  [best] = tuner.get_best_hyperparameters()
  winner = [t for t in oracle.trials.values() if t.score == 0.9640][0]
  assert best.values == dict(winner.hyperparameters.values, epochs=3)  # its best epoch count
  tuner, _ = _search_after(tmp_path / 'c', [60.0, 59.95], direction='min')  # RMSE -0.08 %
  assert tuner.keeps_configured()
  tuner, _ = _search_after(tmp_path / 'd', [60.0, 58.0], direction='min')
  assert not tuner.keeps_configured()

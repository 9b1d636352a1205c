"""The search's settings and its mapping onto the model's hyperparameters: pure functions, no
TensorFlow (the search itself runs in tests/datasets/test_any_dataset.py)."""
import dataclasses
import datetime
import json

import pytest

from ctpipe import config as config_lib
from ctpipe.config import HParams, SearchRange, TuningSettings
from tests.conftest import CONFIG


def test_the_projects_config_declares_a_search_space_and_a_budget():
  tuning = config_lib.load(CONFIG).pipeline.tuning
  assert tuning.auto is False  # taxi's hyperparameters were tuned by hand
  assert set(tuning.space) == {'width', 'depth', 'learning_rate', 'batch_size', 'dropout'}
  assert tuning.space['learning_rate'] == SearchRange(min=0.0003, max=0.01, log=True)
  assert tuning.max_trials == 12 and tuning.max_minutes == 10


@pytest.mark.parametrize('override, message', [
    ('tuning.strategy=grid', 'strategy: one of bayesian, random, hyperband'),
    ('tuning.max_trials=0', 'must be >= 1'),
    ('tuning.validation_share=0.7', 'validation_share must be within (0, 0.5)'),
    ('tuning.space={speed: {values: [1, 2]}}', "['speed'] cannot be tuned"),
    ('tuning.space={dropout: {values: [0.2, 1.0]}}', 'space.dropout: values must be < 1'),
    ('tuning.space={width: {values: [32.5]}}', 'whole numbers only'),
    ('tuning.space={learning_rate: {min: 0.1, max: 0.01}}', 'min < max needed'),
    ('tuning.space={learning_rate: {values: [0.1], min: 0.01, max: 0.2}}',
     'either values: [...] or min and max'),
    ('tuning.space={learning_rate: {min: 0, max: 0.01, log: true}}', 'a log range needs min > 0'),
    ('tuning.maxtrials=3', "unknown key(s) ['maxtrials']"),
])
def test_a_wrong_search_is_one_line_naming_the_override(override, message):
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.load(CONFIG, [override])
  assert message in str(error.value) and f'--set {override}' in str(error.value)


def test_settings_survive_the_trip_through_the_tuners_custom_config():
  settings = config_lib.load(CONFIG, ['tuning.strategy=hyperband']).pipeline.tuning
  assert TuningSettings.from_dict(json.loads(json.dumps(dataclasses.asdict(settings)))) == settings


def test_width_and_depth_make_hidden_units_and_the_rest_is_taken_as_is():
  base = HParams()
  tuned = base.tuned({'width': 64, 'depth': 3, 'learning_rate': 0.004, 'batch_size': 32,
                      'dropout': 0.2, 'epochs': 7, 'tuner/epochs': 9, 'tuner/bracket': 1})
  assert tuned.hidden_units == (64, 32, 16)
  assert (tuned.learning_rate, tuned.batch_size, tuned.dropout, tuned.epochs) == (0.004, 32, 0.2, 7)
  assert tuned.seed == base.seed and tuned.max_embedding_dim == base.max_embedding_dim
  assert base.tuned({'width': 16, 'depth': 4}).hidden_units == (16, 8, 8, 8)  # never below 8
  assert base.tuned({'depth': 1}).hidden_units == (128,)  # the configured first width
  assert base.tuned({}) == base
  with pytest.raises(ValueError, match=r"unknown tuned hyperparameters \['momentum'\]"):
    base.tuned({'momentum': 0.9})


class _Reader:
  def spans_of(self, node_id, type_name='Examples'):
    return [1, 2]


class _Home:
  def __init__(self, root):
    self.root = root

  def reader(self, pipeline_name):
    return _Reader()


class _Runner:
  def __init__(self):
    self.calls = []

  def triggered(self, reason, newest, available, tune=False):
    from ctpipe.continuous.span_runs import Outcome, TRAINED  # pylint: disable=g-import-not-at-top
    self.calls.append((reason, tune))
    return Outcome(None, reason, TRAINED, 0.0)


def test_watch_tunes_on_its_tuning_schedule_and_trains_on_its_training_schedule(tmp_path):
  from ctpipe.continuous.watch import Watcher, WatchOptions  # pylint: disable=g-import-not-at-top
  (tmp_path / 'data').mkdir()
  # Saturday 2026-11-28 22:00 UTC; training daily at 03:00, tuning on Sundays at 04:00.
  now = [datetime.datetime(2026, 11, 28, 22, 0, tzinfo=datetime.timezone.utc).timestamp()]
  runner = _Runner()
  watcher = Watcher(_Home(str(tmp_path)), str(tmp_path / 'data'), runner,
                    WatchOptions(cron='0 3 * * *', tune_cron='0 4 * * 0'), 'p',
                    clock=lambda: now[0], ledger_dir=str(tmp_path / 'ledger'))
  now[0] = datetime.datetime(2026, 11, 29, 3, 30, tzinfo=datetime.timezone.utc).timestamp()
  watcher.poll()
  assert runner.calls == [('schedule: 0 3 * * *', False)]
  now[0] = datetime.datetime(2026, 11, 29, 4, 30, tzinfo=datetime.timezone.utc).timestamp()
  watcher.poll()
  assert runner.calls[-1] == ('tuning schedule: 0 4 * * 0', True)
  now[0] = datetime.datetime(2026, 11, 30, 4, 30, tzinfo=datetime.timezone.utc).timestamp()
  watcher.poll()  # Monday: the daily training, and no tuning until next Sunday
  assert runner.calls[-1] == ('schedule: 0 3 * * *', False) and len(runner.calls) == 3
  assert 0 < watcher.seconds_to_next_poll() <= 60
  with pytest.raises(ValueError, match='invalid cron expression'):
    WatchOptions(tune_cron='weekly')

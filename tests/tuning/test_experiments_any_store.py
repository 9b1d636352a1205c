"""`ctpipe experiments` on a store ctpipe never wrote: TFX's own taxi example's ML Metadata."""
import json

from click.testing import CliRunner

from ctpipe.cli import main
from tests.conftest import TFX_EXAMPLE_STORE


def test_experiments_lists_the_training_runs_of_any_tfx_store():
  listed = CliRunner().invoke(main, ['experiments', '--db', TFX_EXAMPLE_STORE, '--json'])
  assert listed.exit_code == 0, listed.output
  found = json.loads(listed.output)
  assert found['experiments'] == []  # TFX files no run under a ctpipe experiment
  [run] = found['runs']
  assert run['pipeline'] == 'peer_taxi' and run['blessed'] is True
  # Its Trainer's TrainArgs and EvalArgs, as TFX's example sets them.
  assert run['parameters']['train_steps'] == 1000 and run['parameters']['eval_steps'] == 150
  assert len(run['parameters']['data_fingerprint']) == 12
  text = CliRunner().invoke(main, ['experiments', '--db', TFX_EXAMPLE_STORE])
  assert text.exit_code == 0 and run['run'] in text.output


def test_an_unknown_experiment_is_one_line_saying_there_are_none_yet():
  missing = CliRunner().invoke(main, ['experiments', 'nope', '--db', TFX_EXAMPLE_STORE])
  assert missing.exit_code == 1
  assert "no experiment 'nope' in this store; experiments: none yet" in missing.output


def _run(name, parameters, metrics):
  from ctpipe.mlmd_inspect.experiments import ExperimentRun  # pylint: disable=g-import-not-at-top
  return ExperimentRun(run=name, pipeline='p', started='', experiments=['e'],
                       parameters=parameters, metrics=metrics, slices={}, blessed=None,
                       pushed_version=None)


def test_the_parameters_that_differ_and_the_best_of_each_metric():
  from ctpipe.mlmd_inspect import compare_report, experiments  # pylint: disable=g-import-not-at-top
  runs = [_run('a', {'hp.width': 64, 'window': '1,2', 'hp.seed': 42}, {}),
          _run('b', {'hp.width': 128, 'window': '1,2', 'hp.seed': 42}, {}),
          _run('c', {'hp.width': 64, 'window': '1,2'}, {})]
  assert experiments.differing(runs) == ['hp.seed', 'hp.width']  # missing counts as different
  assert compare_report._best([0.9, 0.95, float('nan')], 'auc') == 0.95  # pylint: disable=protected-access
  assert compare_report._best([60.0, 55.0], 'rmse') == 55.0  # pylint: disable=protected-access
  assert compare_report._best([0.8, 1.1], 'calibration') == 1.1  # nearest 1  # pylint: disable=protected-access
  for metric in ('example_count', 'mean_label', 'auc_diff'):
    assert compare_report._best([1.0, 2.0], metric) != compare_report._best([1.0, 2.0], metric)  # NaN: no best  # pylint: disable=protected-access

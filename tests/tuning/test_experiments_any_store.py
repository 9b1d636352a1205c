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

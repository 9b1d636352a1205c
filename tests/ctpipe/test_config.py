"""The typed configuration: one file, every command takes --config and --set, a mistake is one
line naming the key (and the --set option that made it), and reading it imports no TensorFlow."""
import subprocess
import sys

import click
import pytest

from ctpipe import config
from ctpipe.cli import main
from tests.conftest import CONFIG, PROJECT, REPO


def test_the_project_file_defines_the_taxi_data_set_and_both_targets():
  project = config.load(CONFIG)
  assert project.dataset.name == 'taxi' and project.dataset.label == 'big_tipper'
  assert project.pipeline.pipeline_name == 'ctpipe-taxi'
  assert project.pipeline.hparams.epochs == 4 and project.pipeline.thresholds.min_auc == 0.9
  assert project.vertex is not None and project.vertex.labels == (('app', 'ctpipe'),)
  assert project.endpoint_name() == 'ctpipe-taxi'


def test_the_feature_contract_travels_through_custom_config_unchanged():
  from models import features  # pylint: disable=g-import-not-at-top
  contract = features.FeatureContract.of(PROJECT.dataset)
  import json  # pylint: disable=g-import-not-at-top
  carried = json.loads(json.dumps({features.CONFIG_KEY: contract.to_config()}))
  assert features.FeatureContract.from_config(carried) == contract
  assert contract.label == 'big_tipper' and contract.label_sources == ('tips',)
  assert PROJECT.dataset.time_column in contract.treatments.unused
  assert set(PROJECT.dataset.slices) <= set(contract.model_input_features)


@pytest.mark.parametrize('override, message', [
    ('dataset.features.numbers=[fare]', "'fare' is under both amounts and numbers"),
    ('dataset.features.vocabulary=[tips]', "'tips' is the label or feeds it"),
    ('dataset.label_fn=', 'label_sources need a label_fn'),
])
def test_a_contradictory_feature_contract_is_refused(override, message):
  with pytest.raises(config.ConfigError, match=message):
    config.load(CONFIG, [override])


@pytest.mark.parametrize('override, message', [
    ('pipeline.epochz=3', "--set pipeline.epochz=3: pipeline: unknown key(s) ['epochz']"),
    ('vertex.dataflow.max_workers=two',
     "vertex.dataflow.max_workers: expected int, got 'two'"),
    ('local.beam_mode=fast', 'local: beam_mode: one of auto, in_memory, multi_processing'),
    ('dataset.slices=[company]', "guarded_slices.accuracy: ['payment_type', 'trip_start_hour']"
                                 " are not in slices ['company']"),
    ('local.mysql.host=db', '--set local.mysql.host=db: local.mysql.database is required'),
])
def test_a_mistake_is_one_line_naming_the_key(override, message):
  with pytest.raises(config.ConfigError) as error:
    config.load(CONFIG, [override])
  assert message in str(error.value) and '\n' not in str(error.value)


def test_a_mistake_in_the_file_names_the_file(tmp_path):
  bad = tmp_path / 'bad.yaml'
  bad.write_text(open(CONFIG, encoding='utf-8').read().replace('epochs: 4', 'epochs: four'))
  with pytest.raises(config.ConfigError, match=f'{bad}: pipeline.epochs: expected int'):
    config.load(str(bad))


def test_overrides_are_typed_like_the_file():
  project = config.load(CONFIG, ['pipeline.epochs=7', 'pipeline.edge_export=false',
                                 'dataset.demo.scale=3'])
  assert project.pipeline.hparams.epochs == 7 and project.pipeline.edge_export is False
  assert project.dataset.demo.scale == 3.0


def test_every_command_takes_config_and_set():
  def commands(group, prefix=''):
    for name, command in group.commands.items():
      params = {p.name for p in command.params}
      if isinstance(command, click.Group) and 'config_path' not in params:
        yield from commands(command, f'{prefix}{name} ')  # each subcommand takes them
      else:
        yield f'{prefix}{name}', command
  missing = []
  for name, command in commands(main):
    if name == 'init':  # it writes a data set's config
      continue
    params = {p.name for p in command.params}
    if not {'config_path', 'overrides'} <= params:
      missing.append(name)
  assert missing == []
  assert isinstance(main.commands['inspect'], click.Group)
  assert 'rollout status' in dict(commands(main))


def test_a_set_typo_on_the_command_line_is_one_line_and_exit_2_before_tensorflow():
  probe = ('import sys, runpy\n'
           'sys.argv = ["ctpipe", "run", "--set", "pipeline.epochz=3"]\n'
           'try:\n'
           '  runpy.run_module("ctpipe.cli", run_name="__main__")\n'
           'except SystemExit as e:\n'
           '  print("exit", e.code, "tensorflow" in sys.modules)\n')
  proc = subprocess.run([sys.executable, '-c', probe], cwd=REPO, capture_output=True,
                        text=True, timeout=120)
  assert proc.stdout.strip() == 'exit 2 False', proc.stdout + proc.stderr
  assert proc.stderr.strip() == ("error: --set pipeline.epochz=3: pipeline: unknown key(s) "
                                 "['epochz']; known: ['analyzer_cache', 'edge_export', "
                                 "'epochs', 'in_process_executors', 'min_auc', 'thresholds', "
                                 "'warm_start', 'window_spans']")


def test_reading_the_config_imports_no_tensorflow():
  probe = (f'import sys; from ctpipe import config; config.load({CONFIG!r}); '
           'print(sorted(m for m in ("tensorflow", "tfx", "tf_keras") if m in sys.modules))')
  proc = subprocess.run([sys.executable, '-c', probe], cwd=REPO, capture_output=True,
                        text=True, timeout=120)
  assert proc.stdout.strip() == '[]', proc.stdout + proc.stderr


def test_in_process_executors_can_be_turned_off_for_tfxs_own():
  from pipeline import definition  # pylint: disable=g-import-not-at-top
  from pipeline.in_process.csv_ingest import InProcessCsvExecutor  # pylint: disable=g-import-not-at-top
  paths = config.PipelinePaths('/tmp/p', '/tmp/d', '/tmp/s.pbtxt', '/tmp/serving')

  def executors(settings):
    built = definition.create_pipeline(settings, paths, window=[1, 2])
    return {c.id: c.executor_spec.executor_class for c in built.components
            if hasattr(c.executor_spec, 'executor_class')}
  ours = executors(PROJECT.pipeline)
  theirs = executors(config.load(CONFIG, ['pipeline.in_process_executors=false']).pipeline)
  assert ours[definition.EXAMPLE_GEN] is InProcessCsvExecutor
  assert theirs[definition.EXAMPLE_GEN].__module__.startswith('tfx.components.')
  for node in (definition.STATISTICS_GEN, definition.EVALUATOR):
    assert ours[node].__module__.startswith('pipeline.in_process.'), node
    assert theirs[node].__module__.startswith('tfx.components.'), node


def test_several_overrides_build_one_section_together():
  project = config.load(CONFIG, ['local.mysql.host=db.internal', 'local.mysql.database=mlmd',
                                 'local.mysql.user=ctpipe'])
  assert project.local.mysql == config.MySQLStore('db.internal', 'mlmd', 'ctpipe')
  with pytest.raises(config.ConfigError,
                     match=r'^--set local.mysql.host=db: local.mysql.database is required$'):
    config.load(CONFIG, ['pipeline.epochs=3', 'local.mysql.host=db'])

"""Vertex AI Pipelines, offline: the compiled spec, its determinism, and the requests that
`ctpipe submit` and `ctpipe schedule` would send (captured in place of the API client)."""
import json
import os
import subprocess
import sys

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from ctpipe import config as targets
from pipeline import definition, vertex_jobs, vertex_runner
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

CONFIG = os.path.join(REPO, 'config', 'ctpipe.yaml')
BEAM_STEPS = (definition.EXAMPLE_GEN, definition.STATISTICS_GEN, definition.TRANSFORM,
              definition.EVALUATOR, definition.TRAINING_STATISTICS, definition.SCHEMA_GEN,
              definition.EXAMPLE_VALIDATOR)


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
  config = targets.load(CONFIG)
  folder = tmp_path_factory.mktemp('vertex')
  first, second = str(folder / 'a' / 'pipeline.json'), str(folder / 'b' / 'pipeline.json')
  vertex_runner.compile_spec(config, first)
  vertex_runner.compile_spec(config, second)
  with open(first, 'rb') as f:
    raw = f.read()
  return {'config': config, 'path': first, 'second': second, 'raw': raw, 'job': json.loads(raw)}


def _spec(compiled) -> pipeline_spec_pb2.PipelineSpec:
  # Parsing fails on any field the KFP PipelineSpec proto does not know.
  return json_format.ParseDict(compiled['job']['pipelineSpec'], pipeline_spec_pb2.PipelineSpec())


def test_the_spec_parses_back_and_holds_every_component_in_the_projects_image(compiled):
  spec = _spec(compiled)
  tasks = set(spec.root.dag.tasks)
  expected = {definition.EXAMPLE_GEN, definition.STATISTICS_GEN, definition.SCHEMA_IMPORTER,
              definition.SCHEMA_GEN, definition.SCHEMA_REVIEW, definition.EXAMPLE_VALIDATOR,
              definition.DATA_GATE, definition.DRIFT_REFERENCE, definition.DRIFT_CHECK,
              definition.TRAINING_STATISTICS, definition.TRANSFORM, definition.TRAINER,
              definition.EVALUATOR, definition.SERVING_CHECK, definition.PUSHER,
              definition.EDGE_EXPORT}
  assert expected <= tasks, expected - tasks
  image = compiled['config'].vertex.image
  deployment = compiled['job']['pipelineSpec']['deploymentSpec']['executors']
  containers = {name: e['container'] for name, e in deployment.items() if 'container' in e}
  assert containers and all(c['image'] == image for c in containers.values())
  # Local-only resolvers are gone: Vertex resolves with TFX's own strategies only.
  assert definition.TRAINING_WINDOW not in tasks and definition.MERGE_WINDOW not in tasks


def test_beam_steps_run_on_dataflow_with_the_projects_image(compiled):
  vertex = compiled['config'].vertex
  deployment = compiled['job']['pipelineSpec']['deploymentSpec']['executors']
  for step in BEAM_STEPS:
    args = deployment[f'{step}_executor']['container']['args']
    assert '--runner=DataflowRunner' in args, step
    assert f'--sdk_container_image={vertex.image}' in args, step
    assert f'--project={vertex.project}' in args and f'--region={vertex.region}' in args
    assert f'--max_num_workers={vertex.dataflow.max_workers}' in args
    assert f'--machine_type={vertex.dataflow.machine_type}' in args
    assert any(a.startswith('--temp_location=gs://') for a in args)


def test_the_gate_and_the_serving_check_guard_training_and_the_push(compiled):
  tasks = compiled['job']['pipelineSpec']['root']['dag']['tasks']
  assert definition.DATA_GATE in tasks[definition.TRANSFORM]['dependentTasks']
  pusher = tasks[definition.PUSHER]
  assert set(pusher['dependentTasks']) >= {definition.EVALUATOR, definition.SERVING_CHECK}
  assert set(pusher['inputs']['artifacts']) == {'model_blessing', 'infra_blessing'}
  destination = json.loads(pusher['inputs']['parameters']['push_destination']['runtimeValue']
                           ['constantValue']['stringValue'])
  serving = compiled['config'].vertex.serving_bucket
  assert destination['filesystem']['base_directory'] == f'{serving}/taxi'


def test_runtime_parameters_for_training_and_the_window(compiled):
  parameters = compiled['job']['pipelineSpec']['root']['inputDefinitions']['parameters']
  assert set(parameters) == {definition.TRAINER_CONFIG_PARAMETER,
                             definition.RANGE_CONFIG_PARAMETER}
  values = vertex_runner.parameter_values(compiled['config'].pipeline,
                                          {'epochs': '8', 'window_spans': '2'}, 'v1')
  assert json.loads(values[definition.TRAINER_CONFIG_PARAMETER])['hparams']['epochs'] == 8
  assert json.loads(values[definition.RANGE_CONFIG_PARAMETER]) == {
      'rollingRange': {'numSpans': 2}}
  with pytest.raises(ValueError, match='unknown parameter'):
    vertex_runner.parameter_values(compiled['config'].pipeline, {'epoch': '8'}, 'v1')


def test_compiling_twice_gives_the_same_bytes(compiled):
  with open(compiled['second'], 'rb') as f:
    assert f.read() == compiled['raw']


def test_vertex_training_and_endpoint_when_enabled(tmp_path):
  config = targets.load(CONFIG, ['vertex.training.enabled=true', 'vertex.endpoint.enabled=true'])
  job = vertex_runner.compile_spec(config, str(tmp_path / 'pipeline.json'))
  tasks = job['pipelineSpec']['root']['dag']['tasks']
  assert definition.ENDPOINT_PUSHER in tasks
  trainer = json.dumps(job['pipelineSpec']['deploymentSpec']['executors']['Trainer_executor'])
  assert 'google_cloud_ai_platform' in trainer  # TFX's Vertex AI Training executor


def test_submit_dry_run_is_the_request_the_sdk_would_send(compiled):
  config = compiled['config']
  values = vertex_runner.parameter_values(config.pipeline, {'epochs': '6'}, 'v1')
  request = vertex_jobs.submit(config.vertex, compiled['path'], 'ctpipe-taxi', values,
                               enable_caching=False, labels={'trigger': 'manual'}, dry_run=True)
  assert request['parent'] == f'projects/{config.vertex.project}/locations/{config.vertex.region}'
  job = request['pipelineJob']
  assert job['serviceAccount'] == config.vertex.service_account
  assert job['labels'] == {'app': 'ctpipe', 'trigger': 'manual'}
  assert job['runtimeConfig']['gcsOutputDirectory'] == config.vertex.pipeline_root
  trainer = json.loads(job['runtimeConfig']['parameters'][
      definition.TRAINER_CONFIG_PARAMETER]['stringValue'])
  assert trainer['hparams']['epochs'] == 6
  caching = {t['cachingOptions'].get('enableCache', False)
             for t in job['pipelineSpec']['root']['dag']['tasks'].values()}
  assert caching == {False}


def test_schedule_dry_run_carries_the_cron_and_the_job(compiled):
  config = compiled['config']
  values = vertex_runner.parameter_values(config.pipeline, {}, 'v1')
  request = vertex_jobs.schedule(config.vertex, compiled['path'], 'ctpipe-taxi', '0 3 * * *',
                                 values, dry_run=True)
  schedule = request['schedule']
  assert schedule['cron'] == '0 3 * * *' and schedule['maxConcurrentRunCount'] == '1'
  job = schedule['createPipelineJobRequest']['pipelineJob']
  assert job['serviceAccount'] == config.vertex.service_account
  assert definition.DATA_GATE in job['pipelineSpec']['root']['dag']['tasks']


def test_config_errors_are_one_line():
  with pytest.raises(targets.ConfigError, match=r'vertex.dataflow.max_workers: expected int'):
    targets.load(CONFIG, ['vertex.dataflow.max_workers=two'])
  with pytest.raises(targets.ConfigError, match=r"unknown key\(s\) \['zone'\]"):
    targets.load(CONFIG, ['vertex.zone=a'])
  with pytest.raises(targets.ConfigError, match='must be a gs:// URI'):
    targets.load(CONFIG, ['vertex.serving_bucket=/srv/models'])
  with pytest.raises(targets.ConfigError, match='pipeline: epochs and batch_size must be >= 1'):
    targets.load(CONFIG, ['pipeline.epochs=0'])
  with pytest.raises(targets.ConfigError, match='expected key=value'):
    targets.load(CONFIG, ['vertex.region'])
  assert targets.load(CONFIG, ['vertex.region=europe-west4']).vertex.region == 'europe-west4'


def test_ctpipe_submit_dry_run_from_the_command_line(tmp_path):
  # No --spec: submit compiles first (into --spec's default under build/).
  proc = subprocess.run(
      [sys.executable, '-m', 'ctpipe.cli', 'submit', '--param', 'epochs=5',
       '--label', 'trigger=manual', '--dry-run'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert 'Dry run: nothing sent' in proc.stdout
  body = json.loads(proc.stdout[proc.stdout.index('{'):])
  assert body['pipelineJob']['labels']['trigger'] == 'manual'
  assert '"epochs": 5' in body['pipelineJob']['runtimeConfig']['parameters'][
      definition.TRAINER_CONFIG_PARAMETER]['stringValue']
  assert os.path.exists(os.path.join(REPO, 'build', 'pipeline.json'))
  # The example's placeholder project: said once on stderr for a dry run ...
  assert "placeholder 'my-gcp-project'" in proc.stderr and 'warning:' in proc.stderr
  # ... and refused where a request would really be sent, before anything is compiled.
  sent = subprocess.run([sys.executable, '-m', 'ctpipe.cli', 'submit'], cwd=REPO,
                        capture_output=True, text=True, timeout=300)
  assert sent.returncode == 2 and "placeholder 'my-gcp-project'" in sent.stderr, sent.stderr
  assert not sent.stdout


def test_compile_writes_its_log_beside_the_spec_not_in_the_current_folder(tmp_path):
  output = tmp_path / 'out' / 'spec.json'
  proc = subprocess.run([sys.executable, '-m', 'ctpipe.cli', 'compile', '--output', str(output)],
                        cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
                        env={**os.environ, 'PYTHONPATH': REPO})
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert output.exists() and list((tmp_path / 'out' / 'logs').glob('*.log'))
  assert not (tmp_path / 'build').exists()


def test_a_multiclass_data_set_from_init_compiles_for_vertex_with_its_own_contract(tmp_path):
  """The penguins' definition, as `ctpipe init` writes it, with the taxi config's vertex
  section: its Transform and Trainer get its contract, its Evaluator its task's metrics."""
  import palmerpenguins  # pylint: disable=g-import-not-at-top
  import yaml  # pylint: disable=g-import-not-at-top
  from ctpipe.datasets import init as init_lib  # pylint: disable=g-import-not-at-top
  raw = os.path.join(os.path.dirname(palmerpenguins.__file__), 'data', 'penguins-raw.csv')
  result = init_lib.init_dataset(raw, 'Species', name='penguins', out_dir=str(tmp_path / 'p'))
  with open(result.config_path, encoding='utf-8') as f:
    tree = yaml.safe_load(f)
  with open(CONFIG, encoding='utf-8') as f:
    tree['vertex'] = yaml.safe_load(f)['vertex']
  project = targets.parse(tree, source=result.config_path)
  path = str(tmp_path / 'pipeline.json')
  vertex_runner.compile_spec(project, path)
  with open(path, encoding='utf-8') as f:
    text = f.read()
  assert 'multiclass' in text  # the task, in Transform's and the Trainer's custom_config
  assert 'MulticlassAccuracy' in text and 'MultiClassConfusionMatrixPlot' in text
  assert 'Gentoo penguin (Pygoscelis papua)' in text  # the classes travel with the contract
  assert '"big_tipper' not in text and 'payment_type' not in text  # nothing of taxi


def test_a_canary_rollout_deploys_at_its_share_and_promote_or_abort_are_the_api_requests(
    tmp_path):
  """On Vertex the trial is the Endpoint's traffic split: the compiled Endpoint Pusher deploys
  at the canary's share; promote and abort are the exact EndpointService requests."""
  from pipeline import vertex_endpoint  # pylint: disable=g-import-not-at-top
  config = targets.load(CONFIG, ['vertex.endpoint.enabled=true', 'rollout.strategy=canary',
                                 'rollout.canary_percent=20'])
  job = vertex_runner.compile_spec(config, str(tmp_path / 'pipeline.json'))
  pusher = json.dumps(job['pipelineSpec']['root']['dag']['tasks'][definition.ENDPOINT_PUSHER])
  assert '\\"traffic_percentage\\": 20' in pusher, pusher[:2000]
  local_pusher = json.dumps(job['pipelineSpec']['root']['dag']['tasks'][definition.PUSHER])
  assert '\\"strategy\\": \\"canary\\"' in local_pusher
  endpoint = f'projects/{config.vertex.project}/locations/{config.vertex.region}/endpoints/42'
  promote = vertex_endpoint.carry_out(config.vertex, 'promote', '42', '7', '3', dry_run=True)
  assert promote == {'method': 'update_endpoint', 'request': {
      'endpoint': {'name': endpoint, 'trafficSplit': {'7': 100}}, 'updateMask': 'trafficSplit'}}
  abort = vertex_endpoint.carry_out(config.vertex, 'abort', '42', '7', '3', dry_run=True)
  assert abort == {'method': 'undeploy_model', 'request': {
      'endpoint': endpoint, 'deployedModelId': '7', 'trafficSplit': {'3': 100}}}
  with pytest.raises(ValueError, match='the candidate id is the number'):
    vertex_endpoint.request(config.vertex, 'abort', '42', 'my-model', '3')


def test_the_tuning_spec_holds_the_vertex_tuner_with_its_budget_and_parallel_trials(tmp_path):
  config = targets.load(CONFIG, ['tuning.max_trials=20', 'tuning.parallel_trials=4',
                                 'tuning.max_minutes=30'])
  job = vertex_runner.compile_spec(config, str(tmp_path / 'pipeline.json'), tune=True)
  spec = job['pipelineSpec']
  tasks = spec['root']['dag']['tasks']
  assert definition.TUNER in tasks and definition.TUNED_HYPERPARAMETERS not in tasks
  executor = spec['deploymentSpec']['executors'][f'{definition.TUNER}_executor']['container']
  assert 'tfx.extensions.google_cloud_ai_platform.tuner.executor.Executor' in executor['args']
  parameters = tasks[definition.TUNER]['inputs']['parameters']
  custom = json.loads(parameters['custom_config']['runtimeValue']['constantValue']['stringValue'])
  assert custom['tuning']['max_trials'] == 20 and custom['tuning']['max_minutes'] == 30
  assert set(custom['tuning']['space']) == set(config.pipeline.tuning.space)
  pools = custom['ai_platform_tuning_args']['job_spec']['worker_pool_specs']
  assert [p['replica_count'] for p in pools] == [1, 3]  # the chief and three more workers
  assert all(p['container_spec']['image_uri'] == config.vertex.image for p in pools)
  tune_args = json.loads(parameters['tune_args']['runtimeValue']['constantValue']['stringValue'])
  assert tune_args == {'num_parallel_trials': 4}
  # The Tuner reads the training split only: its eval_args name the training split too.
  eval_args = json.loads(parameters['eval_args']['runtimeValue']['constantValue']['stringValue'])
  assert eval_args == {'splits': ['train']}
  trainer = tasks[definition.TRAINER]['inputs']['artifacts']['hyperparameters']
  assert trainer['taskOutputArtifact']['producerTask'] == definition.TUNER


def test_without_tuning_the_vertex_trainer_takes_the_newest_recorded_hyperparameters(compiled):
  tasks = compiled['job']['pipelineSpec']['root']['dag']['tasks']
  assert definition.TUNER not in tasks
  trainer = tasks[definition.TRAINER]['inputs']['artifacts']['hyperparameters']
  assert trainer['taskOutputArtifact']['producerTask'] == definition.TUNED_HYPERPARAMETERS

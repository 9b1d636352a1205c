"""Continuous training: a short replay over small spans, and the feedback loop from serving.

The replay uses the `on-trigger` policy, so each span's fate shows which trigger fired:
the first span trains (nothing in production), a span like its predecessor is only
ingested, a drifted span retrains (its reason recorded in ML Metadata), a
schema-broken span halts with nothing pushed, and the next good span proceeds; a worse
candidate is not pushed. Skew and live metrics come from a real server's request log.
"""
import csv
import dataclasses
import json
import os
import random
import shutil
import time

import pytest
import requests
import tensorflow as tf

from ctpipe.continuous import demo_data, feedback, readiness, replay
from ctpipe.continuous.span_runs import HALTED, INGESTED, TRAINED, RetrainPolicy, SpanRunner
from ctpipe.continuous.watch import Watcher, WatchOptions
from ctpipe.home import Home
from ctpipe.metadata import connection, reader as metadata
from ctpipe.mlmd_inspect import runs, store
from ctpipe.model_server import versions
from ctpipe.model_server.local import LocalServer
from models import raw_examples
from pipeline import definition, local_runner, schema_tool
from pipeline.components.atomic_pusher import publishing
from pipeline.components.serving_check import check as serving_check
from tests.conftest import CURATED_SCHEMA, PROJECT, SAMPLE_SETTINGS, read_span, write_span

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

# Small spans need more passes than the shared sample's 2 epochs to clear AUC 0.80.
SETTINGS = dataclasses.replace(
    SAMPLE_SETTINGS(), edge_export=False,
    hparams=dataclasses.replace(SAMPLE_SETTINGS().hparams, epochs=12))
MODEL = SETTINGS.model_name
DEMO = PROJECT.dataset.demo


def _watcher(home, staging, ledger_dir, settings=SETTINGS,
             policy=RetrainPolicy.ON_TRIGGER) -> Watcher:
  def make_run(reason):
    return local_runner.LocalRun(home, staging, CURATED_SCHEMA, settings, reason=reason)
  return Watcher(home, staging, SpanRunner(home, make_run, policy), WatchOptions(policy=policy),
                 settings.pipeline_name, ledger_dir=ledger_dir)


@pytest.fixture(scope='module')
def replayed(tmp_path_factory):
  root = tmp_path_factory.mktemp('replay')
  source = str(root / 'source')
  header, rows = read_span(2)
  rows = list(rows)
  random.Random(3).shuffle(rows)
  write_span(source, 1, header, rows[:1000])
  write_span(source, 2, header, rows[1000:2000])
  write_span(source, 3, header, demo_data.drifted(header, rows[2000:3000], random.Random(4), DEMO))
  broken_header, broken_rows = demo_data.broken(header, rows[3000:3300], DEMO)
  write_span(source, 4, broken_header, broken_rows)
  write_span(source, 5, header, rows[3300:4300])
  home = Home(str(root / 'home'))
  staging = str(root / 'arrivals')
  os.makedirs(staging)
  watcher = _watcher(home, staging, str(root / 'ledger'))
  timeline = replay.replay(watcher, source, to_span=4)
  return {'root': root, 'source': source, 'home': home, 'staging': staging,
          'watcher': watcher, 'timeline': {row['span']: row for row in timeline}}


def _base(home):
  return os.path.join(home.serving_base, MODEL)


def test_replay_trains_on_the_first_and_the_drifted_span_only(replayed):
  timeline = replayed['timeline']
  assert sorted(timeline) == [1, 2, 3, 4]
  first, like_first, drifted = timeline[1], timeline[2], timeline[3]
  assert first['status'] == TRAINED and 'no model in production yet' in first['trigger']
  assert first['pushed_version'] == '1' and first['rows'] == 1000
  assert like_first['status'] == INGESTED, like_first  # no drift, no trigger: no training
  assert like_first['drift'] == []
  assert drifted['status'] == TRAINED
  assert drifted['trigger'].startswith('retrain on drift: span 3; drift: '), drifted['trigger']
  drifted_features = {d['feature'] for d in drifted['drift']}
  assert drifted_features & {'fare', 'trip_miles', 'payment_type'}, drifted_features
  # The reason is what ML Metadata holds for that run, and what `inspect runs` shows.
  triggers = [r.trigger for r in runs.list_runs(
      store.open_records(db=replayed['home'].metadata_path), limit=50)]
  assert drifted['trigger'] in triggers


def test_a_broken_span_halts_and_pushes_nothing(replayed):
  broken = replayed['timeline'][4]
  assert broken['status'] == HALTED
  assert broken['pushed_version'] is None
  assert any(a.startswith('fare: ') for a in broken['anomalies']), broken['anomalies']
  pushed_before = [row['pushed_version'] for row in replayed['timeline'].values()
                   if row['pushed_version']]
  assert publishing.versions(_base(replayed['home'])) == [int(v) for v in pushed_before]
  reader = metadata.MetadataReader.open_sqlite(replayed['home'].metadata_path,
                                               SETTINGS.pipeline_name)
  assert 4 not in reader.spans_of(definition.DATA_GATE)  # never in a training window


def test_the_next_good_span_proceeds_and_a_worse_candidate_is_not_pushed(replayed):
  # The same replay goes on with span 5, trained (every-span) by a crippled trainer:
  # a learning rate of zero leaves the network at its random initialisation.
  crippled = dataclasses.replace(SETTINGS, hparams=dataclasses.replace(
      SETTINGS.hparams, learning_rate=0.0))
  watcher = _watcher(replayed['home'], replayed['staging'], replayed['watcher'].ledger.path
                     .rsplit(os.sep, 1)[0], settings=crippled, policy=RetrainPolicy.EVERY_SPAN)
  base = _base(replayed['home'])
  served_before = versions.target_version(base)
  replay.replay(watcher, replayed['source'], from_span=5, to_span=5)
  row = watcher.ledger.last_outcome(5)
  assert row['status'] == TRAINED and row['trigger'].startswith('new data: span 5')
  assert row['blessed'] is False and row['pushed_version'] is None, row
  assert row['decision'].startswith('not blessed')
  assert versions.target_version(base) == served_before  # production unchanged
  reader = metadata.MetadataReader.open_sqlite(replayed['home'].metadata_path,
                                               SETTINGS.pipeline_name)
  assert 5 in reader.spans_of(definition.DATA_GATE)  # the good span passed the gate
  # Spans are never read twice: one ExampleGen output per span.
  ingested = [a.span for a in reader.node_outputs(definition.EXAMPLE_GEN, 'Examples')]
  assert sorted(ingested) == [1, 2, 3, 4, 5]


def test_the_timeline_is_written_as_markdown_and_json(replayed, tmp_path):
  rows = replay.timeline(replayed['watcher'])
  paths = replay.write_timeline(rows, str(tmp_path))
  with open(paths['json'], encoding='utf-8') as f:
    assert [r['span'] for r in json.load(f)][:4] == [1, 2, 3, 4]
  with open(paths['markdown'], encoding='utf-8') as f:
    text = f.read()
  assert '| 3 |' in text and 'retrain on drift' in text and 'halted' in text


def test_a_span_without_its_completion_marker_is_not_picked_up(replayed, tmp_path):
  staging = str(tmp_path / 'arrivals')
  header, rows = read_span(2)
  write_span(staging, 1, header, rows[:50])
  watcher = _watcher(replayed['home'], staging, str(tmp_path / 'ledger'))
  assert watcher.pending() == []  # no marker: still being written
  readiness.mark_ready(os.path.join(staging, 'span-1'))
  assert readiness.scan(staging).ready == [1]


# --- feedback from serving ---------------------------------------------------------------

def _label(row, header):
  fare, tips = row[header.index('fare')], row[header.index('tips')]
  return int(bool(fare) and bool(tips) and float(tips) > 0.2 * float(fare))


def _send(server, header, rows, prefix):
  """Served as clients would: columnar serving_raw inputs, each request naming its id."""
  specs = server.manager.serving().input_specs('serving_raw')
  tensor_specs = {s.name: tf.TensorSpec(s.shape, s.dtype) for s in specs}
  for start in range(0, len(rows), 50):
    examples = [raw_examples.to_tf_example(dict(zip(header, row)), tensor_specs)
                for row in rows[start:start + 50]]
    response = requests.post(
        f'{server.rest_url}/v1/models/{MODEL}:predict', timeout=60,
        headers={'X-Request-Id': f'{prefix}-{start}'},
        data=json.dumps({'signature_name': 'serving_raw',
                         'inputs': serving_check.raw_columns(specs, examples)}))
    assert response.status_code == 200, response.text
    assert response.headers['X-Request-Id'] == f'{prefix}-{start}'


@pytest.fixture(scope='module')
def feedback_home(pushed_home, tmp_path_factory):
  """The shared pushed home, and requests served by its version through a real server."""
  home, base, data, _ = pushed_home
  schema = schema_tool.load(CURATED_SCHEMA)
  header, rows = None, []
  for span in sorted(os.listdir(data)):
    with open(os.path.join(data, span, 'data.csv'), newline='') as f:
      reader = csv.reader(f)
      header = next(reader)
      rows.extend(reader)
  sample = random.Random(11).sample(rows, 400)
  shifted = demo_data.drifted(header, sample, random.Random(12), DEMO)
  logs = {'plain': str(tmp_path_factory.mktemp('plain')),
          'shifted': str(tmp_path_factory.mktemp('shifted'))}
  copy = str(tmp_path_factory.mktemp('served') / MODEL)
  shutil.copytree(base, copy)
  for kind, batch in (('plain', sample), ('shifted', shifted)):
    with LocalServer(MODEL, copy, poll_seconds=0.5, request_log_dir=logs[kind]) as server:
      server.manager.wait_for_version(versions.target_version(copy))
      _send(server, header, batch, kind)
  labels = {}
  for kind, flip in (('true', False), ('flipped', True)):
    path = str(tmp_path_factory.mktemp('labels') / f'{kind}.csv')
    with open(path, 'w', newline='') as f:
      writer = csv.writer(f)
      writer.writerow(['request_id', 'row', 'label'])
      for n, row in enumerate(sample):
        writer.writerow([f'plain-{n - n % 50}', n % 50, _label(row, header) ^ int(flip)])
    labels[kind] = path
  return {'home': home, 'schema': schema, 'logs': logs, 'labels': labels}


def _check(env, log, labels=None):
  return feedback.check(env['home'], SETTINGS.pipeline_name, MODEL, env['schema'],
                        labels_path=labels, request_dir=env['logs'][log])


def test_skew_is_found_in_shifted_requests_and_not_in_plain_ones(feedback_home):
  plain = _check(feedback_home, 'plain')
  assert plain.served_rows == 400 and plain.skew, plain.notes
  assert not [m for m in plain.skew if m.beyond], [m.sentence() for m in plain.skew]
  assert plain.triggers() == []
  shifted = _check(feedback_home, 'shifted')
  beyond = {m.feature for m in shifted.skew if m.beyond}
  assert beyond & {'fare', 'trip_miles', 'payment_type'}, [m.sentence() for m in shifted.skew]
  assert shifted.triggers()[0].startswith('skew: ')


def test_live_metrics_from_labels_and_degradation(feedback_home):
  honest = _check(feedback_home, 'plain', feedback_home['labels']['true'])
  assert honest.labelled_rows == 400
  assert honest.live['auc'] > 0.8 and not honest.degraded, honest.to_dict()
  flipped = _check(feedback_home, 'plain', feedback_home['labels']['flipped'])
  assert flipped.live['auc'] < 0.3
  assert flipped.triggers() and flipped.triggers()[-1].startswith('degradation: live auc')


def test_the_feedback_trigger_fires_once_per_finding(feedback_home, tmp_path):
  trigger = feedback.FeedbackTrigger(
      feedback_home['home'], SETTINGS.pipeline_name, MODEL, feedback_home['schema'],
      request_dir=feedback_home['logs']['shifted'], state_dir=str(tmp_path))
  first = trigger()
  assert first and first.startswith('skew: ')
  assert trigger() is None  # the same finding for the same version: acted on already
  assert any(name.startswith('check-') for name in os.listdir(tmp_path))


def test_labels_file_errors_are_one_line(tmp_path):
  path = tmp_path / 'labels.csv'
  path.write_text('id,label\nx,1\n')
  with pytest.raises(ValueError, match='needs columns request_id,label'):
    feedback.read_labels(str(path))
  path.write_text('request_id,label\nx,2\n')
  with pytest.raises(ValueError, match='line 2: label must be 0 or 1'):
    feedback.read_labels(str(path))


def test_cron_and_options_are_checked():
  from ctpipe.continuous import watch  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='invalid cron expression'):
    WatchOptions(cron='every day')
  due = watch.next_due('0 3 * * *', 0.0)  # 1970-01-01 00:00 UTC
  assert due == 3 * 3600


# --- automatic rollback of a degraded version ---------------------------------------------

def test_a_degraded_stable_version_is_rolled_back_and_people_are_told(replayed, tmp_path):
  """The replay pushed two versions; requests served by the newest come back with labels
  that contradict its answers: the watcher's feedback check rolls it back to the version
  before (recorded, the server switched), tells the JSON webhook and the mailbox which data
  set, version and why, and still asks for a retraining run."""
  from ctpipe import notify  # pylint: disable=g-import-not-at-top
  from ctpipe.rollout.degradation_guard import DegradationGuard  # pylint: disable=g-import-not-at-top
  from tests.receivers import JsonReceiver, SmtpReceiver  # pylint: disable=g-import-not-at-top
  source = replayed['home']
  home = Home(str(tmp_path / 'home'))  # a copy: the replay's own home stays as it was
  os.makedirs(home.root)
  shutil.copy(source.metadata_path, home.metadata_path)
  shutil.copytree(source.serving_base, home.serving_base)
  base = home.model_base(MODEL)
  # A second version, pushed by a real run of the newest span in the copy: a short one
  # (two spans, three epochs) with its thresholds opened, since what is tested is what
  # happens once it serves.
  loose = dataclasses.replace(
      SETTINGS, window_spans=2, hparams=dataclasses.replace(SETTINGS.hparams, epochs=3),
      thresholds=dataclasses.replace(
          SETTINGS.thresholds, min_auc=0.5, min_accuracy_lift=-1.0, max_auc_drop=1.0,
          max_accuracy_drop=1.0, max_slice_auc_drop=1.0, max_slice_accuracy_drop=1.0))
  result = local_runner.LocalRun(home, replayed['source'], CURATED_SCHEMA, loose,
                                 reason='test: a second version').run()
  assert result.status == 'completed'
  assert versions.list_versions(base) == [1, 2]
  header, rows = read_span(2)
  sample = random.Random(21).sample(list(rows), 300)
  with LocalServer(MODEL, base, poll_seconds=0.2, request_log_dir=home.request_log_dir) as server:
    server.manager.wait_for_version(2)
    _send(server, header, sample, 'served')
    labels = str(tmp_path / 'labels.csv')
    with open(labels, 'w', newline='') as f:
      writer = csv.writer(f)
      writer.writerow(['request_id', 'row', 'label'])
      for n, row in enumerate(sample):  # every label the opposite of the truth
        writer.writerow([f'served-{n - n % 50}', n % 50, 1 - _label(row, header)])
    trigger = feedback.FeedbackTrigger(home, SETTINGS.pipeline_name, MODEL,
                                       schema_tool.load(CURATED_SCHEMA), labels,
                                       state_dir=str(tmp_path / 'state'))
    with JsonReceiver() as hook, SmtpReceiver() as mail:
      guard = DegradationGuard(trigger, home, dataclasses.replace(PROJECT, pipeline=SETTINGS),
                               notify.Notifier([hook.url, mail.url]))
      reason = guard()
    assert reason and reason.startswith('degradation: live auc')
    assert reason.endswith('rolled back v2 → v1'), reason
    deadline = time.time() + 30
    while server.manager.serving().version != 1:
      assert time.time() < deadline, server.manager.statuses()
      time.sleep(0.1)
  assert versions.read_policy(base)['rejected'] == [2]
  store = connection.connect(home.metadata_config())
  [rollback] = store.get_executions_by_type('ctpipe.Rollback')
  assert rollback.properties['action'].string_value == 'reject'
  assert (rollback.properties['from_version'].int_value,
          rollback.properties['to_version'].int_value) == (2, 1)
  titles = [m['title'] for m in hook.received]
  assert titles == ['ctpipe taxi: v2 degraded', 'ctpipe taxi: rolled back v2 → v1'], titles
  rolled_back = hook.received[1]['message']
  assert 'data set: taxi' in rolled_back and 'version: 2' in rolled_back
  assert 'live auc' in rolled_back
  assert len(mail.messages) == 2 and 'rolled back automatically' in mail.bodies()[1]
  assert guard() is None  # the same finding for the same version does not fire again

"""Spans whose files are wrong: a header that ingests wrongly stops at the data gate, a span
that cannot be read is rejected and recorded, and neither blocks the spans after it.
"""
import os
import random
import subprocess
import sys

import pytest

from ctpipe.continuous import readiness
from ctpipe.continuous.span_runs import HALTED, TRAINED, RetrainPolicy, SpanRunner
from ctpipe.continuous.watch import Watcher, WatchOptions
from ctpipe.home import Home
from ctpipe.metadata import reader as metadata
from pipeline import definition, local_runner, spans
from pipeline.in_process import csv_ingest
from pipeline.components.data_gate import header_anomalies
from tests.conftest import CURATED_SCHEMA, REPO, SAMPLE_SETTINGS, read_span, write_span

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

SETTINGS = SAMPLE_SETTINGS()


def _sample(number: int, size: int, seed: int = 3):
  header, rows = read_span(number)
  return header, random.Random(seed).sample(rows, size)


def _duplicated_fare(root: str, number: int) -> None:
  """Span `number` with an extra column also named `fare`, holding the tips."""
  header, rows = _sample(3, 400)
  tips = header.index('tips')
  write_span(root, number, header + ['fare'], [row + [row[tips]] for row in rows])


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'ctpipe.cli', *args], capture_output=True,
                        text=True, timeout=600, cwd=REPO, check=False)


def test_header_problems_name_the_column():
  problems = dict(spans.header_problems(['fare', 'tips', 'fare', '', ' company']))
  assert 'appears 2 times (columns 1, 3)' in problems['fare']
  assert problems['column 4'] == 'a column without a name'
  assert 'spaces around' in problems[' company']
  assert spans.header_problems(['fare', 'tips']) == []


def test_a_duplicated_header_column_stops_the_run_at_the_data_gate(tmp_path):
  data, home = str(tmp_path / 'data'), str(tmp_path / 'home')
  write_span(data, 1, *_sample(2, 400))
  _duplicated_fare(data, 2)
  proc = _cli('run', '--home', home, '--data-root', data, '--window', '2', '--epochs', '1')
  assert proc.returncode == 3, proc.stdout + proc.stderr
  assert "feature 'fare'" in proc.stdout and 'appears 2 times' in proc.stdout, proc.stdout
  assert not os.path.exists(os.path.join(home, 'serving', SETTINGS.model_name))
  reader = Home(home).reader(SETTINGS.pipeline_name)
  assert reader.spans_of(definition.EXAMPLE_GEN) == [1, 2]
  assert reader.spans_of(definition.DATA_GATE) == [1]  # span 2 never enters a window


def test_the_header_check_holds_when_ingestion_runs_on_beam(tmp_path, monkeypatch):
  data = str(tmp_path / 'data')
  _duplicated_fare(data, 1)
  monkeypatch.setattr(csv_ingest, 'IN_PROCESS_MAX_BYTES', 0)  # TFX's own Beam executor
  home = Home(str(tmp_path / 'home'))
  result = local_runner.LocalRun(home, data, CURATED_SCHEMA, SETTINGS).run()
  assert result.status == 'data_gate'
  assert {a.feature for a in result.gate_error.anomalies} >= {'fare'}
  assert header_anomalies(data, 1)[0].feature == 'fare'


def _header_only(root: str, number: int) -> None:
  header, _ = read_span(2)
  write_span(root, number, header, [])


def _overlong_field(root: str, number: int) -> None:
  header, rows = _sample(2, 50)
  rows[10][header.index('company')] = 'x' * (200 * 1024)  # over the CSV reader's field limit
  write_span(root, number, header, rows)


@pytest.mark.parametrize('breakage,reason', [(_header_only, 'header but no rows'),
                                             (_overlong_field, 'field larger than field limit')])
def test_unreadable_spans_are_found_before_ingestion(tmp_path, breakage, reason):
  breakage(str(tmp_path), 1)
  [span] = spans.list_spans(str(tmp_path))  # listed: an unreadable span stops nothing
  assert reason in spans.unreadable_reason(span)
  write_span(str(tmp_path), 2, ['a', 'b'], [['1', '2'], ['3']])
  assert 'line 3: 1 columns where the header has 2' in spans.unreadable_reason(
      spans.list_spans(str(tmp_path))[1])


def test_an_unreadable_span_is_rejected_recorded_and_the_next_span_trains(tmp_path):
  data = str(tmp_path / 'data')
  write_span(data, 1, *_sample(2, 500))
  _header_only(data, 2)
  write_span(data, 3, *_sample(3, 500))
  home = Home(str(tmp_path / 'home'))
  settings = SETTINGS.replace(window_spans=3, epochs=1)
  result = local_runner.LocalRun(home, data, CURATED_SCHEMA, settings).run()
  assert result.status == 'completed', result
  reader = home.reader(settings.pipeline_name)
  [rejection] = reader.span_rejections().values()
  assert rejection.span == 2 and 'header but no rows' in rejection.reason
  assert reader.spans_of(definition.DATA_GATE) == [1, 3]
  merge = metadata.executions_by_node(reader.executions_after(result.first_execution_id))
  window = reader.execution_inputs(merge[definition.MERGE_WINDOW].id)
  trained = sorted(a.span for artifacts in window.values() for a in artifacts
                   if a.span is not None)
  # One computation: what the run reports (printed, last_run.json) is what trained.
  assert trained == [1, 3] and result.plan.window == trained
  runs = _cli('inspect', 'runs', '--home', home.root)
  assert 'span 2 cannot be read' in runs.stdout, runs.stdout
  # Unchanged files stay rejected without a new record; newest-span rejection exits 3.
  _header_only(data, 4)
  proc = _cli('run', '--home', home.root, '--data-root', data, '--window', '3')
  assert proc.returncode == 3 and 'span 4' in proc.stdout and 'cannot be read' in proc.stdout, \
      proc.stdout + proc.stderr
  assert sorted(home.reader(settings.pipeline_name).span_rejections()) == [2, 4]


def test_the_watcher_records_an_unreadable_span_and_goes_on(tmp_path):
  data = str(tmp_path / 'data')
  write_span(data, 1, *_sample(2, 500))
  _overlong_field(data, 2)
  write_span(data, 3, *_sample(3, 500))
  for number in (1, 2, 3):
    readiness.mark_ready(os.path.join(data, f'span-{number}'))
  home = Home(str(tmp_path / 'home'))
  settings = SETTINGS.replace(epochs=1)
  runner = SpanRunner(home, lambda reason: local_runner.LocalRun(
      home, data, CURATED_SCHEMA, settings, reason=reason), RetrainPolicy.ON_TRIGGER)
  watcher = Watcher(home, data, runner, WatchOptions(policy=RetrainPolicy.ON_TRIGGER),
                    settings.pipeline_name)
  outcomes = {o.span: o for o in watcher.poll()}
  assert outcomes[1].status == TRAINED
  assert outcomes[2].status == HALTED and 'cannot be read' in outcomes[2].decision()
  assert outcomes[3].status != HALTED, outcomes[3].decision()  # the next span goes on
  assert sorted(home.reader(settings.pipeline_name).span_rejections()) == [2]
  assert watcher.poll() == []  # handled once

"""`ctpipe report`: one self-contained HTML file, checked in a real headless browser."""
import pytest
import json
import os
import re
import shutil
import subprocess

from click.testing import CliRunner

from ctpipe.cli import main
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`

# Screenshots land here for whoever reads the test run (git-ignored).
OUTPUT_DIR = os.path.join(REPO, 'test-output')


def _chromium() -> str:
  found = shutil.which('chromium') or shutil.which('chromium-browser')
  assert found, 'Debian chromium is needed (make test installs it: apt-get install chromium)'
  return found


def _browser(*args, timeout=120) -> subprocess.CompletedProcess:
  return subprocess.run([_chromium(), '--headless', '--no-sandbox', '--disable-gpu',
                         '--hide-scrollbars', '--enable-logging=stderr', '--v=0', *args],
                        capture_output=True, text=True, timeout=timeout)


def test_report_opens_in_a_browser_with_its_charts_and_no_errors(pushed_home, tmp_path):
  home = pushed_home[0].root
  runs = CliRunner().invoke(main, ['inspect', 'runs', '--home', home, '--limit', '100', '--json'])
  [run] = [r['run'] for r in json.loads(runs.output) if r['pushed_version'] == 1]
  path = str(tmp_path / 'report.html')
  result = CliRunner().invoke(main, ['report', run, '--home', home, '--output', path])
  assert result.exit_code == 0, result.output + repr(result.exception)
  with open(path, encoding='utf-8') as f:
    html = f.read()
  # Self-contained: nothing fetched from anywhere, no scripts.
  assert not re.search(r'(src|href)\s*=\s*["\'](https?:)?//', html)
  assert '<script' not in html
  for section in ('Data statistics', 'Anomalies', 'Drift',
                  'Evaluation', 'Champion versus challenger', 'Lineage'):
    assert section in html, section

  dom = _browser('--dump-dom', f'file://{path}')
  assert dom.returncode == 0, dom.stderr[-2000:]
  for title in ('<title>ROC</title>', '<title>Calibration</title>',
                '<title>Accuracy by slice</title>', '<title>Lineage of this run'):
    assert title in dom.stdout, title
  assert dom.stdout.count('class="series"') >= 2  # ROC and calibration lines drawn
  assert dom.stdout.count('class="node"') >= 10  # the run's components in the graph
  console = [line for line in dom.stderr.splitlines() if 'CONSOLE' in line
             or 'Failed to load resource' in line]
  assert not console, console

  os.makedirs(OUTPUT_DIR, exist_ok=True)
  screenshot = os.path.join(OUTPUT_DIR, 'report.png')
  if os.path.exists(screenshot):
    os.remove(screenshot)
  shot = _browser('--window-size=1200,4000', f'--screenshot={screenshot}', f'file://{path}')
  assert shot.returncode == 0, shot.stderr[-2000:]
  assert os.path.getsize(screenshot) > 50_000  # a rendered page, not a blank one


def _measured(path: str, tmp_path, width: int) -> dict:
  """The report laid out by Chromium at `width` CSS pixels, measured by a script added to a
  copy (the report itself has none): each lineage box's right edge and the page's width."""
  with open(path, encoding='utf-8') as f:
    html = f.read()
  probe = ('<script>window.onload=()=>{const out={page:document.documentElement.clientWidth,'
           'nodes:[...document.querySelectorAll("g.node rect")].map(r=>{const b='
           'r.getBoundingClientRect();return [b.left,b.right]}),'
           'histograms:document.querySelectorAll("svg title").length,'
           'distributions:[...document.querySelectorAll("svg title")].filter(t=>t.textContent'
           '.startsWith("distribution of")).length};'
           'document.body.setAttribute("data-measured",JSON.stringify(out));};</script>')
  copy = tmp_path / f'measured-{width}.html'
  copy.write_text(html.replace('</body>', probe + '</body>'), encoding='utf-8')
  dom = _browser(f'--window-size={width},2000', '--virtual-time-budget=5000', '--dump-dom',
                 f'file://{copy}')
  assert dom.returncode == 0, dom.stderr[-2000:]
  found = re.search(r'data-measured="([^"]*)"', dom.stdout)
  assert found, dom.stdout[-2000:]
  return json.loads(found.group(1).replace('&quot;', '"'))


def test_report_lineage_fits_the_page_and_every_feature_has_a_distribution(pushed_home, tmp_path):
  home = pushed_home[0].root
  runs = CliRunner().invoke(main, ['inspect', 'runs', '--home', home, '--limit', '100', '--json'])
  [run] = [r['run'] for r in json.loads(runs.output) if r['pushed_version'] == 1]
  path = str(tmp_path / 'report.html')
  result = CliRunner().invoke(main, ['report', run, '--home', home, '--output', path])
  assert result.exit_code == 0, result.output
  for width in (1200, 900):
    measured = _measured(path, tmp_path, width)
    assert len(measured['nodes']) >= 10
    outside = [box for box in measured['nodes'] if box[0] < 0 or box[1] > measured['page']]
    assert not outside, (width, measured['page'], outside)  # every box inside the viewport
  with open(path, encoding='utf-8') as f:
    html = f.read()
  features = html.count('<title>distribution of ')
  assert features >= 15 and measured['distributions'] == features  # one per feature row
  assert 'Training window (the spans this run trained on)' in html


def test_report_of_tfx_own_example_store(tmp_path):
  store = os.path.join(REPO, 'tests', 'data', 'tfx_taxi_example.mlmd.sqlite')
  path = str(tmp_path / 'peer.html')
  result = CliRunner().invoke(main, ['report', '--db', store, '--output', path])
  assert result.exit_code == 0, result.output + repr(result.exception)
  with open(path, encoding='utf-8') as f:
    html = f.read()
  # The artifacts' files are gone from this store's scratch folder: the run, its
  # components and lineage still render from metadata alone.
  assert 'peer_taxi' in html and 'Trainer' in html and '<svg' in html


def test_drift_names_the_window_features_a_span_lacks_instead_of_hiding_them():
  from ctpipe.mlmd_inspect import report  # pylint: disable=g-import-not-at-top
  window = {'fare': object(), 'trip_miles': object(), 'company': object()}
  span = {'trip_miles': object(), 'company': object()}
  line = report._missing_features(5, span, window)  # pylint: disable=protected-access
  assert 'Features of the training window missing from span 5: fare.' in line
  assert report._missing_features(5, window, window) == ''  # pylint: disable=protected-access
  assert report._missing_features(5, {}, window) == ''  # no statistics: nothing to compare  # pylint: disable=protected-access


def test_experiments_reads_a_runs_parameters_and_metrics_overall_and_per_slice(pushed_home):
  from pipeline import run_summary  # pylint: disable=g-import-not-at-top
  home, _, _, result = pushed_home
  listed = CliRunner().invoke(main, ['experiments', '--home', home.root, '--json'])
  assert listed.exit_code == 0, listed.output
  [run] = [r for r in json.loads(listed.output)['runs'] if r['pushed_version'] == 1]
  summary = run_summary.summarize(home.reader('ctpipe-taxi'), result.first_execution_id)
  assert run['metrics']['auc'] == summary.candidate['auc']
  assert run['parameters']['hyperparameters'] == 'configured'  # taxi's: tuned by hand
  assert run['parameters']['hp.hidden_units'] == [128, 64] and run['parameters']['window'] == '1,2'
  assert any(name.startswith('payment_type=') for name in run['slices'])
  assert any(name.startswith('trip_start_hour=') for name in run['slices'])
  assert all('example_count' in metrics for metrics in run['slices'].values())

"""The local runner on a MySQL-compatible metadata store: a real MariaDB on loopback.

`ctpipe run` reads the connection from the project config (`local.mysql`), the password
from a file; the lineage is read back with `ctpipe inspect` over MySQL, and the password
is nowhere in the store or the home.
"""
import pytest
import json
import os
import subprocess
import sys

from click.testing import CliRunner

from ctpipe.cli import main
from tests.conftest import REPO, sample_spans

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`



def test_ctpipe_run_on_mariadb_and_its_lineage_read_back(mariadb_server, tmp_path):
  server = mariadb_server
  data = sample_spans(str(tmp_path / 'data'), [(2, 1000)])
  password_file = tmp_path / 'password'
  password_file.write_text(server.password + '\n')
  # The project's config, the store named by overrides, as the README says.
  # A 1,000-row sample: its probabilities are too low for the calibration bar (conftest).
  overrides = {'pipeline.window_spans': 1, 'pipeline.epochs': 12, 'pipeline.min_auc': 0.8,
               'pipeline.thresholds.max_calibration_error': 1.0,
               'pipeline.edge_export': 'false', 'local.mysql.host': '127.0.0.1',
               'local.mysql.port': server.port, 'local.mysql.database': server.database,
               'local.mysql.user': server.user, 'local.mysql.password_file': str(password_file)}
  home = tmp_path / 'home'
  proc = subprocess.run(
      [sys.executable, '-m', 'ctpipe.cli', 'run', '--home', str(home), '--data-root', data,
       *[arg for key, value in overrides.items() for arg in ('--set', f'{key}={value}')]],
      cwd=REPO, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert 'Pushed version 1' in proc.stdout, proc.stdout
  assert not (home / 'metadata.db').exists()  # the store is MariaDB, not SQLite

  store_args = ['--mysql-host', '127.0.0.1', '--mysql-port', str(server.port),
                '--mysql-database', server.database, '--mysql-user', server.user,
                '--mysql-password-file', str(password_file)]
  result = CliRunner().invoke(main, ['inspect', 'runs', '--json', *store_args])
  assert result.exit_code == 0, result.output
  [run] = json.loads(result.output)
  assert run['trigger'] == 'manual' and run['status'] == 'complete' and run['pushed_version']
  result = CliRunner().invoke(main, ['inspect', 'lineage', 'v1', '--json', *store_args])
  assert result.exit_code == 0, result.output
  nodes = [e['node'] for e in json.loads(result.output)['executions']]
  assert nodes[0] == 'CsvExampleGen' and 'Trainer' in nodes and 'Evaluator' in nodes

  # The password is read from its file for each connection and stored nowhere.
  assert server.password not in server.dump()
  for folder, _, files in os.walk(home):
    for name in files:
      with open(os.path.join(folder, name), 'rb') as f:
        assert server.password.encode() not in f.read(), os.path.join(folder, name)


def test_log_records_never_carry_a_password():
  import logging  # pylint: disable=g-import-not-at-top
  from ctpipe.console_logs import RedactPasswords  # pylint: disable=g-import-not-at-top
  config = 'mysql {\n  host: "db"\n  password: "s3cr\\"et"\n  user: "u"\n}'
  record = logging.LogRecord('absl', logging.INFO, '', 0, 'Using connection config:\n %s',
                             (config,), None)
  assert RedactPasswords().filter(record)
  assert 's3cr' not in record.getMessage() and 'password: "<redacted>"' in record.getMessage()
  assert 'host: "db"' in record.getMessage()

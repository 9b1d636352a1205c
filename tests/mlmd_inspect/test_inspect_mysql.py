"""`ctpipe inspect` on a MySQL-compatible store: a real MariaDB on loopback."""
import pytest
import json
import socket

from click.testing import CliRunner
from ctpipe.metadata import connection
from ctpipe.metadata import store_copy as metadata_copy
from ctpipe.cli import main
from tests.conftest import TFX_EXAMPLE_STORE

pytestmark = pytest.mark.slow  # real pipelines, servers or browsers: `make test`, not `make test-fast`



def test_inspect_reads_a_mysql_store(mariadb_server, tmp_path):
  server = mariadb_server
  settings = connection.MySQLSettings('127.0.0.1', server.database, server.user, server.port,
                                      server.password)
  target = connection.connect(connection.mysql_config(settings))
  source = connection.connect(connection.sqlite_config(TFX_EXAMPLE_STORE))
  counts = metadata_copy.copy_store(source, target)
  assert counts.executions == len(source.get_executions()) > 5
  password_file = tmp_path / 'password'
  password_file.write_text(server.password + '\n')
  store_args = ['--mysql-host', '127.0.0.1', '--mysql-port', str(server.port),
                '--mysql-database', server.database, '--mysql-user', server.user,
                '--mysql-password-file', str(password_file)]

  def run(*args, code=0):
    result = CliRunner().invoke(main, ['inspect', *args, *store_args])
    assert result.exit_code == code, result.output + repr(result.exception)
    return result.output

  [row] = json.loads(run('runs', '--json'))
  assert row['pipeline'] == 'peer_taxi' and row['status'] == 'complete' and row['blessed']
  lineage = json.loads(run('lineage', f"v{row['pushed_version']}", '--json'))
  assert [e['node'] for e in lineage['executions']][:1] == ['CsvExampleGen']
  assert 'Trainer' in [e['node'] for e in lineage['executions']]
  password_file.write_text('wrong\n')
  output = run('runs', code=1)
  assert output.startswith('error: cannot open the metadata store at mysql://') and (
      output.count('\n') == 1)
  assert 'refused user' in output and 'wrong password' in output, output
  with socket.socket() as unused:  # a port nothing listens on: a stopped server
    unused.bind(('127.0.0.1', 0))
    store_args[3] = str(unused.getsockname()[1])
    down = run('runs', code=1)
  assert 'nothing listens on' in down and down.count('\n') == 1, down

"""A real MariaDB server (Debian's mariadb-server) on loopback, in a scratch folder, for tests."""
import os
import shutil
import socket
import subprocess
import time
from typing import Optional


def binaries() -> Optional[str]:
  """Why MariaDB cannot run here, or None when it can."""
  for name in ('mariadbd', 'mariadb-install-db', 'mariadb'):
    if not (shutil.which(name) or os.path.exists(f'/usr/sbin/{name}')):
      return f'{name} not found: MariaDB is not installed (Debian package mariadb-server)'
  return None


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


class MariaDB:
  """Starts on enter with a database and a password user; stops and deletes on exit."""

  def __init__(self, root: str, database: str = 'mlmd', user: str = 'mlmd',
               password: str = 'test-only-secret'):
    self.root, self.database, self.user, self.password = root, database, user, password
    self.port = _free_port()
    self.socket = os.path.join(root, 'mysqld.sock')
    self._process: Optional[subprocess.Popen] = None

  def _client(self, sql: str) -> None:
    subprocess.run(['mariadb', '--no-defaults', '-S', self.socket, '-u', 'root', '-e', sql],
                   check=True, capture_output=True, text=True, timeout=60)

  def dump(self) -> str:
    """Everything the database holds, as SQL text (mariadb-dump)."""
    return subprocess.run(['mariadb-dump', '--no-defaults', '-S', self.socket, '-u', 'root',
                           self.database], check=True, capture_output=True, text=True,
                          timeout=120).stdout

  def __enter__(self) -> 'MariaDB':
    data = os.path.join(self.root, 'data')
    subprocess.run(['mariadb-install-db', '--no-defaults', f'--datadir={data}',
                    '--auth-root-authentication-method=normal', '--skip-test-db'],
                   check=True, capture_output=True, text=True, timeout=300)
    mariadbd = shutil.which('mariadbd') or '/usr/sbin/mariadbd'
    log = open(os.path.join(self.root, 'server.log'), 'w')  # pylint: disable=consider-using-with
    self._process = subprocess.Popen(
        [mariadbd, '--no-defaults', f'--datadir={data}', f'--socket={self.socket}',
         f'--port={self.port}', '--bind-address=127.0.0.1', '--skip-log-bin',
         f'--pid-file={os.path.join(self.root, "mysqld.pid")}', '--user=root'],
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while True:
      try:
        self._client('SELECT 1')
        break
      except subprocess.CalledProcessError:
        if time.time() > deadline or self._process.poll() is not None:
          raise RuntimeError('MariaDB did not start; see ' + os.path.join(self.root, 'server.log'))
        time.sleep(0.3)
    self._client(f"CREATE DATABASE {self.database}; "
                 f"CREATE USER '{self.user}'@'%' IDENTIFIED BY '{self.password}'; "
                 f"GRANT ALL ON {self.database}.* TO '{self.user}'@'%';")
    return self

  def __exit__(self, *exc) -> None:
    if self._process is not None:
      self._process.terminate()
      try:
        self._process.wait(30)
      except subprocess.TimeoutExpired:
        self._process.kill()

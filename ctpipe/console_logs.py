"""Keeps TensorFlow, Beam and absl chatter in a log file so the terminal shows only progress.

C++ logging and Python warnings write straight to file descriptor 2, so the whole
descriptor is redirected for the duration of a run, and Python's root logger (which
absl uses) writes to the same file. What the command itself says on stderr (its errors)
still reaches the person: `TerminalStderr` writes to the terminal's stderr as it was
before the redirect.
"""
import contextlib
import io
import logging
import os
import re
import sys
import time
from typing import Iterator, List

# The terminal's stderr while fd 2 is redirected (innermost redirect last).
_terminal: List[io.TextIOBase] = []


class TerminalStderr(io.TextIOBase):
  """stderr as the person at the terminal sees it, even while fd 2 goes to a log file."""

  @staticmethod
  def _target():
    return _terminal[-1] if _terminal else sys.stderr

  def write(self, text: str) -> int:
    target = self._target()
    written = target.write(text)
    target.flush()
    return written

  def flush(self) -> None:
    self._target().flush()

  def isatty(self) -> bool:
    return self._target().isatty()


@contextlib.contextmanager
def _keeping_terminal(saved_fd: int) -> Iterator[None]:
  """While fd 2 is elsewhere: TerminalStderr writes to a copy of `saved_fd`."""
  stream = os.fdopen(os.dup(saved_fd), 'w', encoding='utf-8', errors='replace')
  _terminal.append(stream)
  try:
    yield
  finally:
    _terminal.remove(stream)
    stream.close()

# TFX logs the pipeline's metadata connection config, MySQL password included.
_PASSWORD = re.compile(r'(password\s*[:=]\s*)"(?:[^"\\]|\\.)*"')


class RedactPasswords(logging.Filter):
  """Replaces every `password: "..."` in a log record with `password: "<redacted>"`."""

  def filter(self, record: logging.LogRecord) -> bool:
    message = record.getMessage()
    if 'password' in message:
      record.msg, record.args = _PASSWORD.sub(r'\1"<redacted>"', message), ()
    return True


@contextlib.contextmanager
def to_file(log_dir: str, enabled: bool = True) -> Iterator[str]:
  """Redirects stderr and Python logging to `<log_dir>/run-<time>.log`; yields its path."""
  os.makedirs(log_dir, exist_ok=True)
  path = os.path.join(log_dir, time.strftime('run-%Y%m%d-%H%M%S.log'))
  handler = logging.FileHandler(path, encoding='utf-8')
  handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
  redact = RedactPasswords()
  handler.addFilter(redact)
  root = logging.getLogger()
  for existing in root.handlers:
    existing.addFilter(redact)
  # absl's own handler would write every record to fd 2 again, i.e. twice into the file.
  others = [h for h in root.handlers if type(h).__name__ == 'ABSLHandler']
  for other in others:
    root.removeHandler(other)
  root.addHandler(handler)
  if root.level > logging.INFO or root.level == logging.NOTSET:
    root.setLevel(logging.INFO)
  if not enabled:
    try:
      yield path
    finally:
      root.removeHandler(handler)
      handler.close()
      for other in others:
        root.addHandler(other)
    return
  sys.stderr.flush()
  saved = os.dup(2)
  with open(path, 'ab', buffering=0) as log, _keeping_terminal(saved):
    os.dup2(log.fileno(), 2)
    try:
      yield path
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      root.removeHandler(handler)
      handler.close()
      for other in others:
        root.addHandler(other)


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
  """Silences fd 2 (TensorFlow, TFDV and Beam chatter) for a short command."""
  sys.stderr.flush()
  saved = os.dup(2)
  null = os.open(os.devnull, os.O_WRONLY)
  with _keeping_terminal(saved):
    os.dup2(null, 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      os.close(null)

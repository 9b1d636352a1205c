"""Keeps TensorFlow, Beam and absl chatter in a log file so the terminal shows only progress.

C++ logging and Python warnings write straight to file descriptor 2, so the whole
descriptor is redirected for the duration of a run, and Python's root logger (which
absl uses) writes to the same file.
"""
import contextlib
import logging
import os
import re
import sys
import time
from typing import Iterator

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
  with open(path, 'ab', buffering=0) as log:
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
  os.dup2(null, 2)
  try:
    yield
  finally:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    os.close(null)

"""Notifications: what happened, to which data set and version, and where to look.

Delivered through apprise (Slack, Teams, e-mail, generic JSON webhooks and many more, each
named by a URL: `json://host:port/path`, `mailto://...`, `slack://...`). The channels are
the data set's `notifications` section; URLs that hold tokens belong in `urls_file` (one
per line), which is read when a message is sent and never recorded anywhere else.

Every message is also appended to `<home>/notifications.jsonl` with whether it was
delivered. A message that cannot be delivered is logged there and on the log, and never
fails the run that sent it.
"""
import dataclasses
import json
import logging
import os
import time
from typing import Dict, List, Optional, Sequence

# Every event a notification can be about, and what it means.
EVENTS = {
    'data_gate': 'a span stopped at the data gate (broken data): nothing trained',
    'drift': 'a new span drifted from the training window beyond its thresholds',
    'skew': 'served requests are skewed from the training data beyond their thresholds',
    'degradation': 'live metrics of the served version fell beyond their thresholds',
    'not_blessed': 'a candidate was not blessed: nothing pushed',
    'pushed': 'a blessed version was pushed',
    'canary_started': 'a pushed version went on trial (canary or shadow)',
    'promoted': 'a candidate on trial was promoted to stable',
    'aborted': 'a candidate on trial was aborted',
    'rolled_back': 'the served version was rolled back',
    'run_failed': 'a pipeline run failed',
}
LOG_FILE = 'notifications.jsonl'


def check_events(events: Sequence[str]) -> None:
  unknown = sorted(set(events) - set(EVENTS))
  if unknown:
    raise ValueError(f'unknown notification events {unknown}; known: {", ".join(EVENTS)}')


def check_url(url: str) -> None:
  """Raises ValueError when apprise cannot read `url` (a typo is found at load time)."""
  import apprise  # pylint: disable=g-import-not-at-top
  if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
    raise ValueError(f'apprise cannot read the notification URL {_redacted(url)!r}; '
                     'see https://github.com/caronc/apprise/wiki for each service\'s form')


def _redacted(url: str) -> str:
  """A URL without what may be a secret (its user info, path and query)."""
  scheme, _, rest = url.partition('://')
  host = rest.split('@')[-1].split('/')[0].split('?')[0]
  return f'{scheme}://{host}/…' if rest else url


@dataclasses.dataclass(frozen=True)
class Message:
  event: str
  dataset: str
  title: str
  body: str
  version: Optional[int] = None
  where: str = ''   # the run, the report or the command to look with

  def text(self) -> str:
    lines = [self.body, f'data set: {self.dataset}']
    if self.version is not None:
      lines.append(f'version: {self.version}')
    if self.where:
      lines.append(f'look: {self.where}')
    return '\n'.join(lines)


class Notifier:
  """Sends messages to configured channels; records each one; never raises."""

  def __init__(self, urls: Sequence[str] = (), events: Sequence[str] = (),
               log_dir: Optional[str] = None, urls_file: str = ''):
    check_events(events)
    self.urls = tuple(urls)
    self.urls_file = urls_file
    self.events = frozenset(events or EVENTS)
    self.log_path = os.path.join(log_dir, LOG_FILE) if log_dir else None

  @classmethod
  def of(cls, settings, log_dir: Optional[str]) -> 'Notifier':
    """From the config's NotificationSettings."""
    return cls(settings.urls, settings.events, log_dir, settings.urls_file)

  @property
  def configured(self) -> bool:
    return bool(self.urls or self.urls_file)

  def _all_urls(self) -> List[str]:
    urls = list(self.urls)
    if self.urls_file:
      with open(os.path.expanduser(self.urls_file), encoding='utf-8') as f:
        urls += [line.strip() for line in f if line.strip() and not line.startswith('#')]
    return urls

  def send(self, message: Message) -> bool:
    """Delivers `message` to every channel when its event is wanted; True if all took it."""
    if message.event not in EVENTS:
      raise ValueError(f'unknown notification event {message.event!r}')
    if not self.configured or message.event not in self.events:
      return True
    delivered, error = False, ''
    try:
      import apprise  # pylint: disable=g-import-not-at-top
      channels = apprise.Apprise()
      for url in self._all_urls():
        if not channels.add(url):
          raise ValueError(f'unreadable notification URL {_redacted(url)!r}')
      delivered = bool(channels.notify(title=message.title, body=message.text()))
      if not delivered:
        error = 'a channel refused or could not be reached (see the log)'
    except Exception as e:  # pylint: disable=broad-except  # never fails the run
      error = f'{type(e).__name__}: {e}'
    if not delivered:
      logging.warning('notification %r not delivered: %s', message.title, error)
    self._record(message, delivered, error)
    return delivered

  def _record(self, message: Message, delivered: bool, error: str) -> None:
    if self.log_path is None:
      return
    entry: Dict[str, object] = dict(dataclasses.asdict(message), time=time.time(),
                                    delivered=delivered, error=error)
    try:
      os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
      with open(self.log_path, 'a', encoding='utf-8') as f:
        f.write(json.dumps(entry, sort_keys=True) + '\n')
    except OSError:
      logging.warning('cannot record the notification in %s', self.log_path)


def sent(log_dir: str) -> List[Dict[str, object]]:
  """The messages recorded in a home, oldest first."""
  path = os.path.join(log_dir, LOG_FILE)
  if not os.path.exists(path):
    return []
  with open(path, encoding='utf-8') as f:
    return [json.loads(line) for line in f if line.strip()]


NO_NOTIFIER = Notifier()  # sends nothing: for callers with no channels configured

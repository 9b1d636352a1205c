"""Notifications reach a real JSON webhook and a real SMTP server on loopback, say what
happened, to which data set and version and where to look, and a channel that cannot be
reached is recorded and never raises."""
import pytest

from ctpipe import notify
from tests.receivers import JsonReceiver, SmtpReceiver, free_port


def _message(event='pushed'):
  return notify.Message(event, 'penguins', f'ctpipe penguins: v3 {event}',
                        f'v3: {event}.', 3, '/home/reports/run-1.html')


def test_a_message_reaches_a_webhook_and_a_mailbox(tmp_path):
  with JsonReceiver() as hook, SmtpReceiver() as mail:
    notifier = notify.Notifier([hook.url, mail.url], log_dir=str(tmp_path))
    assert notifier.send(_message())
  [received] = hook.received
  assert received['title'] == 'ctpipe penguins: v3 pushed'
  for text in (received['message'], mail.bodies()[0]):
    assert 'data set: penguins' in text and 'version: 3' in text
    assert 'look: /home/reports/run-1.html' in text
  assert mail.messages[0]['To'] == 'ops@example.org'
  [record] = notify.sent(str(tmp_path))
  assert record['delivered'] and record['event'] == 'pushed'


def test_an_unreachable_channel_is_recorded_and_never_raises(tmp_path):
  notifier = notify.Notifier([f'json://127.0.0.1:{free_port()}/nobody'], log_dir=str(tmp_path))
  assert notifier.send(_message('run_failed')) is False
  [record] = notify.sent(str(tmp_path))
  assert not record['delivered'] and record['error']


def test_only_the_wanted_events_are_sent(tmp_path):
  with JsonReceiver() as hook:
    notifier = notify.Notifier([hook.url], events=['aborted'], log_dir=str(tmp_path))
    notifier.send(_message('pushed'))
    notifier.send(_message('aborted'))
  assert [r['title'] for r in hook.received] == ['ctpipe penguins: v3 aborted']
  assert len(notify.sent(str(tmp_path))) == 1


def test_urls_in_a_file_are_read_when_sending(tmp_path):
  with JsonReceiver() as hook:
    secret = tmp_path / 'urls'
    secret.write_text(f'# the team channel\n{hook.url}\n')
    assert notify.Notifier(urls_file=str(secret)).send(_message())
  assert len(hook.received) == 1


def test_unknown_events_and_unreadable_urls_are_refused():
  with pytest.raises(ValueError, match='unknown notification events'):
    notify.Notifier(['json://127.0.0.1:1/x'], events=['pushd'])
  with pytest.raises(ValueError, match='apprise cannot read'):
    notify.check_url('nosuchscheme://user:secret@host/path')

"""Which versions serve under a serving policy, and how requests are shared: the canary's
share over many request ids, the same id always to the same version."""
from ctpipe.model_server import serving_plan as sp


def test_without_policy_the_newest_version_serves():
  assert sp.plan_of({}, [1, 2, 3]) == sp.Plan(3)
  assert sp.plan_of({}, []) == sp.Plan(None)


def test_a_trial_keeps_stable_serving_and_labels_the_candidate():
  trial = {'version': 3, 'stable': 2, 'strategy': 'canary', 'percent': 20, 'started': 5.0}
  plan = sp.plan_of({'trial': trial}, [1, 2, 3])
  assert (plan.stable, plan.candidate, plan.percent) == (2, 3, 20.0)
  assert plan.labels == {'stable': 2, 'canary': 3}
  shadow = sp.plan_of({'trial': dict(trial, strategy='shadow')}, [1, 2, 3])
  assert shadow.labels == {'stable': 2, 'shadow': 3}


def test_a_rejected_version_never_serves_and_a_pin_suspends_the_trial():
  assert sp.plan_of({'rejected': [3]}, [1, 2, 3]) == sp.Plan(2)
  assert sp.plan_of({'rejected': [3]}, [1, 2, 3, 4]) == sp.Plan(4)
  trial = {'version': 3, 'stable': 2, 'strategy': 'canary', 'percent': 20}
  assert sp.plan_of({'trial': trial, 'pinned': 1}, [1, 2, 3]) == sp.Plan(1, pinned=True)
  # A trial whose version never got published (a failed copy) changes nothing.
  assert sp.plan_of({'trial': dict(trial, version=9)}, [1, 2, 3]) == sp.Plan(3)


def test_the_canary_takes_its_share_of_ten_thousand_request_ids_within_two_points():
  for percent in (5, 20, 50):
    plan = sp.Plan(2, 3, sp.CANARY, percent)
    share = sum(sp.routes_to_candidate(plan, f'request-{i}') for i in range(10_000)) / 100
    assert abs(share - percent) <= 2, (percent, share)


def test_the_same_request_id_always_reaches_the_same_version():
  plan = sp.Plan(2, 3, sp.CANARY, 30)
  first = [sp.routes_to_candidate(plan, f'client-{i}') for i in range(500)]
  assert first == [sp.routes_to_candidate(plan, f'client-{i}') for i in range(500)]
  # A larger share keeps every id the smaller share sent to the canary there.
  wider = sp.Plan(2, 3, sp.CANARY, 60)
  assert all(sp.routes_to_candidate(wider, f'client-{i}') for i in range(500) if first[i])
  assert not any(sp.routes_to_candidate(sp.Plan(2, 3, sp.SHADOW), f'c{i}') for i in range(500))

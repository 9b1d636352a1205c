"""Safe rollout: a blessed version proves itself on live traffic (canary or shadow) before it
takes all of it (online_validation.py decides, actions.py carries the decision out)."""

"""Continuous training: what starts a run (new data, schedule, drift, skew, degradation),
the watch loop that acts on it, replay of the embedded history, and the serving feedback."""

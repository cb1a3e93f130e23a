"""Recommendation: the per-user recommender, scoring, simulated users, metrics, the benchmark, the experiments."""

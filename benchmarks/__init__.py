"""Benchmarks: speed and quality, side by side with their baselines, printed as tables."""

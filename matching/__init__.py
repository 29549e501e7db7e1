"""Matching artisans to jobs: features, models, the assignment optimiser, the simulator."""

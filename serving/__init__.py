"""Sampling design and estimation, the BentoML service and the planner page."""

"""Reporting on a trained model: explanations, fairness, replication, the truth lab, the report."""

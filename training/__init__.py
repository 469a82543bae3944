"""Per-judgement training, evaluation, calibration, explanations, reports and retraining."""

"""The synthetic world: officers, their cases, the true judgement model and its calibration."""

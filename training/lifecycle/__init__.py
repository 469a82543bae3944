"""The model's life: tracking and registry, the store, drift, gates, promotion, retraining."""

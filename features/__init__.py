"""Case data contract, synthetic generator, importers and the feature pipeline."""

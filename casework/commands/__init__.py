"""One module per group of CLI commands; each registers itself on ``casework.app.app``."""

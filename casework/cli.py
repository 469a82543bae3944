"""Entry point of the ``casework`` command: imports each command module so it registers."""

from casework.app import app
from casework.commands import generate, sample, validate  # noqa: F401  (each registers itself)

__all__ = ["app"]

"""Entry point of the ``casework`` command: imports each command module so it registers."""

from casework.app import app
from casework.commands import generate, sample, train, validate  # noqa: F401  (register)

__all__ = ["app"]

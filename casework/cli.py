"""Entry point of the ``casework`` command: imports each command module so it registers."""

from casework.app import app
from casework.commands import (  # noqa: F401  (each module registers its commands)
    explain,
    generate,
    report,
    retrain,
    sample,
    serve,
    train,
    validate,
)

__all__ = ["app"]

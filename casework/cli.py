"""Entry point of the ``casework`` command: imports each command module so it registers."""

from casework.app import app
from casework.commands import (  # noqa: F401  (each module registers its commands)
    estimate,
    explain,
    generate,
    judgements,
    report,
    retrain,
    sample,
    sealed,
    serve,
    study,
    train,
    validate,
)

__all__ = ["app"]

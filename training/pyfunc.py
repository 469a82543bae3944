"""The registered MLflow model: a pyfunc that loads the bundle folder and scores frames."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from training.bundle import CaseworkModel

BUNDLE_ARTIFACT = "bundle"


class CaseworkPyfunc(mlflow.pyfunc.PythonModel):
    """``predict`` returns the CONTRACT §3 columns for a frame of caseload records."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Load the bundle once, from the model's artifacts."""
        self.bundle = CaseworkModel.load(Path(context.artifacts[BUNDLE_ARTIFACT]))

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict | None = None,
    ) -> pd.DataFrame:
        """Scores of every case in ``model_input``."""
        return self.bundle.predict(model_input)

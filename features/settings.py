"""The one typed settings object: every path, URI, limit and seed, read from the environment.

This is the project's ground-floor settings module: features, training, serving and the CLI all
read this one ``Settings`` (each field a ``CASEWORK_<FIELD>`` variable), and it sits in
``features`` because every other package may import from there. Fields are grouped by reader:
where things live (everyone), the HTTP service, and the retraining job's test hook.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """casework configuration; each field can be set with a ``CASEWORK_<FIELD>`` variable."""

    model_config = SettingsConfigDict(env_prefix="CASEWORK_", extra="ignore")

    # where things live: read by every package
    data_dir: Path = Field(Path("data"), description="Where generated and imported tables live.")
    models_dir: Path = Field(Path("models"), description="Exported champion bundle for serving.")
    mlflow_uri: str = Field("sqlite:///mlflow.db", description="MLflow tracking store URI.")
    mlflow_artifacts: Path = Field(Path("mlruns"), description="MLflow artifact root.")
    reports_dir: Path = Field(Path("reports"), description="HTML reports and model cards.")
    seed: int = Field(1, description="Default random seed for generation, training and sampling.")
    # read by the HTTP service (serving) and the sealed-sample store it shares with the CLI
    api_token: SecretStr | None = Field(
        None, description="Bearer token the HTTP service requires on every non-health call."
    )
    insecure_dev: bool = Field(
        False, description="Serve without a token (local development only; set by --insecure-dev)."
    )
    max_rows: int = Field(50_000, ge=1, description="Most frame or sample rows in one request.")
    max_request_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest request body the service reads."
    )
    reload_seconds: float = Field(
        5.0, ge=0.0, description="How often the service checks for a new champion (0: never)."
    )
    job_deadline_seconds: float = Field(
        60.0,
        gt=0.0,
        description="Longest a /sample, /simulate or /estimate job may run; past it the job's "
        "process is killed and the answer is 503.",
    )
    sealed_keep: int = Field(
        1_000, ge=1, description="Most sealed samples kept; the oldest are purged beyond it."
    )
    sealed_days: float = Field(
        90.0, gt=0.0, description="Sealed samples older than this many days are purged."
    )
    slow_frame: str | None = Field(
        None,
        description="Test hook: service jobs on the frame file of this name spin (holding the "
        "GIL, like a heavy cube) until killed, to prove the deadline and the event loop hold.",
    )
    # read by --engine spark (serving.spark)
    spark_master: str = Field(
        "local[*]",
        description="Spark master URL for --engine spark (local[*], spark://..., yarn, k8s://...).",
    )
    # read by the retraining job (training.lifecycle)
    fault_point: str | None = Field(
        None,
        description="Test hook: the retrain job kills itself (SIGKILL) on reaching this step "
        "(append, train or export), to prove a crash leaves store and champion consistent.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process from the environment."""
    return Settings()


def workspace_environment(root: Path) -> dict[str, str]:
    """The CASEWORK_* variables that put data, models, MLflow and reports under ``root``: how
    tests, benchmarks and scripts run casework in a scratch folder."""
    return {
        "CASEWORK_DATA_DIR": str(root / "data"),
        "CASEWORK_MODELS_DIR": str(root / "models"),
        "CASEWORK_MLFLOW_URI": f"sqlite:///{root / 'mlflow.db'}",
        "CASEWORK_MLFLOW_ARTIFACTS": str(root / "mlruns"),
        "CASEWORK_REPORTS_DIR": str(root / "reports"),
    }

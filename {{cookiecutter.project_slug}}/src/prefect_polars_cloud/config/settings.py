"""Runtime settings: one object, read once from the environment.

The project subclasses `Settings` (src/<package>/settings.py): its class sets the variables'
prefix and the defaults the template was generated with; everything else reads `get_settings()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

# cluster: a self-hosted Polars cluster at CLUSTER_URI (no Polars Cloud account, no boots).
ComputeMode = Literal["cloud", "local", "cluster"]
SecretBackend = Literal["env", "aws-secrets-manager", "prefect-secret", "aws-secret-block"]
Alerts = Literal["none", "webhook"]
# Below a minute a query is cancelled before a cluster could plan it (0.0001 cancelled every
# query at once); compute/presets.py holds a preset's own query_timeout_mins to it too.
MIN_QUERY_TIMEOUT_MINS = 1.0


class Settings(BaseSettings):
    """What a run needs to know; a project's subclass sets the prefix and its own defaults.

    Each field is read from the variable `<prefix><FIELD>` (an empty one means the default);
    the comments below and docs/settings.md say what each does. The library reads the project's
    subclass once per process.

    Attributes:
        source_uri: Where the deployed flow reads its inputs, `<data_uri>/raw`.
        output_uri: Where the deployed flow writes its outputs, `<data_uri>/reports`.

    Example:
        ```python
        from pydantic_settings import SettingsConfigDict
        from prefect_polars_cloud import Settings as LibrarySettings

        class Settings(LibrarySettings):
            model_config = SettingsConfigDict(env_prefix="MY_PIPELINE_")
            label: str = "my-pipeline"  # the project's name on Polars Cloud and Prefect

        settings = Settings()  # reads MY_PIPELINE_COMPUTE_MODE, MY_PIPELINE_DATA_URI, ...
        settings.output_uri  # "data/reports", unless MY_PIPELINE_DATA_URI is set
        ```
    """

    # An empty variable (as in a copied .env.example) means "use the default". The subclass
    # sets env_prefix, e.g. SettingsConfigDict(env_prefix="DAILY_REPORTS_").
    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True, extra="ignore")

    compute_mode: ComputeMode = "cloud"
    cluster_uri: str | None = None  # e.g. https://scheduler.internal:5051, for compute_mode=cluster
    secret_backend: SecretBackend = "env"  # noqa: S105 - a name
    secret_name: str = Field(default="polars-cloud-service-account", min_length=1)
    aws_region: str = "us-east-1"
    workspace: str | None = None
    # The machine sizes (compute/presets.py): relative to the working directory, the project's root.
    presets_file: str = "presets.toml"
    # The environment a run belongs to, and the file that declares each one's prefix, secret,
    # workspace and preset overrides (config/environments.py); no such file: production alone.
    env: str = Field(default="production", min_length=1)
    environments_file: str = "environments.toml"
    # For presets that set none. Polars Cloud refuses idle timeouts under ten minutes.
    idle_timeout_mins: int = Field(default=30, ge=10)
    # The deployed flows read <data_uri>/raw and write <data_uri>/reports.
    data_uri: str = "data"
    # The longest range one run accepts: a typo in a backfill should not rebuild ten years.
    max_backfill_days: PositiveInt = 366
    # Days after today (UTC) are refused unless this is set: their inputs cannot be complete.
    allow_future_days: bool = False
    # A query still running after this long is cancelled and fails its task.
    query_timeout_mins: float = 120.0
    # Retries of a task whose query failed transiently (network, throttling, 5xx), on the
    # cluster that is already running; the delay doubles each time, with jitter.
    query_retries: int = Field(default=2, ge=0)
    query_retry_delay_seconds: PositiveFloat = 10.0
    # Start every preset's cluster when the run starts, so the boots overlap (False: on first
    # use, which bills the large preset less while the small one works, but boots in series).
    boot_all_at_start: bool = True
    # A day of the run with no valid row fails the run (it would replace that day's published
    # report with nothing, which is more often a failed export than the truth); true publishes it.
    allow_empty_days: bool = False
    # A staging prefix whose run started longer ago than this is taken for one whose run is gone and
    # is finished or removed by the next run (storage/leftovers.py): keep it above the longest run.
    staging_expiry_hours: PositiveFloat = 24.0
    # An IcebergOutput's catalog, configured as pyiceberg reads it (.pyiceberg.yaml or
    # PYICEBERG_CATALOG__<NAME>__<KEY>; none: a local SQLite catalog in local runs), and the
    # `namespace.table` of the output that names none itself: the project's subclass sets it.
    iceberg_catalog: str = Field(default="default", min_length=1)
    iceberg_table: str | None = None
    # Optional: adds a cost estimate to the run's artifact.
    price_per_vcpu_hour: PositiveFloat | None = None
    # The project's name on Polars Cloud (labels, manifests) and Prefect (the deployments' tag,
    # the alerts): the project's subclass sets it.
    label: str = Field(default="project", min_length=1)
    # `make alerts`: the channel, the webhook (a secret: SecretStr never shows it; unset, the
    # secret backend's JSON object may hold it as "alert_webhook_url") and how late a scheduled
    # run may be before someone is told.
    alerts: Alerts = "none"
    alert_webhook_url: SecretStr | None = None
    # Optional, for receivers that take their token in a header: sent as `Authorization: Bearer
    # <token>`, so the URL itself holds none (a receiver's error makes Prefect's server log the
    # URL). Unset, the secret backend's JSON object may hold it as "alert_webhook_token".
    alert_webhook_token: SecretStr | None = None
    alert_late_after_mins: PositiveInt = 15

    @field_validator("workspace", mode="before")
    @classmethod
    def empty_workspace_means_default(cls, value: object) -> object:
        """Treat an empty workspace as the service account's default one."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("query_timeout_mins")
    @classmethod
    def at_least_a_minute(cls, value: float) -> float:
        """Refuse a query timeout that would cancel every query before it could finish."""
        if not value >= MIN_QUERY_TIMEOUT_MINS:  # `not >=`: NaN is refused too
            raise ValueError(
                f"{cls.prefix()}QUERY_TIMEOUT_MINS={value:g} is under the "
                f"{MIN_QUERY_TIMEOUT_MINS:g}-minute minimum, so every query would be cancelled "
                f"before it could finish; set it to {MIN_QUERY_TIMEOUT_MINS:g} or more"
            )
        return value

    @field_validator("data_uri")
    @classmethod
    def strip_trailing_slash(cls, value: str) -> str:
        """Keep `<data_uri>/raw` free of a double slash."""
        return value.rstrip("/")

    @property
    def source_uri(self) -> str:
        """Where the deployed flow reads its inputs."""
        return f"{self.data_uri}/raw"

    @property
    def output_uri(self) -> str:
        """Where the deployed flow writes its reports."""
        return f"{self.data_uri}/reports"

    @classmethod
    def prefix(cls) -> str:
        """Return the prefix of this project's variables, e.g. DAILY_REPORTS_."""
        return str(cls.model_config.get("env_prefix", ""))


class SettingsError(ValueError):
    """A setting's variable holds a value that cannot be used; the message names the variable."""


def settings_problem(settings: type[Settings], error: ValidationError) -> str:
    """Say, one clause a variable, which variables are wrong and why (never their values)."""
    clauses = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        # A validator's own message already names the variable.
        message = str(problem["msg"]).removeprefix("Value error, ")
        variable = f"{settings.prefix()}{field.upper()}"
        clauses.append(message if variable in message else f"{variable}: {message}")
    return "; ".join(clauses)


def prefect_yaml_label(prefect_file: Path, variable: str) -> str:
    """Return the project's label as its prefect.yaml declares it, `definitions: label:`.

    The label is written once, in prefect.yaml: every deployment's tag (which the alerts match)
    and its runs' label variable are YAML aliases of it. A deployed run has that variable set
    by its deployment, so settings only read the file when the variable is unset. Where the
    package is installed rather than checked out (the image), prefect_file is not beside it:
    the working directory's prefect.yaml is read instead (the image's, which its deployments'
    pull step changes into).

    Args:
        prefect_file: The project's prefect.yaml, in the checkout.
        variable: The variable that sets the label instead, for the error's message.

    Returns:
        The label: the project's name on Polars Cloud and on Prefect.

    Raises:
        SettingsError: The file is missing or declares no label.

    Example:
        ```python
        from pathlib import Path
        from pydantic import Field
        from prefect_polars_cloud import Settings, prefect_yaml_label

        PREFECT_FILE = Path(__file__).resolve().parents[2] / "prefect.yaml"

        class ProjectSettings(Settings):
            label: str = Field(default_factory=lambda: prefect_yaml_label(PREFECT_FILE, "MY_LABEL"))
        ```
    """
    import yaml  # Prefect's own dependency; loaded only when the variable is unset

    if not prefect_file.exists():
        prefect_file = Path.cwd() / "prefect.yaml"
    try:
        loaded = yaml.safe_load(prefect_file.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise SettingsError(
            f"{variable} is unset and there is no {prefect_file} to read the project's label from: "
            f"set {variable}, or run from the project's directory"
        ) from None
    definitions = loaded.get("definitions") if isinstance(loaded, dict) else None
    label = definitions.get("label") if isinstance(definitions, dict) else None
    if not isinstance(label, str) or not label.strip():
        raise SettingsError(
            f"{prefect_file} declares no project label: add `label: &project-label <name>` under "
            f"`definitions:` (or set {variable})"
        )
    return label

"""This project's settings: the variables' prefix and the answers it was generated with.

Every setting (docs/settings.md) is read from `<PREFIX><NAME>` variables; the
defaults below are the answers given to the template. Change a default here, or set the
variable where the flow runs.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from prefect_polars_cloud import Alerts, SecretBackend
from prefect_polars_cloud import Settings as LibrarySettings

ENV_PREFIX = "{{ cookiecutter.package_name | upper }}_"


class Settings(LibrarySettings):
    """The library's settings with this project's prefix and defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    # The project's name on Polars Cloud (labels, manifests) and on Prefect (the deployments'
    # tag, which the alerts match): renaming the project's label is this one line.
    # (Exploded, with a trailing comma, so that ruff keeps a 64-character slug's line as it is.)
    label: str = Field(
        default="{{ cookiecutter.project_slug }}",
        min_length=1,
    )
    secret_backend: SecretBackend = {{ cookiecutter.secret_backend | tojson }}  # noqa: S105 - a name
    secret_name: str = Field(default={{ cookiecutter.secret_name | tojson }}, min_length=1)
    aws_region: str = {{ cookiecutter.aws_region | tojson }}
    workspace: str | None = {{ cookiecutter.workspace | tojson }}
    idle_timeout_mins: int = Field(default={{ cookiecutter.idle_timeout_mins | int }}, ge=10)
    data_uri: str = {{ cookiecutter.data_uri | tojson }}
    alerts: Alerts = {{ cookiecutter.alerts | tojson }}
    # The report's Iceberg table, `namespace.table`, when REPORT is an IcebergOutput.
    iceberg_table: str | None = Field(
        default={{ (cookiecutter.package_name ~ ".daily_report") | tojson }},
    )

"""This project's settings: the variables' prefix and the answers it was generated with.

Every setting (docs/settings.md) is read from `<PREFIX><NAME>` variables; the
defaults below are the answers given to the template. Change a default here, or set the
variable where the flow runs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from prefect_polars_cloud import Alerts, SecretBackend, prefect_yaml_label
from prefect_polars_cloud import Settings as LibrarySettings

ENV_PREFIX = "{{ cookiecutter.package_name | upper }}_"
# The checkout's prefect.yaml, which declares the label (this file is src/<package>/settings.py);
# where the package is installed, not checked out (the image), the working directory's is read.
PREFECT_FILE = Path(__file__).resolve().parents[2] / "prefect.yaml"


class Settings(LibrarySettings):
    """The library's settings with this project's prefix and defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    # The project's name on Polars Cloud (labels, manifests) and on Prefect (the deployments'
    # tag, which the alerts match): declared once, as `label:` in prefect.yaml's definitions,
    # which also hands it to deployed runs as <PREFIX>LABEL.
    label: str = Field(
        default_factory=lambda: prefect_yaml_label(PREFECT_FILE, f"{ENV_PREFIX}LABEL"),
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

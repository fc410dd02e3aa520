"""Create or update the Prefect blocks the chosen backend reads (`make blocks`); idempotent."""

from __future__ import annotations

from collections.abc import Callable

from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.credentials.service_account import (
    CredentialsError,
    block_name,
    from_env,
    missing_library,
)


def save_prefect_secret(settings: Settings) -> str:
    """Save the service account from POLARS_CLOUD_* into a Secret block named secret_name."""
    from prefect.blocks.system import Secret

    try:
        account = from_env(settings)
    except CredentialsError as error:
        raise CredentialsError(
            f"`make blocks` saves the service account into the Secret block "
            f"{settings.secret_name!r} from the environment: {error}"
        ) from None
    value = {"client_id": account.client_id, "client_secret": account.client_secret}
    Secret(value=value).save(settings.secret_name, overwrite=True)
    return f"saved Secret block {settings.secret_name!r}"


def save_aws_secret_blocks(settings: Settings) -> str:
    """Register prefect-aws's block types and save AwsCredentials + AwsSecret for secret_name."""
    try:
        from prefect_aws import AwsCredentials
        from prefect_aws.secrets_manager import AwsSecret
    except ImportError:
        raise missing_library("aws-secret-block", "prefect-aws") from None
    name = block_name(settings.secret_name)
    for block_type in (AwsCredentials, AwsSecret):
        block_type.register_type_and_schema()
    # Credentials come from the default AWS chain (role, profile, variables) unless filled in
    # later in the UI: no key is ever written here.
    AwsCredentials(region_name=settings.aws_region).save(name, overwrite=True)
    AwsSecret(aws_credentials=AwsCredentials.load(name), secret_name=settings.secret_name).save(
        name, overwrite=True
    )
    return f"saved AwsCredentials and AwsSecret blocks {name!r} for secret {settings.secret_name!r}"


BLOCK_SAVERS: dict[str, Callable[[Settings], str]] = {
    "prefect-secret": save_prefect_secret,
    "aws-secret-block": save_aws_secret_blocks,
}


def register_blocks(settings: Settings) -> str:
    """Create or update the backend's blocks; say what was done."""
    save = BLOCK_SAVERS.get(settings.secret_backend)
    if save is None:
        return f"the {settings.secret_backend} backend uses no Prefect blocks: nothing to register"
    return save(settings)

"""The Polars Cloud service account: fetched once from the configured secret backend.

Owns the four backends (environment, AWS Secrets Manager, Prefect Secret block, prefect-aws
AwsSecret block) and `make blocks`. Knows nothing of Polars: imports only `config`.
"""

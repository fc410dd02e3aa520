"""Where queries run: Polars Cloud presets (ephemeral, manifests, own clusters) or local Polars.

Owns the presets, the login, a run's clusters (`clusters`: started once, always stopped), the
session that sends queries to them (`session`), the sinks of one query (`remote_sink`,
`local_sink`) and the evidence of what a run asked of Polars Cloud. Imports `config`,
`credentials` and `storage`; never `run`, Prefect flows or the CLI.
"""

"""A run's Iceberg outputs: the catalog, one commit per run, and the sweep of leftovers.

Imports `config` and the rest of `storage`; pyiceberg is imported where it is used, so a
Parquet project never loads it.
"""

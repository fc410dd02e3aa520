"""A run's Iceberg outputs: the catalog, the files a run writes, one commit per run, the leftovers.

Imports `config` and the rest of `storage`; pyiceberg is imported where it is used, so a
Parquet project never loads it.
"""

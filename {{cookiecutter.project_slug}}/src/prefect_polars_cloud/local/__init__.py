"""The command line and local runs: the make targets, `make run` and its temporary Prefect server.

Owns the CLI (`cli`, `options`), the local runner, the local Prefect server, the console output
and the sample days. The top layer of the library proper: it may import any package but
`testing`, and nothing imports it but `testing` and the flows' `__main__` blocks (through the
public API).
"""

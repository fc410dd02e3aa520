"""Where files live and how a run's outputs reach them whole: by day, staged, then published.

Owns local folders and object stores (`files`), the publish of staged days (`publish`), what
killed runs leave behind (`leftovers`), the checks of inputs before anything is published
(`checks`, `input_errors`), the report's summary, and Iceberg tables (`iceberg`). Imports only
`config`: never compute, run or Prefect.
"""

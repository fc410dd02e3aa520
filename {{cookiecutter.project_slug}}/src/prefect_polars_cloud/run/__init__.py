"""One run of a daily pipeline: its context (`daily_run`), its flow run, its retries, its stops.

The layer flows call: it ties the declarations, storage and compute together for one run.
`handle` is the run as its tasks see it (`DailyRun`); `stops` owns what a signal does to a run,
whatever started it. Imports `config`, `credentials`,
`storage` and `compute`; never `operations`, `local` or `testing`.
"""

"""What a project declares and is asked for: its settings, itself, its datasets, its days.

Owns the `Settings` model (read once from the environment), the current `Project` (found through
its package's entry point), the dataset declarations (`Datasets`: inputs, outputs, formats) and
the days a run reports. The bottom layer: it imports no other package of the library, and
nothing of Prefect or Polars Cloud.
"""

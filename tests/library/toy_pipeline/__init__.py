"""A project of the library's tests' own, nothing like a bake's example: page visits by section.

It is what a user's `src/<package>/` holds (settings with their own prefix, the declared
datasets, a sample writer, the artifact's totals) plus one small flow, handed to the library
with `prefect_polars_cloud.config.project.using(PROJECT)`. The library's tests never import a bake's
package: if the library knew the example's names, these tests would find out.

    <source>/visits/day=YYYY-MM-DD/visits.ndjson   VISITS: a day's page visits (NDJSON)
    <source>/pages.csv                             PAGES: page -> section (CSV, the last line wins)
    <output>/section_time/day=YYYY-MM-DD/          TOTALS: visits and seconds per section
"""

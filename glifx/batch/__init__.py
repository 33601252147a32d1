"""Fit a whole cohort: one :func:`glifx.process_cell` task per recording on dask.distributed.

::

    frame = glifx.fit_cohort(["recordings/"], "results/", workers=2, levels=(1, 3))

By default an embedded ``distributed.LocalCluster`` (worker processes with one thread each,
listening on 127.0.0.1 only); ``scheduler="tcp://host:port"`` uses a running scheduler whose
workers were started with ``dask worker``; ``client=`` any ``distributed.Client`` (e.g. of a
dask-jobqueue cluster).  Writes ``<out>/<cell>/`` per cell as ``glifx fit FILE`` does,
``cohort.csv`` / ``cohort.parquet`` (:data:`COHORT_COLUMNS`, documented in
:mod:`glifx.batch.table`) and ``cohort.html``; reruns resume.
"""

from glifx.batch.inputs import RECORDING_SUFFIXES, find_recordings
from glifx.batch.report import COHORT_REPORT_NAME, render_cohort_html, write_cohort_report
from glifx.batch.runner import CohortProgress, fit_cohort
from glifx.batch.table import COHORT_COLUMNS, MAIN_PARAMETERS, cohort_frame, write_cohort_tables

__all__ = [
    "COHORT_COLUMNS",
    "COHORT_REPORT_NAME",
    "MAIN_PARAMETERS",
    "RECORDING_SUFFIXES",
    "CohortProgress",
    "cohort_frame",
    "find_recordings",
    "fit_cohort",
    "render_cohort_html",
    "write_cohort_report",
    "write_cohort_tables",
]

"""gunicorn's settings for the Procfile's web process: the access log on stdout, with
manage-link tokens written as `/a/…` (clinic/logs.py)."""

accesslog = "-"
logger_class = "clinic.logs.GunicornLogger"


def child_exit(server, worker) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set (clinic/metrics.py), an exited worker's gauges leave the sums."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

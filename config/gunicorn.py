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


# On SIGTERM gunicorn stops accepting, lets each worker finish the requests it holds for up to
# `graceful_timeout` seconds, then exits: under a Procfile platform's 30 seconds before SIGKILL,
# and docker's default 10 is raised for the web service in compose.yaml.
graceful_timeout = 25

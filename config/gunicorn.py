"""gunicorn's settings for the Procfile's web process: the access log on stdout, with
manage-link tokens written as `/a/…` (clinic/logs.py)."""

accesslog = "-"
logger_class = "clinic.logs.GunicornLogger"

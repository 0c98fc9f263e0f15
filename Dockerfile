# syntax=docker/dockerfile:1
# Clinic's web and worker image: `docker build -t clinic .`, then compose.yaml runs it.
# Two stages: the builder turns requirements/production.txt into wheels; the runtime
# installs only those wheels, runs as a non-root user, and has its static files collected.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements/base.txt requirements/production.txt requirements/
RUN pip wheel --wheel-dir /wheels -r requirements/production.txt

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    PORT=8000
RUN groupadd --system --gid 10001 clinic \
    && useradd --system --uid 10001 --gid clinic --home-dir /app --shell /usr/sbin/nologin clinic
WORKDIR /app
COPY --from=builder /wheels /wheels
COPY requirements/base.txt requirements/production.txt requirements/
RUN pip install --no-index --find-links /wheels -r requirements/production.txt && rm -rf /wheels
COPY --chown=clinic:clinic . .
# Static files are collected once, at build time, under the production settings; the
# secret is a throwaway that exists only in this step (the real one comes at run time).
RUN DJANGO_SECRET_KEY="build-only-collectstatic-not-a-secret-0123456789abcdefghijklmnop" \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown clinic:clinic /app/var
USER 10001:10001
EXPOSE 8000
# No curl in a slim image: python asks the process whether it answers (no database access).
# The header says the request came over HTTPS, so production's HTTPS redirect lets it through.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:%s/health/live' % os.environ.get('PORT', '8000'), headers={'X-Forwarded-Proto': 'https'}), timeout=4)"]
# sh -c so that $PORT and $WEB_CONCURRENCY are read at run time; exec hands gunicorn the signals.
CMD ["sh", "-c", "exec gunicorn config.wsgi --config config/gunicorn.py --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY:-3}"]

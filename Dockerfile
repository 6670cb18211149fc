# One image for every service of docker-compose.yml: web (gunicorn), worker and beat
# (celery) and the one-shot migrate job; they differ only by their command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    EVALSERVER_DATA_DIR=/data

WORKDIR /app

COPY pyproject.toml README.md manage.py ./
COPY evalserver ./evalserver
COPY submissions ./submissions
COPY leaderboard ./leaderboard
RUN pip install .

# Uploads, hidden labels and collected static files live in /data, a volume shared by the
# services. Created here, owned by the unprivileged user, so a fresh volume inherits it.
RUN useradd --create-home --uid 1000 app \
    && mkdir -p /data \
    && chown app:app /data
USER app

EXPOSE 8000
CMD ["gunicorn", "evalserver.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]

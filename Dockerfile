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
# A C compiler for the detection reader's compiled part (evalserver/scoring/_detection_csv.c),
# removed again in the same layer: the image keeps the built module, not the compiler.
# The services run the code in /app (gunicorn, celery and manage.py import from their
# working directory ahead of site-packages), so the package is installed in place (-e):
# the module is built next to its sources. A plain `pip install .` put it in site-packages
# only, where /app's evalserver never looked: the check below then failed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install -e . \
    && rm -rf build \
    && python -c "from evalserver.scoring import detection_native as n; assert n.available()" \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

# Uploads, hidden labels and collected static files live in /data, a volume shared by the
# services. Created here, owned by the unprivileged user, so a fresh volume inherits it.
RUN useradd --create-home --uid 1000 app \
    && mkdir -p /data \
    && chown app:app /data
USER app

EXPOSE 8000
# gunicorn: 2 worker processes (one per core of the 2-core machines it is sized for) of 4
# threads each, connections kept alive 10 s (README "Performance"): on the busiest API list
# at 16 clients it did as well as 3 sync workers or better, and clearly better than 2, with
# less CPU per request: a thread runs while another waits for PostgreSQL, and clients keep
# their connection. A kept-alive connection must outlive a client's pause between requests,
# or the server may close it just as the client sends on it (uploads then fail in the
# deadline rush). More cores: more workers, e.g. `--workers 4` for 4.
CMD ["gunicorn", "evalserver.wsgi", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--workers", "2", "--threads", "4", "--keep-alive", "10", "--timeout", "120"]

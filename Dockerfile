# One image for every envport service in docker-compose.yml: web (gunicorn), worker and beat
# (Celery) and the local cloud. Runs as an unprivileged user; state that must survive lives in
# PostgreSQL, so /app/var (ENVPORT_VAR_DIR: static files, scratch) is disposable.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=portal.settings \
    ENVPORT_VAR_DIR=/app/var

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# The wheels the default function artifact vendors (lambda_bundle/requirements.txt: Powertools),
# for the function's platform: artifact builds install from here, offline (provisioning/artifacts.py).
ENV ENVPORT_WHEELHOUSE=/app/wheelhouse
COPY lambda_bundle/requirements.txt lambda_bundle/requirements.txt
RUN pip download --only-binary=:all: --platform manylinux2014_aarch64 --python-version 3.12 \
        --implementation cp -r lambda_bundle/requirements.txt -d /app/wheelhouse

# The Lambda python3.12 runtime's own libraries (boto3, botocore, ...) at that runtime's versions:
# the local cloud's workers import these, not the image's boto3 (localcloud/lambda_/sandbox.py).
ENV LOCALCLOUD_RUNTIME_DIR=/app/lambda-runtime/python3.12
COPY localcloud/runtime-requirements.txt localcloud/runtime-requirements.txt
RUN pip install --no-deps --target /app/lambda-runtime/python3.12 -r localcloud/runtime-requirements.txt

COPY . .
RUN useradd --create-home --uid 10001 envport \
    && mkdir -p /app/var \
    && chown -R envport:envport /app/var
USER envport

EXPOSE 8000 4566
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "8", "--access-logfile", "-"]

# The service image: the grader package with its CLI, for the web app and the Celery workers.
# The worker starts sandboxes through the host's Docker engine (socket mounted by compose.yaml).
#
#   docker build -f docker/app.Dockerfile -t grader-app:latest .
FROM python:3.11-slim

WORKDIR /srv/grader
COPY pyproject.toml README.md grader-requirements.txt ./
COPY grader ./grader
COPY exercises ./exercises
COPY reference ./reference
# `grader db upgrade` finds the migrations next to the installed package or in the working directory
COPY alembic.ini ./
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --system --home /srv/grader grader
USER grader
ENV GRADER_BACKEND=docker \
    GRADER_EXERCISES_DIR=/srv/grader/exercises \
    GRADER_REFERENCE_DIR=/srv/grader/reference \
    GRADER_DATA_DIR=/data/datasets \
    GRADER_INSTANCE_DIR=/srv/grader/instance
ENTRYPOINT ["grader"]

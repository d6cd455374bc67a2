# syntax=docker/dockerfile:1
# Production image: python:3.11-slim, dependencies installed in a build stage, runs as a non-root user.
# It needs DB_URL or DATABASE_URL (a PostgreSQL with pgvector) and honours PORT (Railway sets it).
#   docker build -t ragsite .                            # OpenAI-compatible embeddings (set OPENAI_API_KEY)
#   docker build -t ragsite --build-arg LOCAL_MODEL=1 .  # adds the local embedding model, CPU-only torch

# --- build: a virtual environment with the runtime dependencies ------------------------------------------------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt requirements-local.txt /tmp/
RUN pip install -r /tmp/requirements.txt
# The local embedding model is optional: without it the image is about 1.5 GB smaller. torch comes from PyTorch's
# CPU index first, so requirements-local.txt finds torch==2.13.0 (+cpu) satisfied: from PyPI, Linux gets the
# multi-GB CUDA build.
ARG LOCAL_MODEL=0
RUN if [ "$LOCAL_MODEL" = "1" ]; then \
        pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
        && pip install -r /tmp/requirements-local.txt; \
    fi

# --- runtime: the virtual environment and the code, nothing else ----------------------------------------------------
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=ragsite.settings \
    DATA_DIR=/var/lib/ragsite \
    PORT=8000
RUN useradd --create-home --uid 10001 ragsite \
    && mkdir -p /var/lib/ragsite \
    && chown ragsite:ragsite /var/lib/ragsite
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Owned by root: the service can read its code and static files but not change them.
COPY . /app
# collectstatic needs settings that load, not a database or a provider: placeholders for this one step only.
RUN DB_URL=postgresql://build@localhost/build OPENAI_API_KEY=placeholder-for-collectstatic \
    python manage.py collectstatic --noinput --verbosity 0
USER ragsite
EXPOSE 8000
# Plain HTTP to 127.0.0.1:$PORT with a Host from ALLOWED_HOSTS; /health is exempt from the HTTPS redirect.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "ragsite.healthcheck"]
# Migrations once per start, under an advisory lock (replicas starting together wait for each other), then gunicorn
# replaces the shell as PID 1 so it receives SIGTERM and drains in-flight requests. Railway runs the same two
# commands as its pre-deploy and start commands (railway.json).
CMD ["sh", "-c", "python manage.py migrate_locked && exec gunicorn -c ragsite/gunicorn.conf.py"]

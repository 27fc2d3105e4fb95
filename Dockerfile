# Latchkey's container image: one image for web (gunicorn), worker and beat (Celery), and migrate.
#
#   docker build -t latchkey .
#
# Stage 1 installs the project and its dependencies into a virtual environment; the final
# stage copies that environment and the source, with no compiler or build tool.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY pyproject.toml README.md /src/
COPY portal /src/portal
RUN /opt/venv/bin/pip install /src

# The portal: the default target, so it stays the last stage.
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=portal.settings
RUN groupadd --system --gid 10001 latchkey \
    && useradd --system --uid 10001 --gid latchkey --home-dir /app --shell /usr/sbin/nologin latchkey
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY manage.py gunicorn.conf.py ./
COPY portal ./portal
COPY templates ./templates
COPY static ./static
# collectstatic reads the settings, which refuse to load without their secrets: throw-away values
# for this one step, never kept in a layer's environment.
RUN DJANGO_SECRET_KEY=collectstatic-only DATABASE_URL=postgresql://collectstatic@localhost/none \
    OIDC_CLIENT_SECRET=collectstatic-only VAULT_TOKEN=collectstatic-only \
    CREDENTIAL_ENCRYPTION_KEY=collectstatic-only AUDIT_CHAIN_KEY=collectstatic-only-throw-away-key-0000 \
    python manage.py collectstatic --noinput \
    && python -m compileall -q portal
USER latchkey:latchkey
EXPOSE 8000
CMD ["gunicorn", "--config", "gunicorn.conf.py"]

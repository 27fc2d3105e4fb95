# For local evaluation only (`docker compose --profile evaluation up`): the Entra ID stand-in with the
# demo tenant's users, as in `make demo`. Its build context is this folder, which the portal's image
# leaves out (.dockerignore):
#
#   docker build -f portal/devstack/entra-standin.Dockerfile portal/devstack

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE}
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir oidc-provider-mock
COPY tenant.py /app/tenant.py
WORKDIR /app
USER nobody
EXPOSE 9400
# The demo tenant's users, with their Entra-shaped claims, as in `make demo`.
CMD ["/opt/venv/bin/python", "-c", "import json, os; import tenant; argv = ['oidc-provider-mock', '--host', '0.0.0.0', '--port', '9400', '--require-nonce', 'true']; [argv.extend(['--user-claims', json.dumps({'sub': u.name, **u.claims()})]) for u in tenant.USERS.values()]; os.execv('/opt/venv/bin/oidc-provider-mock', argv)"]

# dsign web and worker image: one image, two commands (gunicorn for web, `manage.py qcluster` for workers).
# Configuration comes from the environment (README, "Configuration"); secrets from *_FILE (Docker secrets).

# --- front-end libraries (pdf.js, htmx), pinned by package-lock.json -----------------
FROM python:3.11-slim-bookworm AS static
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/lib.sh scripts/install-node.sh scripts/install-static.sh scripts/
# Debian 12's Node.js is 18; pdf.js wants 22 (installed from npm's registry under .tools/node).
RUN mkdir -p static && bash scripts/install-node.sh && bash scripts/install-static.sh

# --- the application ----------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DSIGN_VAR_DIR=/var/lib/dsign STATIC_ROOT=/app/staticfiles PATH=/app/.venv/bin:$PATH
# Runtime packages of scripts/install-system-packages.sh; the test-only ones (slapd, ldap-utils, chromium,
# chromium-driver, libnss3-tools, poppler-utils, the PostgreSQL and Redis servers) are left out.
# postgresql-client is for manage.py backup/restore; softhsm2 stays for the embedded token; a network HSM's
# PKCS#11 module is mounted in and named by PKCS11_MODULE.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libldap2-dev libsasl2-dev gcc \
        softhsm2 opensc \
        fonts-thai-tlwg fonts-tlwg-laksaman-ttf libharfbuzz-subset0 \
        libpango-1.0-0 libpangoft2-1.0-0 \
        postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN python -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt \
    && apt-get purge -y --auto-remove gcc
COPY . .
COPY --from=static /app/static/vendor static/vendor
RUN DSIGN_VAR_DIR=/tmp/collect python manage.py collectstatic --noinput -v0 && rm -rf /tmp/collect \
    && useradd --system --uid 10001 --home-dir /var/lib/dsign --create-home dsign \
    && chown -R dsign:dsign /var/lib/dsign
USER dsign
VOLUME /var/lib/dsign
EXPOSE 8000
# Liveness for plain `docker run` (compose sets the same): /healthz answers any Host, no login.
HEALTHCHECK --interval=15s --timeout=10s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': 'healthcheck'}), timeout=5)"]
CMD ["gunicorn", "-c", "python:dsign.gunicorn_conf", "dsign.wsgi:application", "--bind", "0.0.0.0:8000", \
     "--workers", "2", "--threads", "4", "--timeout", "120", "--no-control-socket"]

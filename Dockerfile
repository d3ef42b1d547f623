# Harbor Fleet image: `docker build -t harbor-fleet .`
#
# The image expects an external PostgreSQL: pass HARBOR_DATABASE_URL. Without it, `serve` starts the
# embedded PostgreSQL (pgserver) in HARBOR_DATA_DIR inside the container, which is gone with the container
# unless that folder is a volume, and which several containers cannot share. See deploy/README.md.
#
#   docker run --rm -p 8000:8000 -e HARBOR_DATABASE_URL=postgresql://harbor:...@db:5432/harbor harbor-fleet
#   docker run --rm -e HARBOR_DATABASE_URL=... harbor-fleet migrate     # before shifting traffic to a release

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build: the project as a wheel, installed with its pinned dependencies into a virtual environment.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
RUN python -m venv /opt/harbor-fleet
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/harbor-fleet/bin/pip wheel --no-deps --wheel-dir /build/dist . \
 && /opt/harbor-fleet/bin/pip install /build/dist/harbor_fleet-*.whl

# Runtime: the same base image, the virtual environment alone, an unprivileged user.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 harbor \
 && useradd --system --uid 10001 --gid harbor --home-dir /var/lib/harbor-fleet --create-home \
      --shell /usr/sbin/nologin harbor
COPY --from=build /opt/harbor-fleet /opt/harbor-fleet
ENV PATH=/opt/harbor-fleet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HARBOR_DATA_DIR=/var/lib/harbor-fleet/data
USER harbor
WORKDIR /var/lib/harbor-fleet
EXPOSE 8000
# SIGTERM drains: in-flight requests finish, the writer flushes, live streams close with 1012, all within
# HARBOR_SHUTDOWN_TIMEOUT (10 s): give `docker stop` more than that (`--time 15`; compose: stop_grace_period).
STOPSIGNAL SIGTERM
# Liveness only (/health); a load balancer should route on /ready (database, schema, bus).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
ENTRYPOINT ["harbor-fleet"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

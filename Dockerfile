# syntax=docker/dockerfile:1
#
# masterplan's service image: `docker build -t masterplan .` then `docker run -p 8080:8080 masterplan`.
# The builder stage installs the locked dependencies (requirements.lock: exact versions with hashes) and masterplan's
# wheel into a virtualenv; the runtime stage copies only that virtualenv onto a slim Python with git (every run's
# workspace is a git repo) and bubblewrap (every check runs in its sandbox; required here, see docs/sandbox.md: the
# container needs a seccomp profile that lets it create user namespaces, e.g. --security-opt seccomp=unconfined).

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/masterplan
COPY pyproject.toml README.md requirements.lock ./
RUN /opt/masterplan/bin/pip install -r requirements.lock
COPY masterplan ./masterplan
RUN /opt/masterplan/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/masterplan/bin/pip install --no-deps /wheels/*.whl

FROM python:3.11-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends git bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin masterplan \
    && mkdir -p /data \
    && chown masterplan:masterplan /data
COPY --from=builder /opt/masterplan /opt/masterplan
ENV PATH=/opt/masterplan/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MASTERPLAN_DATABASE_URL=sqlite:///data/masterplan.db \
    MASTERPLAN_WORKSPACE_ROOT=/data/workspaces \
    MASTERPLAN_SANDBOX=required \
    MASTERPLAN_LOG_FORMAT=json
USER masterplan
WORKDIR /home/masterplan
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
ENTRYPOINT ["masterplan"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]

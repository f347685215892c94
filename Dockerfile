# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY masterplan ./masterplan
RUN python -m venv /opt/masterplan && /opt/masterplan/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 masterplan \
    && apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/masterplan /opt/masterplan
ENV PATH=/opt/masterplan/bin:$PATH \
    MASTERPLAN_DATABASE_URL=sqlite:///home/masterplan/data/masterplan.db \
    MASTERPLAN_WORKSPACE_ROOT=/home/masterplan/data/workspaces
USER masterplan
WORKDIR /home/masterplan
ENTRYPOINT ["masterplan"]
CMD ["migrate"]

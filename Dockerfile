# mura-bench scoring images (no torch).
#
#   docker build -t mura-bench:0.1.0 .                                   # Codabench scoring image
#   docker build --target medperf -t mura-bench-medperf:0.1.0 .          # MedPerf evaluator
#
# Dependencies are installed from requirements.lock: the runtime dependency versions the test suite
# ran with (tools/lock_runtime_requirements.py writes it), then mura-bench without dependencies.
# Codabench's workers pull the image on every run: push it to a public registry, built for
# linux/amd64 (docker buildx build --platform linux/amd64 ...), and export the bundle with its name.
#
# The Codabench image runs the bundle's scoring program
# (python3 /app/program/score.py /app/input /app/output); the MedPerf image's entry point is
# `mura-bench medperf evaluate`, which reads MedPerf's fixed mounts when given no arguments.

FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib
COPY requirements.lock pyproject.toml README.md LICENSE /src/
COPY mura_bench /src/mura_bench
RUN pip install --no-deps -r /src/requirements.lock \
    && pip install --no-deps /src \
    && pip check \
    && rm -rf /src && mura-bench --version
LABEL org.opencontainers.image.title="mura-bench" \
      org.opencontainers.image.description="MURA benchmark harness: scoring for Codabench and MedPerf" \
      org.opencontainers.image.licenses="MIT"

# MedPerf evaluator: non-root, no network needed, writes only its results file and /tmp.
FROM base AS medperf
RUN useradd --uid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin mura
ENV HOME=/tmp
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["mura-bench", "medperf", "evaluate"]

# Codabench scoring image (the default target). Codabench chooses the command from the bundle's
# scoring_program/metadata.yaml and the user from its worker configuration.
FROM base AS codabench
WORKDIR /app/program
CMD ["mura-bench", "--help"]

# syntax=docker/dockerfile:1
# SyncDub image: Debian's ffmpeg, the pinned requirements, the bundled Whisper base model
# joined at build time, a non-root user, gunicorn through ./start.sh serve.
#
#   docker build -t syncdub:cpu .                                   # CPU
#   docker build --build-arg VARIANT=cuda -t syncdub:cuda .         # NVIDIA GPU
#
# Both variants share one base (python:3.11-slim, Debian 12 ffmpeg), so the CPU and GPU
# images run the same Python and the same ffmpeg and give the same results. The cuda
# variant adds NVIDIA's cuBLAS 12 runtime (the only CUDA library the CTranslate2 wheel
# loads; the driver, libcuda.so.1, comes from the host through the NVIDIA container
# toolkit). Not built on the machine this was written on (no Docker engine there).

ARG VARIANT=cpu

FROM python:3.11-slim-bookworm AS base
# HF_HUB_OFFLINE: weights are bundled or put in MODELS_DIR, never fetched at run time.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    PATH=/app/.venv/bin:$PATH
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The launcher builds .venv from the pinned requirements exactly as a native install does
# (and writes the stamp that makes `./start.sh serve` skip setup at run time).
COPY start.sh requirements*.txt ./
RUN ./start.sh setup

FROM base AS libs-cpu

FROM base AS libs-cuda
# cuBLAS for CUDA 12 (CTranslate2 4.x is built against CUDA 12; no cuDNN needed).
ARG CUBLAS_VERSION=12.4.5.8
RUN /app/.venv/bin/pip install -q "nvidia-cublas-cu12==${CUBLAS_VERSION}"
ENV LD_LIBRARY_PATH=/app/.venv/lib/python3.11/site-packages/nvidia/cublas/lib \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

FROM libs-${VARIANT} AS app
ARG PUID=1000
ARG PGID=1000
COPY . .
# The bundled model, joined by the same code that joins it at run time (size checked);
# then the folders the app writes, owned by the runtime user.
RUN python -c "from pathlib import Path; from app.services.transcribe import ensure_bundled_model; \
assert ensure_bundled_model(Path('/app/models')), 'joining the bundled Whisper model failed'" \
 && groupadd -o -g "${PGID}" syncdub \
 && useradd -o -u "${PUID}" -g "${PGID}" -d /home/syncdub -m -s /usr/sbin/nologin syncdub \
 && mkdir -p uploads output data media \
 && chown -R "${PUID}:${PGID}" uploads output models data
USER ${PUID}:${PGID}
ENV APP_HOST=0.0.0.0 \
    APP_PORT=5000 \
    UPLOADS_DIR=/app/uploads \
    OUTPUT_DIR=/app/output \
    MODELS_DIR=/app/models \
    DATA_DIR=/app/data \
    MEDIA_SOURCE_PATH=/app/media
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/api/health', timeout=8)"]
CMD ["./start.sh", "serve"]

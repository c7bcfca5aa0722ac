# lunge's node image: the same environment variables as Wallarm FAST's node (CI_MODE, BUILD_ID,
# TEST_RECORD_*, TEST_RUN_*, ALLOWED_HOSTS, WORKERS, ...), so a FAST pipeline moves by changing the image.
#
#   docker build -t lunge .
#   docker run -d --name lunge-rec -p 8080:8080 -e CI_MODE=recording -e BUILD_ID=42 -v lunge-data:/var/lib/lunge lunge
#   ... run the functional tests through http://localhost:8080, then: docker stop lunge-rec
#   docker run --rm -e CI_MODE=testing -e BUILD_ID=42 -e TEST_RUN_URI=http://app:3000 \
#       -v lunge-data:/var/lib/lunge -v "$PWD/reports:/opt/reports" lunge      # exit 0 passed, 1 failed, 2 bad config
#
# FAST recreates the container when the mode changes: the store and the proxy's CA live in the data
# volume (/var/lib/lunge), so the testing container finds what the recording one stored.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# tini is PID 1: it forwards SIGTERM/SIGINT to lunge (which stores everything recorded before it stops)
# and reaps the worker processes of PROCESSES > 1.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/lunge-src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[postgres]" && rm -rf /opt/lunge-src

COPY docker/entrypoint.sh /usr/local/bin/lunge-entrypoint
RUN chmod 0755 /usr/local/bin/lunge-entrypoint && mkdir -p /var/lib/lunge /opt/reports

# FAST's paths: reports in /opt/reports; lunge's data (SQLite store, CA) in /var/lib/lunge.
# The proxy listens on every interface of the container (it is published with -p 8080:8080).
# Root by default as FAST's image, so bind-mounted report directories Docker created are writable;
# --user works too when the mounted directories belong to that user.
ENV LUNGE_DATA_DIR=/var/lib/lunge \
    REPORT_DIR=/opt/reports \
    PROXY_PORT=8080 \
    LUNGE_PROXY_BIND=0.0.0.0

VOLUME ["/var/lib/lunge", "/opt/reports"]
EXPOSE 8080
WORKDIR /opt
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/lunge-entrypoint"]

# syntax=docker/dockerfile:1
# s2p in a container: s2p.pyz is built in a first stage and run by a slim
# CPython as a non-root user.
#
#   docker build -t s2p .
#   docker run -d --name s2p -p 8008:8008 -v s2p-state:/state \
#     -e S2P_STASH_URL=http://192.168.1.10:9999 -e S2P_STASH_API_KEY=... s2p
#
# Configuration is by S2P_<SECTION>_<KEY> variables (see s2p.toml.example),
# or a file mounted at S2P_CONFIG.  State lives in the /state volume.  For
# byte-for-byte repeatable images, pin both FROM lines by digest.
# PYTHON_MINOR, not PYTHON_VERSION: the python images set that variable
# themselves, and an image's ENV wins over a build argument.
ARG PYTHON_MINOR=3.12

FROM python:${PYTHON_MINOR}-slim-bookworm AS build
ARG PYTHON_MINOR
WORKDIR /src
COPY build_zipapp.py requirements.lock LICENSE ./
COPY bundle/ bundle/
COPY s2p/ s2p/
# Native modules only for this image's CPython: a smaller archive.
RUN python3 build_zipapp.py --python "${PYTHON_MINOR}" --output /out/s2p.pyz

FROM python:${PYTHON_MINOR}-slim-bookworm
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin s2p \
 && mkdir -p /state \
 && chown s2p:s2p /state
COPY --from=build --chmod=0644 /out/s2p.pyz /opt/s2p/s2p.pyz
ENV S2P_CACHE_DIR=/opt/s2p/cache \
    S2P_STATE_DIR=/state \
    S2P_SERVER_HOST=0.0.0.0 \
    S2P_SERVER_PORT=8008
# Unpack and byte-compile at build time: every start is warm, and the root
# filesystem may be mounted read-only.
RUN python3 -I /opt/s2p/s2p.pyz prepare
USER s2p
VOLUME /state
EXPOSE 8008
# No curl in the image: Python asks /healthz, which answers 200 while s2p
# runs (even when Stash is down: that is reported in the body).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-I", "-c", "import os, sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('S2P_SERVER_PORT', '8008'), timeout=4).status == 200 else 1)"]
ENTRYPOINT ["python3", "-I", "/opt/s2p/s2p.pyz"]
CMD ["serve"]

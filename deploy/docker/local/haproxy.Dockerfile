# An HAProxy image built without Docker Hub, from Debian's package (bookworm: 2.6).
# It stands in for haproxy:2.9-alpine in compose.partitioned.yml (HAPROXY_IMAGE): it
# reads /usr/local/etc/haproxy/haproxy.cfg and runs as user haproxy in the
# foreground, as the official image does.
#
#   podman build -f deploy/docker/local/haproxy.Dockerfile \
#     --build-arg BASE_IMAGE=localhost/debian:bookworm-minbase -t localhost/haproxy:local deploy/docker/local
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/*
USER haproxy
EXPOSE 8080
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]

# A Prometheus image built without Docker Hub, from Debian's package (bookworm:
# 2.42). It stands in for prom/prometheus in the compose files (PROMETHEUS_IMAGE):
# the binary is the entrypoint and it runs as `nobody` in /prometheus, as the
# official image does, so the compose `command:` and volume work unchanged; wget is
# there for the health check.
#
#   podman build -f deploy/docker/local/prometheus.Dockerfile \
#     --build-arg BASE_IMAGE=localhost/debian:bookworm-minbase -t localhost/prometheus:local deploy/docker/local
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus wget \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o nobody -g nogroup -m 0755 /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]

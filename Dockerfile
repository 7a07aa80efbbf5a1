# Lightning DB container image: static binaries (CGO_ENABLED=0) on an empty
# base, run as a non-root user, data in a volume, with a HEALTHCHECK that
# the binary itself answers (the image has no shell or curl).
#
#   docker build -t lightning-db .        # or: podman build -t lightning-db .
#   docker run -d -p 8086:8086 -p 1883:1883 -v ldb-data:/var/lib/lightning-db lightning-db
#
# GO_IMAGE is the build stage's image: any image with Go (the version in
# go.mod or newer) and a POSIX shell. Offline, build one from the host's
# toolchain and mount the module cache (deploy/container/build-offline.sh).
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
# Empty means Go's default; set GOPROXY=off (with the module cache mounted
# at /go/pkg/mod) to build without network.
ARG GOPROXY
ARG GOFLAGS
ARG VERSION=dev
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags "-s -w" -o /out/lightning-db ./cmd/lightning-db \
 && go build -trimpath -ldflags "-s -w" -o /out/lightning-admin ./cmd/lightning-admin \
 && go build -trimpath -ldflags "-s -w" -o /out/lightning-cli ./cmd/lightning-cli \
 && mkdir -p /out/data /out/etc \
 && cp deploy/container/lightning-db.yaml /out/etc/lightning-db.yaml \
 && echo "lightningdb:x:65532:65532:Lightning DB:/var/lib/lightning-db:/sbin/nologin" > /out/etc/passwd \
 && echo "lightningdb:x:65532:" > /out/etc/group

FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="Lightning DB" \
      org.opencontainers.image.description="Time-series database: InfluxDB line protocol, Prometheus remote write, MQTT, PromQL" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/etc/passwd /out/etc/group /etc/
COPY --from=build /out/etc/lightning-db.yaml /etc/lightning-db/lightning-db.yaml
COPY --from=build /out/lightning-db /out/lightning-admin /out/lightning-cli /usr/bin/
COPY --from=build --chown=65532:65532 /out/data /var/lib/lightning-db
USER 65532:65532
VOLUME ["/var/lib/lightning-db"]
# 8086: HTTP (line protocol, remote write, PromQL, /metrics); 1883: MQTT.
EXPOSE 8086 1883
# The probe's URL; set it when http_addr moves off 8086 or to https.
ENV LIGHTNINGDB_HEALTH_URL=http://127.0.0.1:8086/health
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/bin/lightning-db", "healthcheck"]
STOPSIGNAL SIGTERM
WORKDIR /var/lib/lightning-db
# Arguments after the image name are flags; they win over the file.
ENTRYPOINT ["/usr/bin/lightning-db", "--config", "/etc/lightning-db/lightning-db.yaml"]

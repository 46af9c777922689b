# syntax=docker/dockerfile:1
#
# printreg: the ingest worker (and the deid and extract tools) as static
# binaries on a minimal, non-root runtime image.
#
#   docker build -t printreg/ingest:dev --build-arg VERSION=$(git describe --always) .
#   docker run --rm printreg/ingest:dev --version
#
# deploy/compose.yaml runs it with MinIO and a three-node NATS JetStream
# cluster; docs/operations.md, section 13, covers installation.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Static (no cgo), reproducible paths, no VCS stamp (.git is not sent to the
# build); the version is set as `ingest --version` prints it.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X github.com/printreg/printreg/internal/cli.Version=${VERSION}" \
        -o /out/ ./cmd/ingest ./cmd/deid ./cmd/extract \
    && mkdir -p /out/data

# distroless/static: CA certificates (S3 and NATS over TLS), tzdata, an
# /etc/passwd with the unprivileged user nonroot (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ingest /out/deid /out/extract /usr/local/bin/
# The data folder: owned by the runtime user, so a named volume mounted on
# it starts out writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV PRINTREG_DATA_DIR=/data
VOLUME ["/data"]
# 9464: admin (/metrics, /livez, /readyz); 11112: DICOM C-STORE (ingest receive).
EXPOSE 9464 11112
ENTRYPOINT ["/usr/local/bin/ingest"]
CMD ["run"]

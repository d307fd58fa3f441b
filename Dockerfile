# syntax=docker/dockerfile:1
#
# exchops as a small, non-root image holding one static binary.
#
#   docker build -t exchops .       (or: make docker)
#   docker run -p 8080:8080 -v exchops-data:/var/lib/exchops \
#     -v "$PWD/exchops.yaml:/etc/exchops/exchops.yaml:ro" \
#     -e SLACK_SIGNING_SECRET -e SLACK_BOT_TOKEN -e WINRM_PASSWORD exchops
#
# dockerfile_test.go checks the facts below that the rest of exchops depends on.

ARG GO_VERSION=1.26

# Build on the machine's own platform and cross-compile: Go needs no emulation for that.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that a change to the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
# CGO_ENABLED=0: a static binary, which the final image (no libc) needs; modernc.org/sqlite
# is pure Go, so nothing is lost.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/exchops . \
 && mkdir -p /out/data

# distroless/static has CA certificates (WinRM over HTTPS, the Slack and Discord APIs),
# the time zone database (schedules' timezone:), /etc/passwd with the "nonroot" user
# (65532), and no shell. Without a shell or curl there is no HEALTHCHECK here: let the
# orchestrator probe GET /healthz on port 8080 instead.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/exchops /exchops
# The SQLite database's folder (config.Default().Database is /var/lib/exchops/exchops.db),
# owned by the user exchops runs as: a new volume starts with this owner.
COPY --from=build --chown=65532:65532 /out/data /var/lib/exchops
VOLUME /var/lib/exchops
USER 65532:65532
# The default listen address is 127.0.0.1:8080, unreachable from outside a container.
ENV EXCHOPS_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/exchops"]
CMD ["serve", "--config", "/etc/exchops/exchops.yaml"]

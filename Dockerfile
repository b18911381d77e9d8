# Build a static binary, then ship it alone on a distroless non-root base.
#
# Both bases are pinned by digest, as the service pins the images of the
# pipelines it converts: a rebuild of one commit gets the same bases. The
# digests are of the multi-platform indexes; refresh them together with
# the Go version (dockerfile_test.go checks the pins and that the Go
# version covers go.mod), e.g.
#   crane digest golang:1.26.8-bookworm
#   crane digest gcr.io/distroless/static-debian12:nonroot
ARG GO_IMAGE=golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/drone-convert-eci .
# The admission webhook's static loader, copied into ECI pods by an init
# container running this same image (docs/how-it-works.md "Admission webhook").
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/eci-env-loader ./cmd/eci-env-loader

FROM ${BASE_IMAGE}
COPY --from=build /out/drone-convert-eci /bin/drone-convert-eci
COPY --from=build /out/eci-env-loader /eci-env-loader
USER 65532:65532
EXPOSE 3000
ENTRYPOINT ["/bin/drone-convert-eci"]
CMD ["serve"]

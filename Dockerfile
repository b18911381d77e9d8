# Build a static binary, then ship it alone on a distroless non-root base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/drone-convert-eci .
# The admission webhook's static loader, copied into ECI pods by an init
# container running this same image (docs/how-it-works.md "Admission webhook").
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/eci-env-loader ./cmd/eci-env-loader

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/drone-convert-eci /bin/drone-convert-eci
COPY --from=build /out/eci-env-loader /eci-env-loader
USER 65532:65532
EXPOSE 3000
ENTRYPOINT ["/bin/drone-convert-eci"]
CMD ["serve"]

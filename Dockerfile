# Build a static binary, then ship it alone on a distroless non-root base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/drone-convert-eci .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/drone-convert-eci /bin/drone-convert-eci
USER 65532:65532
EXPOSE 3000
ENTRYPOINT ["/bin/drone-convert-eci"]
CMD ["serve"]

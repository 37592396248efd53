# Targetym Integrations: a release build in a Rust image, run from a slim Debian image as a
# non-root user. Build:   docker build -t targetym-integrations .
# Run (see compose.yaml and README "Production install" for PostgreSQL and two instances):
#   docker run -p 8080:8080 -v targetym-data:/data \
#     -e PUBLIC_URL=https://hub.example.com \
#     -e INTEGRATION_ENCRYPTION_KEY=$(openssl rand -hex 32) -e SESSION_KEY=$(openssl rand -hex 64) \
#     targetym-integrations
# APP_ENV=production: without INTEGRATION_ENCRYPTION_KEY, SESSION_KEY and an https PUBLIC_URL
# the container stops at start with a message naming the missing variable, instead of
# generating keys into the container (a new key at each start would make every stored token
# unreadable).

ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim
# Where the binary comes from: "build" compiles it below; "prebuilt" takes the file
# ./targetym-integrations from the build context (CI builds the image from the binary it has
# already built: deploy/image-test.sh).
ARG BINARY_FROM=build

FROM ${RUST_IMAGE} AS build
# Bundled SQLite and libpq, vendored OpenSSL: a C compiler, make and perl, no -dev packages.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make perl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin targetym-integrations \
 && install -D -m 0755 target/release/targetym-integrations /out/targetym-integrations

FROM ${RUNTIME_IMAGE} AS prebuilt
COPY targetym-integrations /out/targetym-integrations

FROM ${BINARY_FROM} AS binary

FROM ${RUNTIME_IMAGE}
# The binary links only libc, libm and libgcc_s (SQLite, libpq and OpenSSL are built in; TLS
# roots come with rustls), all in the base image: no extra package.
RUN groupadd --gid 10001 targetym \
 && useradd --uid 10001 --gid targetym --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin targetym \
 && install -d -m 0700 -o targetym -g targetym /data
COPY --from=binary --chmod=0755 /out/targetym-integrations /usr/local/bin/targetym-integrations

# DATA_DIR holds the SQLite database (DATABASE_URL defaults to $DATA_DIR/targetym.sqlite3);
# set DATABASE_URL=postgres://... to use PostgreSQL instead.
ENV APP_ENV=production \
    DATA_DIR=/data \
    BIND_ADDR=0.0.0.0:8080 \
    RUST_LOG=info
VOLUME /data
WORKDIR /data
USER targetym:targetym
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["targetym-integrations", "healthcheck"]
ENTRYPOINT ["targetym-integrations"]
CMD ["serve"]

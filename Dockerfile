# The sa-benefits binary in a small image. Build: docker build -t sa-benefits .
# libpq and OpenSSL are compiled into the binary (pq-sys `bundled`, openssl-sys `vendored`):
# the runtime image needs neither.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# The dependencies first, in a layer of their own: rebuilt only when a manifest, the lock file
# or the build configuration changes, not with every change of the code.
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY domain/Cargo.toml domain/
COPY persistence/Cargo.toml persistence/
COPY openapi/Cargo.toml openapi/
COPY api/Cargo.toml api/
COPY tests/Cargo.toml tests/
RUN for crate in domain persistence openapi tests; do mkdir -p $crate/src && touch $crate/src/lib.rs; done \
    && mkdir -p api/src && touch api/src/lib.rs && echo 'fn main() {}' > api/src/main.rs \
    && cargo build --release --locked -p api \
    && rm -rf domain/src persistence/src openapi/src api/src tests/src
COPY . .
# COPY keeps the files' own times, older than the placeholder build: touch them so cargo
# rebuilds the workspace's crates.
RUN find domain persistence openapi api -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p api \
    && strip target/release/sa-benefits \
    && cp target/release/sa-benefits /usr/local/bin/sa-benefits

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/sa-benefits --create-home sa-benefits
COPY --from=build /usr/local/bin/sa-benefits /usr/local/bin/sa-benefits
USER sa-benefits
WORKDIR /var/lib/sa-benefits
ENV BIND_ADDR=0.0.0.0:8080
# The compiled-in OpenSSL reads the system's authorities from here (sslrootcert=system).
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/health/ready || exit 1
ENTRYPOINT ["sa-benefits"]
CMD ["serve"]

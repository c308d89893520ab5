# The sa-benefits binary in a small image. Build: docker build -t sa-benefits .
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p api && cp target/release/sa-benefits /usr/local/bin/sa-benefits

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates curl && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/sa-benefits --create-home sa-benefits
COPY --from=build /usr/local/bin/sa-benefits /usr/local/bin/sa-benefits
USER sa-benefits
WORKDIR /var/lib/sa-benefits
ENV BIND_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/health/ready || exit 1
ENTRYPOINT ["sa-benefits"]
CMD ["serve"]

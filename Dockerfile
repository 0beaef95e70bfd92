# syntax=docker/dockerfile:1
# natter: one binary that runs every role (`natter up`) or one role each.

# ---- build ----
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Cache the registry and target dir between builds; copy the binary out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p natter \
 && cp target/release/natter /usr/local/bin/natter

# ---- runtime ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates wget \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /usr/local/bin/natter /usr/local/bin/natter
# Run unprivileged; the working directory is writable for anything kept on local disk.
RUN useradd --system --create-home --home-dir /var/lib/natter --shell /usr/sbin/nologin natter
USER natter
WORKDIR /var/lib/natter
EXPOSE 8080
ENTRYPOINT ["natter"]
CMD ["up"]

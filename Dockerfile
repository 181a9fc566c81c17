# Builds Strata's three binaries (strata-server, strata-scheduler,
# strata-executor) and ships them in one slim runtime image; each compose
# service picks its binary with `command:`.
#
#   docker build -t strata .

# --- build -------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so a source change does not rebuild them: a copy of
# the manifests with empty crate roots.
COPY Cargo.toml Cargo.lock ./
COPY connectors/Cargo.toml connectors/
COPY scheduler/Cargo.toml scheduler/
COPY executor/Cargo.toml executor/
COPY server/Cargo.toml server/
COPY sql-tests/Cargo.toml sql-tests/
RUN for crate in connectors scheduler executor server sql-tests; do \
        mkdir -p $crate/src $crate/src/bin $crate/tests; \
        echo 'fn main() {}' > $crate/src/main.rs; touch $crate/src/lib.rs; \
    done \
    && echo 'fn main() {}' > sql-tests/src/bin/strata-slt.rs \
    && for t in slt clients cluster deploy protocol; do echo 'fn main() {}' > sql-tests/tests/$t.rs; done \
    && cargo build --release --locked -p strata-server -p strata-scheduler -p strata-executor \
    ; rm -rf connectors scheduler executor server sql-tests
COPY . .
# Touch the crate roots so cargo rebuilds them over the placeholders.
RUN touch connectors/src/lib.rs scheduler/src/lib.rs executor/src/lib.rs server/src/lib.rs \
        scheduler/src/main.rs executor/src/main.rs server/src/main.rs \
    && cargo build --release --locked \
        --bin strata-server --bin strata-scheduler --bin strata-executor \
    && mkdir -p /out \
    && cp target/release/strata-server target/release/strata-scheduler \
        target/release/strata-executor /out/

# --- runtime -----------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/strata strata
COPY --from=build /out/ /usr/local/bin/
USER strata
WORKDIR /var/lib/strata
VOLUME ["/var/lib/strata"]
# PostgreSQL protocol (server), scheduler gRPC + REST, executor Flight + gRPC, metrics
EXPOSE 5433 50050 50051 50052 9100
CMD ["strata-server", "--listen", "0.0.0.0:5433", "--data-dir", "/var/lib/strata/data"]

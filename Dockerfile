# scrapegate container image: a static-ish release binary on a minimal, non-root runtime.
# Build:  docker build -t scrapegate .
# The build step is scripts/build-release, the same script CI uses to prove the recipe.

FROM rust:1-bookworm AS build
WORKDIR /src
# aws-lc-rs builds its C code with the image's gcc (no cmake needed).
COPY . .
RUN scripts/build-release

# distroless/cc has glibc and libgcc (the binary needs nothing else), no shell and no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/scrapegate /usr/local/bin/scrapegate
# The gateway writes nothing to disk: it runs with a read-only root filesystem.
USER nonroot:nonroot
EXPOSE 9443 9444
ENTRYPOINT ["/usr/local/bin/scrapegate"]
CMD ["--web.listen-address=:9443", "--web.config.file=/etc/scrapegate/web.yml", "--upstream=http://127.0.0.1:9100"]

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
# No shell and no curl here, so the binary probes itself: `healthcheck` GETs the plain-HTTP,
# unauthenticated health listener, which only runs with --web.health-address (on loopback: the
# probe runs inside the container). A CMD given at `docker run` must keep that flag, or the
# container turns unhealthy. Exec form: there is no shell to run the other one.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/scrapegate", "healthcheck", "--url", "http://127.0.0.1:9444/-/ready", "--timeout", "3s"]
ENTRYPOINT ["/usr/local/bin/scrapegate"]
CMD ["--web.listen-address=:9443", "--web.config.file=/etc/scrapegate/web.yml", "--upstream=http://127.0.0.1:9100", "--web.health-address=127.0.0.1:9444"]

# Builds Caddy with sessiongate using Caddy's builder image, then copies the binary into the
# plain Caddy image:
#   docker build -f xcaddy.Dockerfile -t caddy-sessiongate .
FROM caddy:2.11-builder AS builder
COPY . /src
RUN xcaddy build --with github.com/sessiongate/sessiongate=/src

FROM caddy:2.11
COPY --from=builder /usr/bin/caddy /usr/bin/caddy

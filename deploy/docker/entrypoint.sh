#!/bin/sh
# The image's entrypoint: starts as root only long enough to make the app's private key readable
# by the app user, then runs `livebot "$@"` as that user (uid 10001).
#
# A Compose file secret (/run/secrets/github-app-key) is a bind mount that keeps the host file's
# owner and 0600 mode, so uid 10001 cannot read it; Docker Compose ignores a long-syntax secret's
# uid/gid/mode for file secrets. Root can read it (rootless podman: the host user is root here),
# so it is copied to a 0600 file owned by the app user in a directory only that user can open.
set -eu

APP_USER=livebot
KEY_DIR=/run/livebot

if [ "$(id -u)" != 0 ]; then
    # Started as another user (`docker run --user`, or `-u livebot` on exec): nothing to drop.
    exec livebot "$@"
fi

if [ "${1:-}" = setup ]; then
    # `docker compose run --service-ports setup` writes .env and the app's key into the project
    # folder mounted as the working directory: as that folder's owner, so both stay the host
    # user's (0600), as when `livebot setup` runs on the host (rootless podman: the owner is root).
    owner=$(stat -c %u .)
    group=$(stat -c %g .)
    exec setpriv --reuid="$owner" --regid="$group" --clear-groups --no-new-privs livebot "$@"
fi

key="${GITHUB_PRIVATE_KEY_PATH:-}"
if [ -n "$key" ] && [ -f "$key" ]; then
    mkdir -p "$KEY_DIR"
    chown "$APP_USER:$APP_USER" "$KEY_DIR"
    chmod 0700 "$KEY_DIR"
    install -m 0600 -o "$APP_USER" -g "$APP_USER" "$key" "$KEY_DIR/github-app-key"
    GITHUB_PRIVATE_KEY_PATH="$KEY_DIR/github-app-key"
    export GITHUB_PRIVATE_KEY_PATH
fi

# setpriv (util-linux, in Debian slim): the app user's uid, gid and groups, no way back to root.
exec setpriv --reuid="$APP_USER" --regid="$APP_USER" --init-groups --no-new-privs \
    livebot "$@"

#!/usr/bin/env bash
# Make sure the local PostgreSQL (127.0.0.1:5432, trust auth) answers before the tests run.
# Installed but stopped: start it. Not installed: say so; the PostgreSQL tests will skip with
# that reason (and fail in CI, where PostgreSQL is part of the machine).
set -u
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! command -v pg_isready >/dev/null 2>&1; then
  echo "ensure-postgres: PostgreSQL client tools not found; PostgreSQL tests will be skipped" >&2
  exit 0
fi
ready && exit 0
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    echo "ensure-postgres: starting PostgreSQL $version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
fi
echo "ensure-postgres: no PostgreSQL answers on 127.0.0.1:5432; PostgreSQL tests will be skipped" >&2
exit 0

#!/usr/bin/env bash
# Checks compose.yaml without starting it (no registry here for the postgres image): Debian's
# docker-compose validates it against the Compose schema and resolves it with .env.example as
# the .env, then the resolved file is checked for what the deployment relies on: PostgreSQL
# with a healthcheck, two app instances on the same database with their own host ports and a
# healthcheck, the same key files from one named volume, and no start without a
# POSTGRES_PASSWORD.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp compose.yaml "$work/"
cp .env.example "$work/.env"
if (cd "$work" && docker-compose -f compose.yaml config -q) 2>/dev/null; then
  echo "compose.yaml resolved without POSTGRES_PASSWORD" >&2
  exit 1
fi
sed -i 's/^POSTGRES_PASSWORD=$/POSTGRES_PASSWORD=ci-password/' "$work/.env"
(cd "$work" && docker-compose -f compose.yaml config) > "$work/resolved.yaml"
python3 - "$work/resolved.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
services = doc["services"]
assert set(services) == {"db", "keys", "app-1", "app-2"}, set(services)
assert services["db"]["image"].startswith("postgres:"), services["db"]["image"]
assert "pg_isready" in services["db"]["healthcheck"]["test"]
assert "keys" in doc["volumes"] and "pgdata" in doc["volumes"]
apps = [services["app-1"], services["app-2"]]
urls = {app["environment"]["DATABASE_URL"] for app in apps}
assert len(urls) == 1 and urls.pop().startswith("postgres://targetym:ci-password@db:5432/"), urls
host_ports = set()
for app in apps:
    env = app["environment"]
    assert env["APP_ENV"] == "production" and env["BIND_ADDR"] == "0.0.0.0:8080"
    assert app["healthcheck"]["test"] == ["CMD", "targetym-integrations", "healthcheck"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["depends_on"]["keys"]["condition"] == "service_completed_successfully"
    assert "keys:/run/targetym-keys:ro" in app["volumes"], app["volumes"]
    for name in ("INTEGRATION_ENCRYPTION_KEY_FILE", "SESSION_KEY_FILE"):
        assert env[name].startswith("/run/targetym-keys/"), (name, env[name])
        assert not env.get(name[: -len("_FILE")]), f"{name[:-5]} set beside its file"
    host_ports |= {p.split(":")[1] for p in app["ports"]}
assert host_ports == {"8081", "8082"}, host_ports
for name in ("INTEGRATION_ENCRYPTION_KEY_FILE", "SESSION_KEY_FILE"):
    assert apps[0]["environment"][name] == apps[1]["environment"][name], name
assert any(v.startswith("keys:/run/targetym-keys") for v in services["keys"]["volumes"])
print("compose.yaml: db, keys, app-1 (8081) and app-2 (8082) on one database and one key volume")
PY

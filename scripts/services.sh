#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis that the tests talk to are answering, starting each
# one that is not (the machine's own services; see README "Two commands").
set -euo pipefail

pg_host=${EVALSERVER_TEST_PG_HOST:-127.0.0.1}
redis_port=${EVALSERVER_TEST_REDIS_PORT:-6379}

wait_for() {
  local what=$1 check=$2
  for _ in $(seq 1 60); do
    if eval "$check" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "services: $what did not answer after 30 s" >&2
  return 1
}

if ! pg_isready -q -h "$pg_host" -p 5432; then
  echo "services: starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
  fi
  wait_for PostgreSQL "pg_isready -q -h $pg_host -p 5432"
fi

if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$redis_port" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis "redis-cli -h 127.0.0.1 -p $redis_port ping | grep -q PONG"
fi
echo "services: PostgreSQL and Redis are answering"

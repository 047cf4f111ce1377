#!/usr/bin/env bash
# Make sure the servers the scale-out tests talk to are up on 127.0.0.1, starting any that
# is down with the command this machine's services use. In CI (CI=true) a server that
# cannot be reached is a failure; elsewhere it is a warning and its tests skip.
set -u

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  case "$1" in
    postgresql) pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start ;;
    nats) start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
            -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log ;;
    mosquitto) mosquitto -d -c /etc/mosquitto/mosquitto.conf ;;
    redis) redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
             --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log ;;
  esac
}

failed=0
for entry in postgresql:5432 nats:4222 mosquitto:1883 redis:6379; do
  name=${entry%%:*}; port=${entry##*:}
  if ! port_open "$port"; then
    echo "services: $name not answering on 127.0.0.1:$port, starting it" >&2
    start "$name" >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do port_open "$port" && break; sleep 0.2; done
  fi
  if port_open "$port"; then
    echo "services: $name up on 127.0.0.1:$port"
  else
    echo "services: $name unreachable on 127.0.0.1:$port" >&2
    failed=1
  fi
done
if [ "$failed" = 1 ] && [ "${CI:-}" = "true" ]; then
  echo "services: a required server is unreachable in CI" >&2
  exit 1
fi
exit 0

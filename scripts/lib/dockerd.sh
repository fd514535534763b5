# shellcheck shell=bash
# ensure_dockerd: make sure a Docker engine answers on /var/run/docker.sock (or $DOCKER_HOST).
# Machines here have no systemd as PID 1: start dockerd in the background when none answers.
ensure_dockerd() {
  if docker version >/dev/null 2>&1; then return 0; fi
  if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != "unix:///var/run/docker.sock" ]; then
    echo "dockerd: DOCKER_HOST=${DOCKER_HOST} does not answer" >&2
    return 1
  fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl start docker || true
  fi
  if ! docker version >/dev/null 2>&1; then
    echo "dockerd: starting dockerd --iptables=false --ip6tables=false (log: /var/log/berth-dockerd.log)"
    nohup dockerd --iptables=false --ip6tables=false >/var/log/berth-dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "dockerd: did not answer within 30 s; see /var/log/berth-dockerd.log" >&2
  tail -n 20 /var/log/berth-dockerd.log >&2 || true
  return 1
}

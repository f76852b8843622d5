# benches/lib.sh - sourced by the benchmarks that start the fixtures: the private network namespace
# (the host network with CI_NETNS=none or where namespaces are not permitted), the release build,
# and the fixtures stopped on exit. Needs REPO and BD set and the working directory at the repo.

# bench_netns DEFAULT: exports FIXTURES_NETNS (CI_NETNS, else DEFAULT) when a namespace can be made,
# and defines in_ns to run a command in it (or as is in the host network).
bench_netns() {
  local netns=${CI_NETNS:-$1}
  mkdir -p "$BD"
  if [ "$netns" != none ] && ip netns add "mxray-probe-$$" 2>/dev/null; then
    ip netns del "mxray-probe-$$"
    export FIXTURES_NETNS=$netns
    in_ns() { ip netns exec "$FIXTURES_NETNS" "$@"; }
  else
    unset FIXTURES_NETNS
    in_ns() { "$@"; }
  fi
}

# bench_build: the release binary (unless MXRAY_SKIP_BUILD=1, log in $BD/build.log), and a trap that
# stops the fixtures by PID on exit.
bench_build() {
  if [ "${MXRAY_SKIP_BUILD:-0}" != 1 ]; then cargo build --release --bin mxray >"$BD/build.log" 2>&1; fi
  trap 'bash "$REPO/tests/fixtures/down.sh" >/dev/null 2>&1 || true' EXIT
}

# bench_up: the fixtures started afresh (what an earlier run left is stopped first, by PID) and
# their addresses (MXRAY_TEST_*) set in this shell.
bench_up() {
  bash tests/fixtures/down.sh >/dev/null 2>&1 || true
  bash tests/fixtures/up.sh >"$BD/up.log" 2>&1 || { tail -20 "$BD/up.log"; exit 1; }
  # shellcheck disable=SC1091
  . "$FIXTURES_DIR/run/env"
}

"""Session fixtures for the end-to-end tests: one mock-upstream, frugal instances per config.

See support.py for how processes are started and configurations written.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from support import (
    all_processes,
    MAIN_BASELINE,
    MAIN_MODELS,
    MAIN_TIERS,
    MOCK_BIN,
    SECRET_MARKERS,
    FRUGAL_BIN,
    Frugal,
    Mock,
    frugal_env,
    render_config,
    start_process,
)


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="session")
def mock(log_dir: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    env.setdefault("RUST_LOG", "info")
    env["NO_COLOR"] = "1"
    proc = start_process("mock-upstream", [str(MOCK_BIN), "--port", "0", "--log-raw-bodies"], env, log_dir, "mock-upstream listening on")
    yield Mock(proc)
    proc.stop()


@pytest.fixture(autouse=True)
def _clean_mock_log(request: pytest.FixtureRequest):
    """Each test starts with an empty upstream request log (when it uses the mock)."""
    if "mock" in request.fixturenames:
        request.getfixturevalue("mock").clear()
    yield


@pytest.fixture(scope="session")
def frugal_instance(mock: Mock, log_dir: Path):
    """`frugal_instance(name, config_text)`: start (once) a frugal with that config."""
    running: dict[str, Frugal] = {}

    def start(name: str, config_text: str, **env: str) -> Frugal:
        if name in running:
            return running[name]
        path = log_dir / f"{name}.frugal.toml"
        path.write_text(config_text)
        proc = start_process(
            f"frugal-{name}",
            [str(FRUGAL_BIN), "serve", "--config", str(path), "--listen", "127.0.0.1:0"],
            frugal_env(**env),
            log_dir,
            "frugal listening on",
        )
        running[name] = Frugal(proc, path)
        return running[name]

    yield start
    for f in running.values():
        f.proc.stop()


@pytest.fixture(scope="session")
def gw(mock: Mock, frugal_instance) -> Frugal:
    """The main gateway: test models in every tier, catalogue models disabled."""
    return frugal_instance("main", render_config(mock.url, MAIN_MODELS, MAIN_TIERS, MAIN_BASELINE))


@pytest.fixture(scope="session")
def catalogue_gw(mock: Mock, frugal_instance) -> Frugal:
    """A gateway with no configuration but the two providers' base URLs: the built-in catalogue."""
    text = render_config(mock.url, {}, disable_catalogue=False)
    return frugal_instance("catalogue", text)


# --- failure reports: attach what each process logged during the test ----------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item._log_offsets = {p.name: p.log_size() for p in all_processes()}  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    offsets: dict[str, int] = getattr(item, "_log_offsets", {})
    for p in all_processes():
        start = offsets.get(p.name, 0)
        try:
            with open(p.log_path, "rb") as f:
                f.seek(start)
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        if text.strip():
            if len(text) > 12000:
                text = "...\n" + text[-12000:]
            report.sections.append((f"{p.name} stderr during this test", text))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Every log written during the whole run, including by tests after test_secrets.py.
    for p in all_processes():
        text = p.log_text()
        leaked = [m for m in SECRET_MARKERS if m in text]
        if leaked:
            print(f"\nFAILED: API key material {leaked} found in {p.name}'s log {p.log_path}", file=sys.stderr)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    # Processes are stopped by their fixtures; this is a safety net for aborted runs.
    for p in all_processes():
        try:
            p.stop()
        except Exception as e:  # pragma: no cover - best effort
            print(f"could not stop {p.name}: {e}", file=sys.stderr)


"""Support for the end-to-end tests (fixtures live in conftest.py): the real `mock-upstream` and `frugal` binaries on port 0.

One mock-upstream serves the whole session. frugal instances are started on demand, one
per configuration (see `frugal_instance`), and cached for the session: each is a separate
process with its own frugal.toml, so fallback scenarios can put a faulty model first
without disturbing the other tests. Every process's stderr goes to a file; when a test
fails, what each log gained during that test is attached to the report.

Binaries come from FRUGAL_BIN / MOCK_BIN, defaulting to target/debug.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
FRUGAL_BIN = Path(os.environ.get("FRUGAL_BIN", ROOT / "target" / "debug" / "frugal"))
MOCK_BIN = Path(os.environ.get("MOCK_BIN", ROOT / "target" / "debug" / "mock-upstream"))
CATALOG = ROOT / "crates" / "core" / "src" / "catalog.toml"

# Fake provider keys given to frugal; they must never come back out of it.
OPENAI_KEY = "sk-test-openai-SECRET"
ANTHROPIC_KEY = "sk-ant-test-SECRET"
SECRET_MARKERS = ("SECRET", OPENAI_KEY, ANTHROPIC_KEY)

STARTUP_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 15.0

FRUGAL_HEADERS = (
    "x-frugal-request-id",
    "x-frugal-model",
    "x-frugal-tier",
    "x-frugal-cost-usd",
    "x-frugal-baseline-cost-usd",
    "x-frugal-overhead-ms",
)

# Every process started this session, for log attachment on failure and secret scans.
_PROCESSES: list["Process"] = []


# --- processes -----------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path
    url: str = ""
    _stdout_lines: "queue.Queue[str]" = field(default_factory=queue.Queue)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


def start_process(name: str, argv: list[str], env: dict[str, str], log_dir: Path, banner: str) -> Process:
    """Start `argv`, wait for its `<banner> http://ADDR` stdout line, return it running."""
    if not Path(argv[0]).exists():
        pytest.exit(f"{argv[0]} does not exist: build the workspace first (cargo build --workspace)", returncode=2)
    log_path = log_dir / f"{name}.stderr.log"
    log = open(log_path, "wb")
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        cwd=log_dir,
        text=True,
    )
    log.close()
    proc = Process(name=name, popen=popen, log_path=log_path)

    def pump() -> None:
        # Keep draining stdout so the child never blocks on a full pipe.
        assert popen.stdout is not None
        for line in popen.stdout:
            proc._stdout_lines.put(line)
        proc._stdout_lines.put("")

    threading.Thread(target=pump, name=f"{name}-stdout", daemon=True).start()
    pattern = re.compile(re.escape(banner) + r" (http://\S+)")
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        left = deadline - time.monotonic()
        try:
            line = proc._stdout_lines.get(timeout=max(left, 0.01))
        except queue.Empty:
            proc.stop()
            raise RuntimeError(f"{name} did not print its address within {STARTUP_TIMEOUT_S}s\n"
                               f"--- {name} stderr ---\n{proc.log_text()[-4000:]}")
        if line == "":
            popen.wait(timeout=5)
            raise RuntimeError(f"{name} exited with {popen.returncode} before listening\n"
                               f"--- {name} stderr ---\n{proc.log_text()[-4000:]}")
        m = pattern.search(line)
        if m:
            proc.url = m.group(1).rstrip("/")
            break
    _PROCESSES.append(proc)
    return proc


def frugal_env(**extra: str) -> dict[str, str]:
    """The environment frugal runs in: fake keys, no real ones, verbose logs."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "FRUGAL_CONFIG", "FRUGAL_LISTEN", "FRUGAL_LOG")}
    env["OPENAI_API_KEY"] = OPENAI_KEY
    env["ANTHROPIC_API_KEY"] = ANTHROPIC_KEY
    # Debug logs give a leaked key the most chances to show up in the secret scan.
    env["FRUGAL_LOG"] = "debug"
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


# --- the mock provider ---------------------------------------------------------------


class Mock:
    """The running mock-upstream and its request log."""

    def __init__(self, proc: Process):
        self.proc = proc
        self.url = proc.url
        self.http = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT_S)

    def clear(self) -> None:
        r = self.http.delete("/mock/requests")
        assert r.status_code in (200, 204), r.text

    def requests(self, path: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        r = self.http.get("/mock/requests")
        r.raise_for_status()
        out = []
        for rec in r.json():
            if path is not None and rec.get("path") != path:
                continue
            if model is not None and rec.get("model") != model:
                continue
            out.append(rec)
        return out

    def chat_requests(self) -> list[dict[str, Any]]:
        """Requests to any chat endpoint (Chat Completions, Messages, Responses), oldest first."""
        return [r for r in self.requests()
                if r.get("path") in ("/v1/chat/completions", "/v1/messages", "/v1/responses")]

    def only_request(self) -> dict[str, Any]:
        reqs = self.chat_requests()
        assert len(reqs) == 1, f"expected exactly one upstream request, got {[(r['path'], r['model']) for r in reqs]}"
        return reqs[0]

    def models_called(self) -> list[str]:
        return [r["model"] for r in self.chat_requests()]


def header(rec: dict[str, Any], name: str) -> str | None:
    for k, v in rec.get("headers", []):
        if k.lower() == name.lower():
            return v
    return None


# --- frugal configurations -----------------------------------------------------------


def catalogue_model_names() -> list[str]:
    with open(CATALOG, "rb") as f:
        return sorted(tomllib.load(f).get("models", {}).keys())


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def model(provider: str, tier: str, price_in: float, price_out: float, **extra: Any) -> dict[str, Any]:
    """A test model entry; tools and vision on unless said otherwise."""
    m = {"provider": provider, "tier": tier, "input": price_in, "output": price_out,
         "tools": True, "vision": True, "context_window": 200000, "max_output": 4096}
    m.update(extra)
    return m


def render_config(
    mock_url: str,
    models: dict[str, dict[str, Any]],
    tiers: dict[str, list[str]] | None = None,
    baseline: str | None = None,
    disable_catalogue: bool = True,
    extra_providers: dict[str, dict[str, Any]] | None = None,
    learn: bool = False,
) -> str:
    """A frugal.toml for the tests. Learning from rated answers is off unless `learn`: many
    tests share one gateway, and what one test rates must not steer another's routing."""
    lines = [
        "[providers.openai]",
        f"base_url = {toml_value(mock_url + '/v1')}",
        "",
        "[providers.anthropic]",
        f"base_url = {toml_value(mock_url)}",
        "",
    ]
    for name, fields in (extra_providers or {}).items():
        lines.append(f"[providers.{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in fields.items()]
        lines.append("")
    if disable_catalogue:
        for name in catalogue_model_names():
            if name not in models:
                lines += [f"[models.{toml_value(name)}]", "enabled = false", ""]
    for name, fields in models.items():
        lines.append(f"[models.{toml_value(name)}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in fields.items()]
        lines.append("")
    if tiers is not None or baseline is not None:
        lines.append("[routing]")
        if baseline is not None:
            lines.append(f"baseline = {toml_value(baseline)}")
        lines.append("")
        if tiers is not None:
            lines.append("[routing.tiers]")
            lines += [f"{t} = {toml_value(ms)}" for t, ms in tiers.items()]
            lines.append("")
    lines += ["[routing.quality]", f"learn = {toml_value(learn)}", "explore = 0.0", ""]
    return "\n".join(lines)


# The main instance: two providers, every tier, fault models reachable only by name.
MAIN_MODELS = {
    # simple: the GPT model is the cheapest, so short prompts go to OpenAI.
    "test-gpt-small": model("openai", "simple", 0.10, 0.40),
    "test-claude-small": model("anthropic", "simple", 0.80, 4.00),
    # medium: the Claude model is the cheapest, so medium requests go to Anthropic.
    "test-claude-medium": model("anthropic", "medium", 0.25, 1.25),
    "test-gpt-medium": model("openai", "medium", 0.40, 1.60),
    "test-gpt-large": model("openai", "complex", 2.00, 8.00),
    "test-claude-large": model("anthropic", "complex", 3.00, 15.00),
    "test-claude-frontier": model("anthropic", "frontier", 5.00, 25.00),
    "test-gpt-frontier": model("openai", "frontier", 10.00, 40.00),
    # Named explicitly only (not in any routing tier).
    "gpt-fail-500": model("openai", "simple", 0.01, 0.01),
    "claude-fail-500": model("anthropic", "simple", 0.01, 0.01),
    "gpt-fail-400": model("openai", "simple", 0.01, 0.01),
    "gpt-fail-401": model("openai", "simple", 0.01, 0.01),
    "gpt-cut-mid-stream": model("openai", "simple", 0.01, 0.01),
    "claude-cut-mid-stream": model("anthropic", "simple", 0.01, 0.01),
    "test-renamed": model("openai", "medium", 0.50, 1.00, upstream_name="provider-side-name"),
    "test-no-tools": model("openai", "simple", 0.05, 0.10, tools=False),
}
MAIN_TIERS = {
    "simple": ["test-gpt-small", "test-claude-small"],
    "medium": ["test-claude-medium", "test-gpt-medium"],
    "complex": ["test-gpt-large", "test-claude-large"],
    "frontier": ["test-claude-frontier", "test-gpt-frontier"],
}
MAIN_BASELINE = "test-claude-large"


class Frugal:
    """A running frugal instance and SDK clients pointed at it."""

    def __init__(self, proc: Process, config_path: Path):
        self.proc = proc
        self.url = proc.url
        self.config_path = config_path
        self.http = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT_S)

    def openai(self, **kw: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key="anything", max_retries=0,
                             timeout=REQUEST_TIMEOUT_S, **kw)

    def anthropic(self, **kw: Any) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key="anything", max_retries=0,
                                   timeout=REQUEST_TIMEOUT_S, **kw)

    def log_text(self) -> str:
        return self.proc.log_text()


# --- helpers for tests ---------------------------------------------------------------


def assert_frugal_headers(headers: Any, model: str | None = None, tier: str | None = None) -> None:
    missing = [h for h in FRUGAL_HEADERS if headers.get(h) is None]
    assert not missing, f"missing headers {missing}; got {dict(headers)}"
    if model is not None:
        assert headers["x-frugal-model"] == model
    if tier is not None:
        assert headers["x-frugal-tier"] == tier
    assert headers["x-frugal-request-id"]
    float(headers["x-frugal-cost-usd"])
    float(headers["x-frugal-baseline-cost-usd"])
    assert float(headers["x-frugal-overhead-ms"]) >= 0


def assert_no_secret(text: str, where: str) -> None:
    for marker in SECRET_MARKERS:
        assert marker not in text, f"API key material {marker!r} found in {where}"



def all_processes() -> list[Process]:
    return list(_PROCESSES)

"""create_plugin_manager: built-ins, blocking, dispatch and fallback, project hooks, entry points."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pluggy
import pytest

from floe_dbt_hooks import create_plugin_manager, hookimpl
from floe_dbt_hooks.config import FloeConfig
from floe_dbt_hooks.errors import (
    DBTAdapterUnavailableError,
    DBTCompilationError,
    DBTConfigurationError,
    DBTExecutionError,
    DBTFusionNotFoundError,
    DBTLintError,
    FloeDBTError,
)
from floe_dbt_hooks.models import (
    CompileRequest,
    CompileResult,
    DBTRunResult,
    FallbackEvent,
    LintRequest,
    NodeInfo,
    RunRequest,
    RuntimeEvent,
    RuntimeInfo,
)
from floe_dbt_hooks.plugin.manager import FloePluginManager, PluginOrigin

FLOE_ENV = (
    "FLOE_DBT_RUNTIME",
    "FLOE_DBT_FALLBACK",
    "FLOE_DBT_DISABLE",
    "FLOE_DBT_STRICT_PLUGINS",
    "FLOE_DBT_DISABLE_PLUGIN_AUTOLOAD",
)


@pytest.fixture(autouse=True)
def _no_floe_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in FLOE_ENV:
        monkeypatch.delenv(name, raising=False)


def _run_result(request: RunRequest, runtime: str) -> DBTRunResult:
    return DBTRunResult(
        success=True, command=request.command, runtime=runtime,
        invocation_id=request.invocation_id, project_dir=request.project_dir,
    )


class FakeRuntime:
    """A runtime named 'fake' that serves only requests addressed to it."""

    name = "fake_runtime"

    def __init__(self) -> None:
        self.calls: list[RunRequest] = []
        self.config: FloeConfig | None = None

    @hookimpl
    def dbt_configure(self, config: FloeConfig) -> None:
        self.config = config

    @hookimpl
    def dbt_runtime_info(self) -> RuntimeInfo:
        return RuntimeInfo(name="fake", plugin=self.name, version="1", available=True)

    @hookimpl(tryfirst=True)
    def dbt_run(self, request: RunRequest) -> DBTRunResult | None:
        self.calls.append(request)
        assert self.config is not None
        if self.config.runtime_for(request.runtime) == "fake":
            return _run_result(request, "fake")
        return None


class DecliningRuntime:
    """Like a Fusion runtime without its binary: reports the decline, then returns None."""

    name = "declining_runtime"

    def __init__(self, error_code: str = "FLOE-DBT-E005") -> None:
        self.error_code = error_code
        self.hook: pluggy.HookRelay | None = None
        self.config: FloeConfig | None = None
        self.declined = 0

    @hookimpl
    def dbt_configure(self, config: FloeConfig, hook: pluggy.HookRelay) -> None:
        self.config = config
        self.hook = hook

    @hookimpl
    def dbt_runtime_info(self) -> RuntimeInfo:
        return RuntimeInfo(
            name="fusionish", plugin=self.name, version=None, available=False, reason="no binary"
        )

    @hookimpl(tryfirst=True)
    def dbt_run(self, request: RunRequest) -> DBTRunResult | None:
        assert self.hook is not None
        assert self.config is not None
        if self.config.runtime_for(request.runtime) != "fusionish":
            return None
        self.declined += 1
        self.hook.dbt_fallback(
            event=FallbackEvent(
                runtime="fusionish", reason_code="binary-missing", error_code=self.error_code,
                message="dbt Fusion binary not found", request=request,
                hint="install dbt Fusion", engine_codes=("dbt0001",),
            )
        )
        return None


class CoreLike:
    """Stands in for the dbt-core runtime (trylast, serves whatever reaches it) without dbt."""

    name = "core_like"

    def __init__(self) -> None:
        self.calls: list[Any] = []

    @hookimpl
    def dbt_runtime_info(self) -> RuntimeInfo:
        return RuntimeInfo(name="core", plugin=self.name, version="0", available=True)

    @hookimpl(trylast=True)
    def dbt_run(self, request: RunRequest) -> DBTRunResult:
        self.calls.append(request)
        return _run_result(request, "core")

    @hookimpl(trylast=True)
    def dbt_compile(self, request: CompileRequest) -> CompileResult:
        self.calls.append(request)
        return CompileResult(
            success=True, command="compile", runtime="core",
            invocation_id=request.invocation_id, project_dir=request.project_dir,
        )


class FallbackObserver:
    name = "fallback_observer"

    def __init__(self) -> None:
        self.events: list[FallbackEvent] = []

    @hookimpl
    def dbt_fallback(self, event: FallbackEvent) -> None:
        self.events.append(event)


def _manager(*plugins: object, **options: Any) -> FloePluginManager:
    """A fresh manager without entry points and without the real dbt-core runtime."""
    options.setdefault("autoload", False)
    options.setdefault("disable", ["floe_dbt_core"])
    return create_plugin_manager(plugins=plugins, **options)


def _project(root: Path, hooks: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text("name: shop\nprofile: shop\n", encoding="utf-8")
    if hooks is not None:
        (root / "floe_hooks.py").write_text(hooks, encoding="utf-8")
    return root


# --- built-ins and blocking ---------------------------------------------------------------------


def test_builtins_registered_with_origins() -> None:
    pm = create_plugin_manager(autoload=False)
    for name in ("floe_dbt_core", "floe_dbt_strict", "floe_dbt_runtime_selection"):
        assert pm.has_plugin(name), name
    core = pm.origins["floe_dbt_core"]
    assert (core.kind, core.module) == ("builtin", "floe_dbt_core.plugin")
    strict = pm.origins["floe_dbt_strict"]
    assert (strict.kind, strict.module) == ("builtin", "floe_dbt_hooks.builtin.strict")
    assert pm.origins["floe_dbt_runtime_selection"].kind == "framework"
    assert core.describe() == "builtin"
    assert type(pm.get_plugin("floe_dbt_core")).__name__ == "CoreRuntime"
    assert pm.config == FloeConfig()
    assert pm.project_dir is None
    assert pm.load_errors == []


def test_builtin_core_runtime_info_is_cheap_and_available() -> None:
    pm = create_plugin_manager(autoload=False)
    infos = {info.name: info for info in pm.hook.dbt_runtime_info()}
    assert infos["core"].plugin == "floe_dbt_core"
    assert infos["core"].available is True
    assert "duckdb" in infos["core"].adapters


def test_discovery_and_runtime_info_never_import_dbt_or_sqlfluff() -> None:
    """Checked in a fresh interpreter: earlier tests in this one may have imported dbt already."""
    code = (
        "import sys\n"
        "from floe_dbt_hooks import create_plugin_manager\n"
        "list(create_plugin_manager(autoload=False).hook.dbt_runtime_info())\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dbt', 'sqlfluff'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_disable_blocks_builtin() -> None:
    pm = create_plugin_manager(autoload=False, disable=["floe_dbt_core"])
    assert not pm.has_plugin("floe_dbt_core")
    assert pm.is_blocked("floe_dbt_core")
    assert "floe_dbt_core" not in pm.origins
    assert "core" not in {info.name for info in pm.hook.dbt_runtime_info()}
    assert pm.has_plugin("floe_dbt_strict")


def test_disable_via_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_DBT_DISABLE", "floe_dbt_core,floe_dbt_strict")
    pm = create_plugin_manager(autoload=False)
    assert not pm.has_plugin("floe_dbt_core")
    assert not pm.has_plugin("floe_dbt_strict")


def test_blocked_api_plugin_is_not_registered() -> None:
    fake = FakeRuntime()
    pm = _manager(fake, disable=["floe_dbt_core", "fake_runtime"])
    assert not pm.has_plugin("fake_runtime")
    assert fake.config is None


def test_api_plugin_without_name_gets_generated_name() -> None:
    class Anonymous:
        @hookimpl
        def dbt_runtime_info(self) -> RuntimeInfo:
            return RuntimeInfo(name="anon", plugin="anon", version=None, available=True)

    pm = _manager(Anonymous())
    names = [name for name, origin in pm.origins.items() if origin.kind == "api"]
    assert names == ["api-plugin-0-Anonymous"]


def test_origin_is_not_recorded_for_a_blocked_plugin() -> None:
    """register_with_origin on a blocked name: pluggy registers nothing, so the origin must not
    be recorded either (otherwise `floe-dbt plugins` lists a plugin that is not there; this is what
    happens to the framework's runtime selection with `-p no:floe_dbt_runtime_selection`)."""
    pm = _manager()
    pm.set_blocked("blocked_one")
    pm.register_with_origin(FakeRuntime(), PluginOrigin(name="blocked_one", kind="api"))
    assert not pm.has_plugin("blocked_one")
    assert "blocked_one" not in pm.origins
    for name in pm.origins:
        assert pm.has_plugin(name), f"{name} is in pm.origins but not registered"


def test_explicit_config_still_honours_disable_argument() -> None:
    """The docstring: 'runtime, fallback and disable override the floe config'."""
    pm = create_plugin_manager(
        config=FloeConfig(), disable=["floe_dbt_core"], runtime="fake", autoload=False
    )
    assert not pm.has_plugin("floe_dbt_core")
    assert pm.config.runtime == "fake"


def test_explicit_config_is_used() -> None:
    config = FloeConfig(runtime="fake", fallback=False, disable=("floe_dbt_core",))
    pm = create_plugin_manager(config=config, autoload=False)
    assert pm.config == config
    assert not pm.has_plugin("floe_dbt_core")


# --- dispatch -----------------------------------------------------------------------------------


def test_inline_runtime_serves_requests_addressed_to_it() -> None:
    fake = FakeRuntime()
    pm = create_plugin_manager(autoload=False, plugins=[fake])  # real core stays registered
    assert pm.origins["fake_runtime"].kind == "api"
    request = RunRequest(project_dir="/nowhere", runtime="fake", command="build")
    result = pm.hook.dbt_run(request=request)
    assert result.runtime == "fake"
    assert result.command == "build"
    assert result.invocation_id == request.invocation_id
    assert result.declined == ()
    assert fake.calls == [request]


def test_configured_runtime_is_used_when_request_names_none() -> None:
    fake = FakeRuntime()
    pm = _manager(fake, runtime="fake")
    result = pm.hook.dbt_run(request=RunRequest(project_dir="/nowhere"))
    assert result.runtime == "fake"


def test_runtime_from_project_floe_yml(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    (root / "floe.yml").write_text("plugins:\n  dbt_runtime: fake\n", encoding="utf-8")
    fake = FakeRuntime()
    pm = _manager(fake, project_dir=root)
    assert pm.config.runtime == "fake"
    assert pm.config.source == root.resolve() / "floe.yml"
    assert pm.hook.dbt_run(request=RunRequest(project_dir=root)).runtime == "fake"


def test_unknown_runtime_lists_installed_runtimes() -> None:
    fake = FakeRuntime()
    core_like = CoreLike()
    pm = _manager(fake, core_like)
    with pytest.raises(DBTConfigurationError) as info:
        pm.hook.dbt_run(request=RunRequest(project_dir="/nowhere", runtime="nope"))
    assert "unknown runtime 'nope'" in info.value.message
    assert info.value.hint is not None
    assert "installed runtimes: cloud, core, fake" in info.value.hint
    assert fake.calls == []
    assert core_like.calls == []


def test_unknown_runtime_for_compile_and_lint() -> None:
    pm = _manager(CoreLike())
    with pytest.raises(DBTConfigurationError, match="unknown runtime 'nope'"):
        pm.hook.dbt_compile(request=CompileRequest(project_dir="/p", runtime="nope"))
    with pytest.raises(DBTConfigurationError, match="unknown runtime 'nope'"):
        pm.hook.dbt_lint(request=LintRequest(project_dir="/p", runtime="nope"))


def test_no_runtime_serving_is_an_error() -> None:
    pm = _manager(CoreLike())
    with pytest.raises(DBTConfigurationError, match="no runtime served the request for runtime 'core'"):
        pm.hook.dbt_lint(request=LintRequest(project_dir="/p"))


def test_declining_runtime_falls_back_and_result_records_decline() -> None:
    declining, core_like, observer = DecliningRuntime(), CoreLike(), FallbackObserver()
    pm = _manager(declining, core_like, observer)
    request = RunRequest(project_dir="/nowhere", runtime="fusionish", command="test")
    result = pm.hook.dbt_run(request=request)
    assert result.runtime == "core"
    assert core_like.calls == [request]
    assert declining.declined == 1
    assert len(result.declined) == 1
    declined = result.declined[0]
    assert declined.runtime == "fusionish"
    assert declined.reason_code == "binary-missing"
    assert declined.error_code == "FLOE-DBT-E005"
    assert declined.message == "dbt Fusion binary not found"
    assert declined.hint == "install dbt Fusion"
    assert declined.engine_codes == ("dbt0001",)
    assert [e.request for e in observer.events] == [request]


def test_declines_do_not_leak_into_the_next_invocation() -> None:
    pm = _manager(DecliningRuntime(), CoreLike())
    first = pm.hook.dbt_run(request=RunRequest(project_dir="/p", runtime="fusionish"))
    second = pm.hook.dbt_run(request=RunRequest(project_dir="/p", runtime="core"))
    assert len(first.declined) == 1
    assert second.declined == ()


def test_decline_without_any_fallback_runtime_names_the_reason() -> None:
    pm = _manager(DecliningRuntime())
    with pytest.raises(DBTConfigurationError) as info:
        pm.hook.dbt_run(request=RunRequest(project_dir="/p", runtime="fusionish"))
    assert "no runtime served" in info.value.message
    assert "fusionish: dbt Fusion binary not found" in info.value.message


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("FLOE-DBT-E001", DBTCompilationError),
        ("FLOE-DBT-E002", DBTExecutionError),
        ("FLOE-DBT-E003", DBTConfigurationError),
        ("FLOE-DBT-E004", DBTLintError),
        ("FLOE-DBT-E005", DBTFusionNotFoundError),
        ("FLOE-DBT-E006", DBTAdapterUnavailableError),
    ],
)
def test_strict_mode_raises_error_matching_code_and_does_not_fall_back(
    code: str, cls: type[FloeDBTError]
) -> None:
    declining, core_like = DecliningRuntime(error_code=code), CoreLike()
    pm = _manager(declining, core_like, fallback=False)
    assert pm.config.fallback is False
    with pytest.raises(cls) as info:
        pm.hook.dbt_run(request=RunRequest(project_dir="/p", runtime="fusionish"))
    assert type(info.value) is cls
    assert info.value.code == code
    assert "fusionish" in info.value.message
    assert "dbt Fusion binary not found" in info.value.message
    assert info.value.hint == "install dbt Fusion"
    assert info.value.engine_codes == ("dbt0001",)
    assert core_like.calls == []


def test_strict_mode_from_request() -> None:
    core_like = CoreLike()
    pm = _manager(DecliningRuntime(), core_like)  # config allows fallback
    with pytest.raises(DBTFusionNotFoundError):
        pm.hook.dbt_run(request=RunRequest(project_dir="/p", runtime="fusionish", fallback=False))
    assert core_like.calls == []


def test_request_fallback_true_overrides_strict_config() -> None:
    core_like = CoreLike()
    pm = _manager(DecliningRuntime(), core_like, fallback=False)
    result = pm.hook.dbt_run(request=RunRequest(project_dir="/p", runtime="fusionish", fallback=True))
    assert result.runtime == "core"
    assert len(result.declined) == 1


def test_strict_mode_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_DBT_FALLBACK", "false")
    core_like = CoreLike()
    pm = _manager(DecliningRuntime(error_code="FLOE-DBT-E006"), core_like)
    with pytest.raises(DBTAdapterUnavailableError):
        pm.hook.dbt_run(request=RunRequest(project_dir="/p", runtime="fusionish"))
    assert core_like.calls == []


def test_wrapper_sees_and_replaces_result() -> None:
    seen: list[DBTRunResult | None] = []

    class Wrapper:
        name = "metadata_wrapper"

        @hookimpl(wrapper=True)
        def dbt_run(self, request: RunRequest) -> Generator[None, DBTRunResult, DBTRunResult]:
            result = yield
            seen.append(result)
            return attrs.evolve(result, metadata={**result.metadata, "wrapped": request.command})

    pm = _manager(Wrapper(), FakeRuntime())
    result = pm.hook.dbt_run(request=RunRequest(project_dir="/p", runtime="fake", command="seed"))
    assert len(seen) == 1
    assert seen[0] is not None
    assert seen[0].runtime == "fake"
    assert "wrapped" not in seen[0].metadata
    assert result.metadata == {"wrapped": "seed"}


def test_runtime_events_reach_observers() -> None:
    events: list[RuntimeEvent] = []

    class Emitter:
        name = "emitter"
        hook: pluggy.HookRelay

        @hookimpl
        def dbt_configure(self, hook: pluggy.HookRelay) -> None:
            self.hook = hook

    class Observer:
        name = "observer"

        @hookimpl
        def dbt_event(self, event: RuntimeEvent) -> None:
            events.append(event)

    emitter = Emitter()
    _manager(emitter, Observer())
    event = RuntimeEvent(
        invocation_id="i", runtime="fake", kind="node_start", name="NodeStart",
        node=NodeInfo(unique_id="model.p.a", resource_type="model", name="a"),
    )
    emitter.hook.dbt_event(event=event)
    assert events == [event]


def test_dbt_configure_is_historic() -> None:
    pm = _manager()
    received: list[tuple[FloeConfig, Any]] = []

    class Late:
        @hookimpl
        def dbt_configure(self, config: FloeConfig, hook: pluggy.HookRelay) -> None:
            received.append((config, hook))

    pm.register(Late(), name="late")
    assert len(received) == 1
    assert received[0][0] is pm.config
    assert received[0][1] is pm.hook


def test_api_plugin_with_unknown_hook_is_rejected() -> None:
    class Typo:
        name = "typo_plugin"

        @hookimpl
        def dbt_runn(self, request: RunRequest) -> None:
            return None

    with pytest.raises(DBTConfigurationError) as info:
        _manager(Typo())
    assert "typo_plugin" in info.value.message
    assert "dbt_runn" in info.value.message
    assert info.value.hint is not None
    assert "dbt_run" in info.value.hint


def test_optional_unknown_hook_is_allowed() -> None:
    class Optional:
        name = "optional_plugin"

        @hookimpl(optionalhook=True)
        def dbt_future_hook(self) -> None:
            return None

    assert _manager(Optional()).has_plugin("optional_plugin")


# --- the project's floe_hooks.py ----------------------------------------------------------------

PROJECT_HOOKS = """\
from floe_dbt_hooks import hookimpl
from floe_dbt_hooks.models import RuntimeInfo

CONFIG = None


@hookimpl
def dbt_configure(config):
    global CONFIG
    CONFIG = config


@hookimpl
def dbt_runtime_info():
    return RuntimeInfo(name="project_rt", plugin="floe_hooks", version=None, available=True)
"""


def test_project_hooks_loaded_as_project_plugin(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", PROJECT_HOOKS)
    pm = _manager(project_dir=root)
    assert pm.project_dir == root.resolve()
    assert pm.has_plugin("floe_hooks")
    origin = pm.origins["floe_hooks"]
    assert origin.kind == "project"
    assert origin.path == root.resolve() / "floe_hooks.py"
    assert origin.describe() == f"project file {root.resolve() / 'floe_hooks.py'}"
    module = pm.get_plugin("floe_hooks")
    assert module.CONFIG is pm.config  # dbt_configure reached it
    assert "project_rt" in {info.name for info in pm.hook.dbt_runtime_info()}


def test_project_hooks_import_error_names_file_and_line(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "import os\n\nraise RuntimeError('broken on purpose')\n")
    with pytest.raises(DBTConfigurationError) as info:
        _manager(project_dir=root)
    error = info.value
    assert error.file_path == str(root.resolve() / "floe_hooks.py")
    assert error.line == 3
    assert "RuntimeError: broken on purpose" in error.message
    assert "floe_hooks.py:3" in str(error)
    assert error.hint is not None
    assert "-p no:floe_hooks" in error.hint


def test_project_hooks_error_in_called_function_points_at_project_line(tmp_path: Path) -> None:
    source = "def helper():\n    return 1 / 0\n\n\nVALUE = helper()\n"
    root = _project(tmp_path / "p", source)
    with pytest.raises(DBTConfigurationError, match="ZeroDivisionError") as info:
        _manager(project_dir=root)
    assert info.value.line == 2  # the innermost frame in floe_hooks.py


def test_project_hooks_syntax_error_names_line(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "x = 1\ny = 2\ndef broken(:\n    pass\n")
    with pytest.raises(DBTConfigurationError, match="SyntaxError") as info:
        _manager(project_dir=root)
    assert info.value.file_path == str(root.resolve() / "floe_hooks.py")
    assert info.value.line == 3


def test_failed_project_hooks_module_is_not_left_in_sys_modules(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "raise ValueError('x')\n")
    before = set(sys.modules)
    with pytest.raises(DBTConfigurationError):
        _manager(project_dir=root)
    assert not {m for m in set(sys.modules) - before if m.startswith("floe_hooks_")}


def test_project_hooks_unknown_hook_names_hook_and_plugin(tmp_path: Path) -> None:
    hooks = "from floe_dbt_hooks import hookimpl\n\n\n@hookimpl\ndef dbt_bogus(request):\n    pass\n"
    root = _project(tmp_path / "p", hooks)
    with pytest.raises(DBTConfigurationError) as info:
        _manager(project_dir=root)
    error = info.value
    assert "dbt_bogus" in error.message
    assert "'floe_hooks'" in error.message
    assert "project file" in error.message
    assert error.file_path == str(root.resolve() / "floe_hooks.py")


def test_project_hooks_with_wrong_hook_arguments_is_a_configuration_error(tmp_path: Path) -> None:
    """A typo in a hook's argument name is a plugin set-up problem: it must surface as a FLOE-DBT
    error naming floe_hooks.py (the CLI turns those into exit code 2), not a raw pluggy error."""
    hooks = "from floe_dbt_hooks import hookimpl\n\n\n@hookimpl\ndef dbt_run(requst):\n    pass\n"
    root = _project(tmp_path / "p", hooks)
    with pytest.raises(DBTConfigurationError) as info:
        _manager(project_dir=root)
    assert "dbt_run" in info.value.message
    assert info.value.file_path == str(root.resolve() / "floe_hooks.py")


@pytest.mark.parametrize("how", ["argument", "environment", "floe.yml"])
def test_disabling_floe_hooks_skips_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    root = _project(tmp_path / "p", "raise RuntimeError('must not be imported')\n")
    disable: list[str] = []
    if how == "argument":
        disable = ["floe_hooks"]
    elif how == "environment":
        monkeypatch.setenv("FLOE_DBT_DISABLE", "floe_hooks")
    else:
        (root / "floe.yml").write_text("plugins:\n  disable: [floe_hooks]\n", encoding="utf-8")
    pm = _manager(project_dir=root, disable=["floe_dbt_core", *disable])
    assert not pm.has_plugin("floe_hooks")
    assert "floe_hooks" not in pm.origins


def test_project_without_floe_hooks(tmp_path: Path) -> None:
    pm = _manager(project_dir=_project(tmp_path / "p"))
    assert not pm.has_plugin("floe_hooks")
    assert {o.kind for o in pm.origins.values()} == {"framework", "builtin"}


# --- entry points -------------------------------------------------------------------------------

GOOD_MODULE = """\
from floe_dbt_hooks import hookimpl
from floe_dbt_hooks.models import RuntimeInfo


@hookimpl
def dbt_runtime_info():
    return RuntimeInfo(name="good", plugin="good", version="0.4.0", available=True)


class GoodPlugin:
    @hookimpl
    def dbt_runtime_info(self):
        return RuntimeInfo(name="good_cls", plugin="good_cls", version="0.4.0", available=True)
"""

BROKEN_MODULE = """\
import pathlib

pathlib.Path(__file__).with_name("brokenplug_was_imported").touch()
raise RuntimeError("brokenplug cannot start: driver missing")
"""

EP_MODULES = ("brokenplug_mod", "goodplug_mod")


def _dist(site: Path, name: str, version: str, entry_points: str, module: str, source: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    (site / f"{module}.py").write_text(source, encoding="utf-8")


@pytest.fixture
def fake_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Two installed distributions publishing floe.dbt entry points: one broken, one good."""
    site = tmp_path / "site"
    site.mkdir()
    _dist(site, "brokenplug", "1.2.3", "[floe.dbt]\nbroken = brokenplug_mod\n",
          "brokenplug_mod", BROKEN_MODULE)
    _dist(site, "goodplug", "0.4.0",
          "[floe.dbt]\ngood = goodplug_mod\ngood_cls = goodplug_mod:GoodPlugin\n",
          "goodplug_mod", GOOD_MODULE)
    for module in EP_MODULES:
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    for module in EP_MODULES:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


def test_entry_points_good_registered_broken_reported(fake_dists: Path) -> None:
    pm = _manager(autoload=True)
    assert pm.has_plugin("good")
    origin = pm.origins["good"]
    assert origin.kind == "entrypoint"
    assert origin.distribution == "goodplug"
    assert origin.version == "0.4.0"
    assert origin.module == "goodplug_mod"
    assert origin.describe() == "entry point from goodplug 0.4.0"
    # a class named by the entry point is instantiated
    assert pm.has_plugin("good_cls")
    assert type(pm.get_plugin("good_cls")).__name__ == "GoodPlugin"
    assert {"good", "good_cls"} <= {info.name for info in pm.hook.dbt_runtime_info()}

    assert not pm.has_plugin("broken")
    assert "broken" not in pm.origins
    [failure] = [e for e in pm.load_errors if e.name == "broken"]
    assert failure.distribution == "brokenplug"
    assert failure.version == "1.2.3"
    assert failure.error == "RuntimeError: brokenplug cannot start: driver missing"
    assert "brokenplug 1.2.3" in failure.describe()
    assert (fake_dists / "brokenplug_was_imported").exists()


def test_entry_points_strict_plugins_raises(fake_dists: Path) -> None:
    with pytest.raises(DBTConfigurationError) as info:
        _manager(autoload=True, strict_plugins=True)
    error = info.value
    assert "brokenplug 1.2.3" in error.message
    assert "broken" in error.message
    assert "driver missing" in error.message
    assert error.hint is not None
    assert "-p no:broken" in error.hint


def test_entry_points_strict_plugins_from_environment(
    fake_dists: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOE_DBT_STRICT_PLUGINS", "true")
    with pytest.raises(DBTConfigurationError, match="brokenplug"):
        _manager(autoload=True)


def test_autoload_disabled_by_environment(fake_dists: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_DBT_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = _manager(autoload=None)
    assert not pm.has_plugin("good")
    assert not pm.has_plugin("broken")
    assert pm.load_errors == []
    assert "goodplug_mod" not in sys.modules
    assert not (fake_dists / "brokenplug_was_imported").exists()


def test_autoload_false_loads_no_entry_points(fake_dists: Path) -> None:
    pm = _manager(autoload=False)
    assert not pm.has_plugin("good")
    assert pm.load_errors == []
    assert "goodplug_mod" not in sys.modules


def test_autoload_default_is_on(fake_dists: Path) -> None:
    pm = _manager(autoload=None)
    assert pm.has_plugin("good")


def test_disabled_entry_point_is_never_imported(fake_dists: Path) -> None:
    pm = _manager(autoload=True, disable=["floe_dbt_core", "broken"])
    assert pm.has_plugin("good")
    assert not pm.has_plugin("broken")
    assert pm.load_errors == []
    assert not (fake_dists / "brokenplug_was_imported").exists()

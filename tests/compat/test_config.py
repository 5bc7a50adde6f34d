"""Every wasmtime-py Config setting exists: supported ones work, the rest raise a clear
NotSupportedError instead of being silently ignored."""

import platform

import pytest

from wasmforge import Config, Engine, NotSupportedError, WasmtimeError
from wasmforge.features import FEATURES, INTERP_ONLY

#: wasmtime-py 50's Config setters.
SETTINGS = [
    "debug_info", "wasm_threads", "wasm_tail_call", "wasm_reference_types", "wasm_simd",
    "wasm_bulk_memory", "wasm_multi_value", "wasm_multi_memory", "wasm_memory64",
    "wasm_relaxed_simd", "wasm_relaxed_simd_deterministic", "wasm_component_model",
    "wasm_component_model_map", "wasm_component_model_implements", "wasm_exceptions",
    "wasm_function_references", "wasm_gc", "wasm_wide_arithmetic", "wasm_custom_page_sizes",
    "wasm_stack_switching", "strategy", "cranelift_debug_verifier", "cranelift_opt_level",
    "profiler", "cache", "epoch_interruption", "consume_fuel", "parallel_compilation",
    "shared_memory", "max_wasm_stack", "gc_support", "cranelift_nan_canonicalization",
    "memory_may_move", "memory_reservation", "memory_guard_size", "memory_reservation_for_growth",
    "native_unwind_info", "target", "macos_use_mach_ports", "signals_based_traps", "memory_init_cow",
]


@pytest.mark.parametrize("name", SETTINGS)
def test_setting_exists(name):
    assert hasattr(Config(), name)


def test_every_setting_of_the_installed_wasmtime_py():
    wasmtime = pytest.importorskip("wasmtime")
    theirs = [n for n, v in vars(wasmtime.Config).items() if isinstance(v, property)]
    assert not [n for n in theirs if not hasattr(Config(), n)]
    assert callable(Config.cranelift_flag_enable) and callable(Config.cranelift_flag_set)


#: The proposals' switches (wasmforge.features): on for an implemented proposal, refused
#: (NotSupportedError) for one that is not yet -- the list follows the proposals as they land.
#: A proposal implemented on the interp tier alone (INTERP_ONLY) is off by default and may be
#: switched on.
PROPOSAL_SETTINGS = [(f.setting, f.implemented) for f in FEATURES.values()
                     if f.setting is not None and f.name not in INTERP_ONLY]
INTERP_ONLY_SETTINGS = [FEATURES[name].setting for name in sorted(INTERP_ONLY)]


@pytest.mark.parametrize("name, value", [
    *[(name, True) for name, implemented in PROPOSAL_SETTINGS if not implemented],
    ("wasm_simd", False), ("wasm_reference_types", False), ("cache", False), ("cache", "cfg.toml"),
    ("cranelift_nan_canonicalization", True), ("profiler", "jitdump"), ("memory_guard_size", 0),
    ("memory_reservation", 1 << 30), ("target", "riscv64gc-unknown-none-elf"), ("debug_info", True),
    ("parallel_compilation", True)])
def test_unsupported_values_raise(name, value):
    config = Config()
    with pytest.raises(NotSupportedError, match=f"Config.{name} = .* is not supported"):
        setattr(config, name, value)
    with pytest.raises(WasmtimeError):
        setattr(config, name, value)


@pytest.mark.parametrize("name, value", [
    ("wasm_simd", True), ("wasm_reference_types", True), ("wasm_bulk_memory", True),
    ("wasm_multi_value", True), ("wasm_threads", False), ("wasm_tail_call", False),
    ("cache", True), ("profiler", "none"), ("debug_info", False), ("memory_may_move", False),
    ("shared_memory", True), ("shared_memory", False), ("wasm_threads", True),
    ("wasm_component_model", True), ("wasm_component_model", False)])
def test_values_matching_what_wasmforge_does_are_accepted(name, value):
    config = Config()
    setattr(config, name, value)
    assert getattr(config, name) == value
    Engine(config)


@pytest.mark.parametrize("name", INTERP_ONLY_SETTINGS)
def test_interp_only_proposals_are_off_and_can_be_switched_on(name):
    config = Config()
    assert getattr(config, name) is False
    setattr(config, name, True)
    assert getattr(config, name) is True
    Engine(config)


@pytest.mark.parametrize("name", [name for name, implemented in PROPOSAL_SETTINGS if implemented])
def test_implemented_proposals_can_be_switched(name):
    config = Config()
    assert getattr(config, name) is True        # on by default once implemented, as in wasmtime
    setattr(config, name, False)
    assert getattr(config, name) is False
    Engine(config)


def test_the_host_target_is_accepted_as_in_wasmtime():
    # wasmtime-py's test_target: setting the host's own triple always succeeds.
    host = {("x86_64", "Linux"): "x86_64-unknown-linux-gnu",
            ("aarch64", "Linux"): "aarch64-unknown-linux-gnu"}.get((platform.machine(), platform.system()))
    if host is None:
        pytest.skip("no known triple for this host")
    config = Config()
    config.target = host
    assert config.target == host
    Engine(config)


@pytest.mark.parametrize("setting, value", [("strategy", "nonexistent-strategy"),
                                            ("cranelift_opt_level", "nonexistent-level"),
                                            ("opt_level", 9), ("max_wasm_stack", 0)])
def test_values_no_engine_takes_are_wasmtime_errors_and_value_errors(setting, value):
    config = Config()
    with pytest.raises(WasmtimeError):
        setattr(config, setting, value)
    with pytest.raises(ValueError):
        setattr(config, setting, value)


def test_cranelift_settings():
    config = Config()
    config.cranelift_opt_level = "none"
    assert config.opt_level == 0
    config.cranelift_opt_level = "speed"
    assert config.opt_level == 2
    with pytest.raises(WasmtimeError):
        config.cranelift_opt_level = "fast"
    with pytest.raises(NotSupportedError):
        config.cranelift_flag_enable("has_sse41")
    with pytest.raises(NotSupportedError):
        config.cranelift_flag_set("opt_level", "speed")


def test_wasmtime_strategy_names():
    config = Config()
    config.strategy = "cranelift"
    assert config.strategy == "llvm"
    with pytest.raises(NotSupportedError, match="winch"):
        config.strategy = "winch"

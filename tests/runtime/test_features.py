"""The proposal switches (wasmforge.features, wasmtime's Config.wasm_* settings)."""

import pytest

import wasmforge as wf
from wasmforge.errors import NotSupportedError, ValidationError
from wasmforge.features import DEFAULT, FEATURES, INTERP_ONLY

EXTENDED = "(module (global i32 (i32.add (i32.const 1) (i32.const 2))))"


def test_implemented_proposals_are_on_by_default():
    config = wf.Config()
    for f in FEATURES.values():
        if f.setting:
            assert getattr(config, f.setting) is f.implemented
    assert wf.Engine().features == DEFAULT


def test_a_disabled_proposal_is_refused_by_name():
    config = wf.Config()
    config.wasm_extended_const = False
    engine = wf.Engine(config)
    with pytest.raises(ValidationError, match="uses the extended-const proposal .*disabled"):
        wf.Module(engine, EXTENDED)
    with pytest.raises(ValidationError, match="extended-const"):
        wf.Module.validate(engine, EXTENDED)
    wf.Module(wf.Engine(), EXTENDED)      # on by default


def test_the_engine_copies_the_switches():
    config = wf.Config()
    engine = wf.Engine(config)
    config.wasm_extended_const = False
    wf.Module(engine, EXTENDED)


def test_switches_take_bools_and_unimplemented_ones_stay_off():
    config = wf.Config()
    with pytest.raises(TypeError):
        config.wasm_extended_const = 1
    for f in FEATURES.values():
        if f.setting and not f.implemented and f.name not in INTERP_ONLY:
            setattr(config, f.setting, False)
            with pytest.raises(NotSupportedError, match=f.name):
                setattr(config, f.setting, True)
    # A proposal the interp tier implements alone is off by default and may be switched on.
    for name in INTERP_ONLY:
        setting = FEATURES[name].setting
        assert getattr(config, setting) is False
        setattr(config, setting, True)
        assert name in wf.Engine(config).features


def test_an_artifact_records_the_switches():
    config = wf.Config()
    config.wasm_extended_const = False
    engine = wf.Engine(config)
    artifact = wf.Module(engine, "(module)").serialize()
    with pytest.raises(wf.WasmError, match="features"):
        wf.Module.deserialize(wf.Engine(), artifact)
    wf.Module.deserialize(engine, artifact)

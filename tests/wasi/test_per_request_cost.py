"""What a WASI guest's host pays per request: nothing is made or looked up per WasiConfig
that a preview1 program does not use (docs/performance.md, "Start-up, fifth pass")."""

from __future__ import annotations

import ipaddress

import wasmforge
from wasmforge.wasi.config import WasiConfig
from wasmforge.wasi.network import NetworkPolicy, SocketAddrUse


def test_wasiconfig_is_a_plain_attribute_of_wasmforge_after_its_first_use():
    # It loads lazily (import wasmforge stays fast), then stays: the module's __getattr__
    # (and the import system behind it) ran on every `wasmforge.WasiConfig()` before.
    assert wasmforge.WasiConfig is WasiConfig
    assert vars(wasmforge)["WasiConfig"] is WasiConfig
    assert wasmforge.DirPerms is vars(wasmforge)["DirPerms"]


def test_a_config_makes_its_network_policy_on_first_use():
    config = WasiConfig()
    assert config._network is None              # a preview1 program never needs one
    assert config.network.grants == [] and not config.network.ip_name_lookup
    config.allow_tcp("10.0.0.0/8", 80)
    assert config.network.allows(ipaddress.ip_address("10.1.2.3"), 80, SocketAddrUse.TCP_CONNECT)
    policy = NetworkPolicy()
    config.network = policy
    assert config.network is policy

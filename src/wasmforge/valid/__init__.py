"""Validation of modules (spec chapter 3): :func:`validate` and the block analysis the tiers use."""

from .validate import FuncInfo, ModuleInfo, analyze_func, validate

__all__ = ["validate", "analyze_func", "ModuleInfo", "FuncInfo"]

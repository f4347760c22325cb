"""Numba helpers shared by the index kernels: a typed ``njit`` and a one-instruction popcount."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_F = TypeVar("_F", bound=Callable[..., Any])


def jit(fn: _F) -> _F:
    """``numba.njit(cache=True, nogil=True)`` with the function's own type for mypy."""
    return cast(_F, numba.njit(cache=True, nogil=True)(fn))


def _ctpop_impl(typingctx: Any, x: Any) -> Any:
    """Numba intrinsic: ``llvm.ctpop.i64`` (one POPCNT instruction) of a uint64."""
    sig = types.int64(types.uint64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, [args[0]])

    return sig, codegen


popcnt = cast(Callable[[Any], int], intrinsic(_ctpop_impl))

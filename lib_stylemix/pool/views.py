"""What the pool's helpers need of a pool, as a Protocol, so they do not import `pool.py` (which imports them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class PoolFiles(Protocol):
    """A pool's root files (`roots[key]` has `.lora`, `.derived`, `.name`), its architecture and display names."""

    @property
    def roots(self) -> Mapping[str, Any]: ...

    @property
    def arch(self) -> str | None: ...

    def root_names(self) -> dict[str, str]: ...

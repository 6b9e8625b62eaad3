"""Every seam in one place: the small protocols that let one core drive the webui, the CLI and the tests.

- `Progress`, `CancelToken`: how a long job reports and is stopped;
- `LoraRegistry`, `GpuHandoff`: where LoRA files live, and freeing the GPU around an external trainer;
- `Txt2ImgGenerator` with its `Txt2ImgRequest` value object (epoch grids, pool previews) and
  `RestyleGenerator` (txt2img + one canny ControlNet unit), both returning `GeneratedImage`s;
- `ControlNetBridge`: one ControlNet implementation (Mikubill's extension on A1111, Forge's built-in);
- `Host`: what a UI panel may ask of the application it runs in.

Plain implementations used by the CLI and tests live here too; the webui adapter (`lib_stylemix.webui`)
provides the webui-backed ones, and `lib_stylemix.ui.host` the standalone app's host.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from PIL import Image

    from lib_stylemix.settings import StyleMixSettings

F = TypeVar("F", bound=Callable[..., Any])


@runtime_checkable
class Progress(Protocol):
    """Receives progress of a long job; `total` is the number of steps, `text` a one-line status."""

    def begin(self, total: int, text: str = "") -> None: ...

    def step(self, done: int, text: str = "") -> None: ...

    def end(self, text: str = "") -> None: ...


@runtime_checkable
class CancelToken(Protocol):
    """Checked between units of work; a true value stops the job cleanly."""

    def cancelled(self) -> bool: ...


class NullProgress:
    """Progress sink that drops everything (the default when nobody is watching)."""

    def begin(self, total: int, text: str = "") -> None:
        pass

    def step(self, done: int, text: str = "") -> None:
        pass

    def end(self, text: str = "") -> None:
        pass


class CancelFlag:
    """Thread-safe cancel token that a UI button or a signal handler can set."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def cancelled(self) -> bool:
        return self._event.is_set()


class NeverCancel:
    """Cancel token for jobs that nobody can interrupt."""

    def cancelled(self) -> bool:
        return False


@runtime_checkable
class LoraRegistry(Protocol):
    """Where LoRA files live for the host application, and how to make it notice new ones.

    The webui's registry is its `--lora-dir` plus a refresh of the Lora extension's list; the CLI's is a
    plain folder whose refresh does nothing.
    """

    def folder(self) -> Path: ...

    def refresh(self) -> None: ...


@runtime_checkable
class GpuHandoff(Protocol):
    """Lets a host free its GPU before an external trainer starts and take it back afterwards."""

    def release(self) -> None: ...

    def restore(self) -> None: ...


class FolderRegistry:
    """LoRA registry for headless use: a folder, nothing to refresh."""

    def __init__(self, folder: str | Path) -> None:
        self._folder = Path(folder)

    def folder(self) -> Path:
        return self._folder

    def refresh(self) -> None:
        pass


class NoGpuHandoff:
    """Hand-off for hosts that hold no GPU (the CLI)."""

    def release(self) -> None:
        pass

    def restore(self) -> None:
        pass


# ----- image generation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Txt2ImgRequest:
    """One txt2img call. LoRAs are data — `(name or path, weight)` pairs — not tags in the prompt; a generator
    that works through prompt tags (the webui) renders them with `epochs.tags.with_loras`."""

    prompt: str
    negative: str = ""
    seed: int = -1
    sampler: str = "DDIM"
    steps: int = 20
    cfg: float = 7.0
    width: int = 512
    height: int = 512
    batch: int = 1
    loras: tuple[tuple[str, float], ...] = ()


@dataclass
class GeneratedImage:
    """One output image; `infotext` is the generator's own generation-parameters text when it has one."""

    image: Image.Image
    infotext: str = ""


@runtime_checkable
class Txt2ImgGenerator(Protocol):
    """Renders one request (one prompt, one seed, `batch` images). The webui implements it with
    `process_images`; tests use fakes. Raises `StyleMixError` when the host cannot generate."""

    def generate(self, request: Txt2ImgRequest) -> list[GeneratedImage]: ...


@runtime_checkable
class RestyleGenerator(Protocol):
    """Renders one restyle job (a `restyle.plan.RestyleJob`: its `request()` plus an image for a canny
    ControlNet unit); returns `job.batch_size` images (fewer is allowed, none is an error).

    A problem with this job (missing model, bad image) should be raised as `StyleMixError`: `execute` records
    it and carries on with the next job. Raise `CancelledError` to stop the whole run.
    """

    def generate(self, job: Any) -> list[GeneratedImage]: ...


@runtime_checkable
class ControlNetBridge(Protocol):
    """One ControlNet implementation: lists its models and builds and places canny units in a generation.

    `lib_stylemix.webui.controlnet_a1111` (Mikubill's sd-webui-controlnet) and `controlnet_forge` (Forge's
    built-in) implement it; `lib_stylemix.webui.controlnet.controlnet_bridge()` picks the loaded one.
    """

    backend: str

    def models(self) -> list[str]: ...

    def canny_unit(self, image: Any, canny: Any, model: str) -> Any: ...

    def disabled_unit(self) -> Any: ...

    def splice(self, runner: Any, script_args: Sequence[Any], units: Sequence[Any]) -> Sequence[Any]: ...


# ----- the UI host --------------------------------------------------------------------------------------------


@runtime_checkable
class Host(Protocol):
    """What a panel may ask of the application it runs in (the webui, or the standalone app)."""

    label: str
    """Shown in the tab header: "standalone", "A1111 1.10.1", "Forge 2.0.1v1.10.1"."""

    def settings(self) -> StyleMixSettings:
        """Current StyleMix settings, read with defaults (they may change between calls)."""
        ...

    def lora_registry(self) -> LoraRegistry:
        """The LoRA folder new files are saved into, and how to make the host list them."""
        ...

    def can_generate(self) -> str | None:
        """None when image generation works, else the reason to show instead of the generate buttons."""
        ...

    def restyle_generator(self) -> RestyleGenerator:
        """Generator for restyle jobs (txt2img + one canny ControlNet unit); raises `StyleMixError` if unavailable."""
        ...

    def txt2img_generator(self) -> Txt2ImgGenerator:
        """Plain txt2img generator for epoch grids and pool previews; raises `StyleMixError` if unavailable."""
        ...

    def progress(self) -> Progress:
        """Progress sink for a long job the host should also show (the webui's progress bar)."""
        ...

    def cancel_token(self) -> CancelToken:
        """Cancel token tied to the host's own Interrupt (checked between units of work)."""
        ...

    def gpu_handoff(self) -> GpuHandoff:
        """Frees and restores the host's GPU around an external trainer."""
        ...

    def wrap_gpu(self, fn: F) -> F:
        """Wrap a gradio handler that generates, so it runs under the host's GPU queue."""
        ...

    def current_checkpoint(self) -> Path | None:
        """The checkpoint file the host has loaded, if any."""
        ...

    def checkpoint_arch(self) -> str | None:
        """The loaded checkpoint's architecture: "sd1", "sd2" or "sdxl"; None if unknown or none is loaded."""
        ...

"""`python -m lib_stylemix ui`: the Pool and Dataset panels as a local gradio app, no webui needed."""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path

from lib_stylemix.console import say
from lib_stylemix.errors import StyleMixError

DEFAULT_PORT = 7870


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ui",
        help="serve the StyleMix Pool and Dataset panels in the browser (local only)",
        description=(
            "Serve the StyleMix Pool and Dataset panels as a plain gradio app on this machine only. "
            "Panels that generate images (Restyle, Train, Epochs, pool previews) need the webui."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="loopback address to listen on (127.0.0.1, ::1 or localhost; default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT})")
    parser.add_argument("--lora-dir", type=Path, default=Path("models/Lora"),
                        help="folder merged and kept LoRAs are saved into (default models/Lora)")
    parser.set_defaults(func=run)


def loopback_host(host: str) -> str:
    """The listen address if it is a loopback one; the app has no login, so it must not face the network."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise StyleMixError(f"--host {host!r}: not an IP address (use 127.0.0.1 or ::1)") from None
    if not address.is_loopback:
        raise StyleMixError(f"--host {host}: refusing to serve on a non-loopback address (the app has no login)")
    return host


def run(args: argparse.Namespace) -> int:
    host = loopback_host(args.host)
    if not 0 < args.port < 65536:
        raise StyleMixError(f"--port {args.port}: not a valid port number")
    lora_dir = args.lora_dir.expanduser()
    if lora_dir.exists() and not lora_dir.is_dir():
        raise StyleMixError(f"--lora-dir {lora_dir}: exists and is not a folder")
    # Set before gradio is imported: no usage reporting or version checks leave this machine.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from lib_stylemix.ui.app import build_standalone_app, launch_app

    app = build_standalone_app(lora_dir=lora_dir)
    shown = f"[{host}]" if ":" in host else host
    say(f"StyleMix UI on http://{shown}:{args.port}/ (LoRA folder: {lora_dir.resolve()}); Ctrl+C stops it")
    try:
        launch_app(app, server_name=host, server_port=args.port, share=False, inbrowser=False, show_api=False,
                   quiet=True)
    except OSError as exc:  # gradio reports a port in use as OSError("Cannot find empty port …")
        raise StyleMixError(f"--port {args.port}: cannot listen on {host} ({exc})") from None
    return 0

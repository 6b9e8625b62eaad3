def register(subparsers) -> None:
    """Placeholder until this area's commands land."""

"""The only package that talks to the webui (`modules`), ControlNet and X/Y/Z plot."""

"""Gradio panels shared by the webui tab and the standalone app."""

"""Shared pieces of the Streamlit app: cached resources, session state, widgets.

Pages import from here; the recognition logic itself lives in :mod:`htr`.
"""

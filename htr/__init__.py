"""htr — handwritten text recognition library behind the demo app.

A plain library: no Streamlit import anywhere in this package. The app's pages
and the command line (``python -m htr``) are thin views over it.
"""

__version__ = "0.1.0"

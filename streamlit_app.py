"""Entry point of the demo app: `streamlit run streamlit_app.py`.

It only declares the pages and the sidebar; each page is a file in app_pages/.
The folder is not named pages/: Streamlit still treats a pages/ folder beside
the entry script as an old-style multipage app on a process's first run
(and in AppTest on every run), which runs a page without this script.
"""

import streamlit as st

from app.pages import HOME, PAGES
from app.state import sidebar_controls

st.set_page_config(page_title="Handwriting recognition", page_icon=":material/edit_note:", layout="wide")

page = st.navigation([st.Page(p.path, title=p.title, icon=p.icon, default=p is HOME) for p in PAGES])
sidebar_controls()
page.run()

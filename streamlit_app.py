"""Entry point of the demo app: `streamlit run streamlit_app.py`.

It only declares the pages and the sidebar; each page is a file in app_pages/.
The folder is not named pages/: Streamlit still treats a pages/ folder beside
the entry script as an old-style multipage app on a process's first run
(and in AppTest on every run), which runs a page without this script.
"""

import streamlit as st

from app.state import sidebar_controls

st.set_page_config(page_title="Handwriting recognition", page_icon=":material/edit_note:", layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/recognize.py", title="Recognize", icon=":material/edit_note:"),
    st.Page("app_pages/compare.py", title="Compare engines", icon=":material/compare:"),
    st.Page("app_pages/iam_browser.py", title="IAM browser", icon=":material/menu_book:"),
    st.Page("app_pages/inside.py", title="Inside the model", icon=":material/biotech:"),
    st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
]

page = st.navigation(PAGES)
sidebar_controls()
page.run()

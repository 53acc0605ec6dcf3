"""Entry point of the demo app: `streamlit run streamlit_app.py`.

It only declares the pages and the sidebar; each page is a file in pages/.
"""

import streamlit as st

from app.state import sidebar_controls

st.set_page_config(page_title="Handwriting recognition", page_icon="✍️", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/recognize.py", title="Recognize", icon="✍️"),
    st.Page("pages/compare.py", title="Compare engines", icon="⚖️"),
    st.Page("pages/iam_browser.py", title="IAM browser", icon="📚"),
    st.Page("pages/inside.py", title="Inside the model", icon="🔬"),
    st.Page("pages/evaluate.py", title="Evaluate", icon="📊"),
]

page = st.navigation(PAGES)
sidebar_controls()
page.run()

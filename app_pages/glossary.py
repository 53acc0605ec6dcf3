"""Glossary: every word the app uses that a student may not know, in plain sentences."""

import streamlit as st

from app import glossary

st.title("Glossary")
st.caption("The words the pages use, each in a sentence or two. The same text appears when you "
           "hover the ⓘ next to a word on the other pages.")

query = st.text_input("Find a word", key="gl_query", placeholder="e.g. blank").strip().lower()
shown = [t for t in sorted(glossary.TERMS, key=str.lower)
         if not query or query in t.lower() or query in glossary.TERMS[t].lower()]
if not shown:
    st.info("No entry mentions that word.")
for term in shown:
    st.markdown(f"**{term}** — {glossary.TERMS[term]}")

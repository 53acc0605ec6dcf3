"""The app's pages, declared once: the entry script navigates them, Home links them."""

from __future__ import annotations

from typing import NamedTuple


class PageInfo(NamedTuple):
    path: str
    title: str
    icon: str
    what: str  # one line for Home's list of pages


HOME = PageInfo("app_pages/home.py", "Home", ":material/home:", "What this app shows.")
PAGES = (
    HOME,
    PageInfo("app_pages/recognize.py", "Recognize", ":material/edit_note:",
             "Upload, draw or photograph handwriting and read it; see how sure the model is of each letter."),
    PageInfo("app_pages/compare.py", "Compare engines", ":material/compare:",
             "The same image through all three readers: text, time, and errors against the true text."),
    PageInfo("app_pages/stress.py", "Stress test", ":material/tune:",
             "Make a line harder step by step — slant, blur, noise, faded ink — and see where each "
             "reader breaks."),
    PageInfo("app_pages/iam_browser.py", "IAM browser", ":material/menu_book:",
             "Browse the IAM database of handwritten English (where it is installed)."),
    PageInfo("app_pages/inside.py", "Inside the model", ":material/biotech:",
             "What the network sees: probabilities per column, where each letter sits, which features fire."),
    PageInfo("app_pages/evaluate.py", "Evaluate", ":material/analytics:",
             "Error rates of every reader over many lines, and the hardest lines."),
    PageInfo("app_pages/adapt.py", "Your handwriting", ":material/draw:",
             "Write a few sentences and watch the model learn your handwriting in a minute: the error "
             "on lines it did not train on, before and after."),
    PageInfo("app_pages/training.py", "How it learned", ":material/school:",
             "The synthetic handwriting Easter2 trained on: make a line yourself, set it beside real hands "
             "(French volunteers, First World War wills, pen strokes), see the curves, read the model card."),
    PageInfo("app_pages/glossary.py", "Glossary", ":material/dictionary:",
             "Every word the pages use — blank, beam search, int8, gate… — in a sentence or two."),
)

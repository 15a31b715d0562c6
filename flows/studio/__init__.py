"""WorldWarp Studio: a Gradio page to direct a longshot chunk by chunk (``worldwarp studio``).

session.py holds the logic (no web framework); app.py the page, and only it imports gradio.
"""

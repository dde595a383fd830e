"""Tools for the course's developers and instructors, not lessons and not widgets:
`python -m tools.bench` (widget update times), `python -m tools.site` (static pages),
`python -m tools.student` (the student edition, generated from notebooks/solutions/).
"""

# The lessons, in notebooks/ (student edition) and notebooks/solutions/ (instructor edition):
# numbered, e.g. 01_patchify_vit.ipynb. notebooks/gallery.ipynb, the demo gallery (`make
# demo`), is no lesson: it has no edition, no exercises and no static pages; tests/test_gallery.py.
LESSONS = "[0-9][0-9]_*.ipynb"

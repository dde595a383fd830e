"""Tools for the course's developers and instructors, not lessons and not widgets:
`python -m tools.bench` (widget update times), `python -m tools.site` (static pages),
`python -m tools.student` (the student edition, generated from notebooks/solutions/).
"""

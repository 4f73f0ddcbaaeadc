"""What environments cost (issue 21): stored estimates, computed on a schedule with the sweeps.

Its own Django app (label `costs`), so its model and migrations stay apart from `portal`'s.
"""

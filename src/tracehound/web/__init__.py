"""The web session hunt: sessions, request states, a distinct-client Markov model, risk and blocklists.

See ``docs/web.md``. Entry points: :func:`tracehound.readers.weblogs.read_weblogs` and
:class:`tracehound.web.scoring.WebSessionDetector`.
"""

"""``bench serve``: a local web app over the same Python API as the CLI.

* :mod:`.app`   -- the FastAPI application: pages, the HTTP API, token check, JSON errors
* :mod:`.jobs`  -- enhancement jobs of uploaded files in a bounded worker pool
* :mod:`.live`  -- the webcam WebSocket: newest frame only, dropped frames counted
* :mod:`.study` -- subjective studies (DSIS, pairwise) in SQLite, and their statistics

See docs/serve.md.
"""

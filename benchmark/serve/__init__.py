"""``bench serve``: a local web app over the same Python API as the CLI.

* :mod:`.app`      -- the FastAPI application put together: routers, mounts, the gate; ``bench serve``'s server
* :mod:`.state`    -- the server's settings (ServeConfig) and the state the routes share (AppState)
* :mod:`.gate`     -- ASGI middleware: Host and Origin checks, the token, the upload size cap
* :mod:`.handlers` -- the exception handlers: every error is JSON, never a traceback
* :mod:`.routes_pages`, :mod:`.routes_enhance`, :mod:`.routes_live`, :mod:`.routes_study`
  -- the routes, one router each: HTML pages and leaderboards, uploads and jobs, the webcam WebSocket, the study API
* :mod:`.jobs`     -- enhancement jobs of uploaded files in a bounded worker pool
* :mod:`.live`     -- the webcam WebSocket: newest frame only, dropped frames counted
* :mod:`.study`    -- subjective studies (DSIS, pairwise): creating them and rating
* :mod:`.study_db` -- the studies' SQLite database: schema, connection, lookups
* :mod:`.study_stats` -- the studies' statistics: MOS/DMOS, rater screening, Bradley-Terry, result rows
* :mod:`.commands` -- the ``bench serve`` and ``bench study create|results`` commands

See docs/serve.md.
"""

"""Pages that Panel's own tools serve (``panel serve``, jupyter-panel-proxy, JupyterLab's
Panel preview), apart from the room's page server: the evaluation and the room's
operations, each behind the room's staff sign-in (:mod:`kiosk.apps.access`)."""

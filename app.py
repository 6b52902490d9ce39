"""Entry point. `gunicorn app:app` and `flask --app app` resolve to the `app` package,
whose module-level `app` attribute is built on first access (app/__init__.py); running
this file directly starts Flask's development server."""
from app import create_app

app = create_app()

if __name__ == "__main__":
    s = app.extensions["syncdub_settings"]
    app.run(host=s.app_host, port=s.app_port)

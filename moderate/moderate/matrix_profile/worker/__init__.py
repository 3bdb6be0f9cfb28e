"""Matrix-profile analysis worker: CSV in, self-contained HTML report out.

``python -m moderate.matrix_profile.worker`` (see ``cli.py``) imports no Dagster
code. Its only credentials are the presigned URLs, in environment variables.
"""

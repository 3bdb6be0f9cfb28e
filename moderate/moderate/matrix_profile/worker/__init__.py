"""Matrix-profile analysis worker: CSV in, self-contained HTML report out.

It imports no Dagster code; its only credentials are the presigned URLs.
"""

"""Matrix-profile analysis worker: CSV in, self-contained HTML report out.

Run as ``python -m moderate.matrix_profile.worker`` (see ``cli.py``). The
package imports no Dagster code; every input arrives on the command line except
the presigned URLs, which come in two environment variables (never argv) and are
the only credentials it ever sees, and the deployment's approximate-mode
settings (see ``cli.py``).
"""

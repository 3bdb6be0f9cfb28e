"""Matrix-profile analysis worker: CSV in, self-contained HTML report out.

Run as ``python -m moderate.matrix_profile.worker`` (see ``cli.py``). The
package imports no Dagster code and reads no environment variables except the
deployment's approximate-mode settings (see ``cli.py``): every input arrives on
the command line, and the only credentials it ever sees are the presigned URLs
it is given.
"""

"""The upload body: requests_toolbelt's streaming encoder, made rewindable.

A module of its own so that requests_toolbelt is imported when an upload runs,
not when the definitions load.
"""

import io
import os

from requests_toolbelt import MultipartEncoder


class RewindableMultipartEncoder(MultipartEncoder):
    """requests_toolbelt's streaming encoder, rewindable for the client's retry.

    The body is read from the file as it is sent and carries its length, so
    the request has a ``Content-Length`` (and the client knows the upload's
    size through ``len()``); ``seek(0)`` starts it over (after a
    token refresh the client sends the same bytes again).
    """

    def __len__(self) -> int:
        return int(self.len)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Rewinds to the start (the only position supported)."""
        if offset != 0 or whence != os.SEEK_SET:
            raise io.UnsupportedOperation("the body can only be rewound")
        for value in self.fields.values():
            if isinstance(value, tuple):
                value[1].seek(0)
        MultipartEncoder.__init__(self, self.fields, self.boundary_value, self.encoding)
        return 0

"""S3-compatible object storage (GCS interoperability API in production)."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr

from moderate.resources.settings import EnvBackedResource

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_ENDPOINT_URL = "https://storage.googleapis.com"
DEFAULT_REGION = "us-east-1"
DEFAULT_JOB_OUTPUTS_BUCKET = "moderate-output-bucket"


class S3Resource(EnvBackedResource):
    """S3-compatible storage of the data lake and job outputs (secret key: env only).

    Checksums only when required: GCS rejects those boto3 sends by default (1.36+).
    """

    SERVICE_NAME = "S3 storage"
    ENV_VARS = {
        "access_key_id": "S3_ACCESS_KEY_ID",
        "secret_access_key": "S3_SECRET_ACCESS_KEY",
        "region": "S3_REGION",
        "endpoint_url": "S3_ENDPOINT_URL",
        "bucket_name": "S3_BUCKET_NAME",
        "job_outputs_bucket_name": "S3_JOB_OUTPUTS_BUCKET_NAME",
    }
    REQUIRED_FIELDS = ("access_key_id", "secret_access_key")
    SECRETS = ("secret_access_key",)
    DEFAULTS = {
        "region": DEFAULT_REGION,
        "endpoint_url": DEFAULT_ENDPOINT_URL,
        "job_outputs_bucket_name": DEFAULT_JOB_OUTPUTS_BUCKET,
    }

    access_key_id: str | None = Field(
        default=None, description="Access key (default: $S3_ACCESS_KEY_ID)."
    )
    region: str | None = Field(
        default=None, description="Region (default: $S3_REGION)."
    )
    endpoint_url: str | None = Field(
        default=None,
        description="Endpoint (default: $S3_ENDPOINT_URL or Google Cloud Storage).",
    )
    bucket_name: str | None = Field(
        default=None, description="Data-lake bucket (default: $S3_BUCKET_NAME)."
    )
    job_outputs_bucket_name: str | None = Field(
        default=None,
        description="Reports and logs bucket (default: $S3_JOB_OUTPUTS_BUCKET_NAME "
        "or 'moderate-output-bucket').",
    )
    connect_timeout_s: float = Field(default=10.0, description="Connect timeout.")
    read_timeout_s: float = Field(default=120.0, description="Read timeout.")
    max_attempts: int = Field(default=5, description="Attempts per call (standard).")

    _client: S3Client | None = PrivateAttr(default=None)

    @property
    def data_lake_bucket(self) -> str:
        """The data-lake bucket; raises naming ``S3_BUCKET_NAME`` if unset."""
        return self.required_setting("bucket_name")

    @property
    def job_outputs_bucket(self) -> str:
        """The bucket of reports and logs."""
        return self.required_setting("job_outputs_bucket_name")

    def client(self) -> S3Client:
        """The boto3 S3 client of this resource (raises if settings are missing)."""
        import boto3
        from botocore.config import Config

        if self._client is None:
            self._client = boto3.client(
                "s3",
                aws_access_key_id=self.required_setting("access_key_id"),
                aws_secret_access_key=self.required_setting("secret_access_key"),
                region_name=self.setting("region"),
                endpoint_url=self.setting("endpoint_url"),
                config=Config(
                    signature_version="s3v4",
                    s3={"addressing_style": "path"},
                    connect_timeout=self.connect_timeout_s,
                    read_timeout=self.read_timeout_s,
                    retries={"max_attempts": self.max_attempts, "mode": "standard"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
        return self._client

    def presigned_get_url(self, bucket: str, key: str, expires_in_s: int) -> str:
        """A presigned GET URL for one object."""
        return self.client().generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket, "Key": key},
            ExpiresIn=expires_in_s,
        )

    def presigned_put_url(
        self, bucket: str, key: str, expires_in_s: int, content_type: str
    ) -> str:
        """A presigned PUT URL for exactly one key and content type."""
        return self.client().generate_presigned_url(
            "put_object",
            Params={"Bucket": bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires_in_s,
        )

    def object_exists(self, bucket: str, key: str) -> bool:
        """Whether ``bucket/key`` exists (HEAD request)."""
        client = self.client()
        try:
            client.head_object(Bucket=bucket, Key=key)
        except client.exceptions.ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == HTTPStatus.NOT_FOUND:
                return False
            raise
        return True

    def teardown_after_execution(self, context: Any) -> None:
        """Closes the client's connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _probe(self) -> str:
        response = self.client().list_buckets()
        return f"{len(response.get('Buckets', []))} buckets visible"

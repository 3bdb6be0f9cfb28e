import requests

from moderate.resources import S3Resource


def test_put_get_and_exists(s3: S3Resource):
    client = s3.client()
    bucket = s3.data_lake_bucket
    for key in (
        "alice-assets/a.csv",
        "alice-assets/b.csv",
        "bob-assets/c.csv",
        "top.txt",
    ):
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    body = client.get_object(Bucket=bucket, Key="bob-assets/c.csv")["Body"].read()
    assert body == b"bob-assets/c.csv"
    assert s3.object_exists(bucket, "top.txt")
    assert not s3.object_exists(bucket, "missing.txt")


def test_presigned_put_then_get_without_credentials(s3: S3Resource):
    bucket, key = s3.job_outputs_bucket, "matrixprofile-test.html"
    put_url = s3.presigned_put_url(bucket, key, 300, "text/html")
    html = b"<html><body>report</body></html>"
    response = requests.put(
        put_url, data=html, headers={"Content-Type": "text/html"}, timeout=10
    )
    assert response.status_code == 200
    get_url = s3.presigned_get_url(bucket, key, 300)
    assert requests.get(get_url, timeout=10).content == html


def test_wrong_secret_is_rejected(s3_endpoint, monkeypatch):
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", "not-the-secret")
    resource = S3Resource(
        access_key_id=s3_endpoint.access_key_id, endpoint_url=s3_endpoint.url
    )
    report = resource.health_check()
    assert report.reachable is False
    assert "not-the-secret" not in report.detail


def test_health_check_counts_buckets(s3: S3Resource):
    report = s3.health_check()
    assert report.healthy
    assert "buckets visible" in report.detail
